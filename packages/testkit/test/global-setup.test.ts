import { afterEach, describe, expect, it } from 'vitest'
import type { TestProject } from 'vitest/node'
import setup from '../src/global-setup.js'
import { ENV_CLUSTER, ENV_FLAVOR, ENV_STANDALONE, getTestServers } from '../src/index.js'

const names = [ENV_STANDALONE, ENV_CLUSTER, ENV_FLAVOR, 'KEYSHARD_TEST_NO_SERVERS'] as const
const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]))

afterEach(() => {
  for (const n of names) {
    if (saved[n] === undefined) delete process.env[n]
    else process.env[n] = saved[n]
  }
})

describe('global setup and getTestServers', () => {
  it('starts nothing and provides null when KEYSHARD_TEST_NO_SERVERS=1', async () => {
    process.env.KEYSHARD_TEST_NO_SERVERS = '1'
    delete process.env[ENV_STANDALONE]
    const provided: Array<[string, unknown]> = []
    const project = { provide: (key: string, value: unknown) => provided.push([key, value]) }
    const teardown = await setup(project as unknown as TestProject)
    expect(teardown).toBeUndefined()
    expect(provided).toEqual([['keyshardServers', null]])
    expect(process.env[ENV_STANDALONE]).toBeUndefined()
  })

  it('explains itself when called outside a test run', () => {
    delete process.env[ENV_STANDALONE]
    delete process.env[ENV_CLUSTER]
    expect(() => getTestServers()).toThrow(/KEYSHARD_TEST_STANDALONE.*not set.*global-setup/s)
  })

  it('rejects a malformed address', () => {
    process.env[ENV_STANDALONE] = 'localhost'
    process.env[ENV_CLUSTER] = '127.0.0.1:7000'
    expect(() => getTestServers()).toThrow(/KEYSHARD_TEST_STANDALONE holds "localhost"/)
  })
})
