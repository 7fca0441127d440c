import { getTestServers } from '@keyshard/testkit'
import { afterAll, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache.js'
import { toKeyshardError } from '../../src/store/wire-errors.js'

describe('toKeyshardError', () => {
  it('calls link failures ERR_CONNECT and everything else ERR_COMMAND', () => {
    const reply = Object.assign(new Error('WRONGTYPE Operation against a key'), { name: 'ReplyError' })
    const clusterDown = Object.assign(new Error('CLUSTERDOWN The cluster is down'), { name: 'ReplyError' })
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
    const retries = Object.assign(new Error('Reached the max retries per request limit'), {
      name: 'MaxRetriesPerRequestError',
    })
    expect(toKeyshardError(reply, 'GET').code).toBe('ERR_COMMAND')
    expect(toKeyshardError(clusterDown, 'GET').code).toBe('ERR_CONNECT')
    expect(toKeyshardError(refused, 'GET').code).toBe('ERR_CONNECT')
    expect(toKeyshardError(retries, 'GET').code).toBe('ERR_CONNECT')
    expect(toKeyshardError(new Error('Connection is closed.'), 'GET').code).toBe('ERR_CONNECT')
    const bug = toKeyshardError(new RangeError('Maximum call stack size exceeded'), 'MGET')
    expect(bug.code).toBe('ERR_COMMAND')
    expect(bug.message).toContain('Maximum call stack size exceeded')
  })
})

const caches: Cache[] = []
afterAll(async () => {
  await Promise.all(caches.map((c) => c.close()))
})

it('getMany takes 300,000 keys in one call on a standalone server', async () => {
  const cache = await createCache({
    fromEnv: false,
    mode: 'single',
    addresses: [getTestServers().standalone.address],
    prefix: `large-${process.pid}:`,
  })
  caches.push(cache)
  const ns = cache.namespace<number>('large')
  await ns.set('k:7', 7)
  const keys = Array.from({ length: 300_000 }, (_, i) => `k:${i}`)
  const values = await ns.getMany(keys)
  expect(values).toHaveLength(keys.length)
  expect(values[7]).toBe(7)
  expect(values.filter((v) => v !== undefined)).toHaveLength(1)
})
