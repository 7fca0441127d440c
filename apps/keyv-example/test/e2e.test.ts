import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createCache as createKeyshardCache, type Cache as KeyshardCache } from '@keyshard/core'
import { createKeyv } from '@keyshard/keyv'
import { getTestServers } from '@keyshard/testkit'
import { createCache } from 'cache-manager'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../src/app.js'
import { ProductDatabase } from '../src/catalogue.js'

async function exercise(base: string): Promise<void> {
  const first = await fetch(`${base}/products/1`)
  expect(first.status).toBe(200)
  expect(first.headers.get('x-cache')).toBe('MISS')
  expect(await first.json()).toMatchObject({ id: '1', name: 'Fountain pen', price: 42 })

  const second = await fetch(`${base}/products/1`)
  expect(second.headers.get('x-cache')).toBe('HIT')
  expect(await second.json()).toMatchObject({ id: '1', price: 42 })
  expect(await (await fetch(`${base}/stats`)).json()).toEqual({ databaseLoads: 1 })

  const update = await fetch(`${base}/products/1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ price: 40 }),
  })
  expect(await update.json()).toMatchObject({ id: '1', price: 40 })
  const afterUpdate = await fetch(`${base}/products/1`)
  expect(afterUpdate.headers.get('x-cache')).toBe('MISS')
  expect(await afterUpdate.json()).toMatchObject({ id: '1', price: 40 })
  expect(await (await fetch(`${base}/stats`)).json()).toEqual({ databaseLoads: 2 })

  expect((await fetch(`${base}/products/404`)).status).toBe(404)
  expect((await fetch(`${base}/products/404`)).headers.get('x-cache')).toBe('HIT')
  expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: 'ok' })
}

describe('keyv-example as a child process against the shared cluster', () => {
  let child: ChildProcess
  let base: string
  let inspector: KeyshardCache

  beforeAll(async () => {
    const { cluster } = getTestServers()
    inspector = await createKeyshardCache({ fromEnv: false, mode: 'cluster', addresses: cluster.seeds })
    await inspector.namespace('catalogue').clear()
    child = spawn(process.execPath, ['--conditions=@keyshard/source', '--import', 'tsx', 'src/main.ts'], {
      cwd: join(import.meta.dirname, '..'),
      env: {
        ...process.env,
        CACHE_MODE: 'cluster',
        CACHE_ADDRS: cluster.seeds.join(','),
        PORT: '0',
        HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    base = await new Promise<string>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        const match = /listening on (http:\/\/\S+)/.exec(output)
        if (match?.[1]) resolve(match[1])
      })
      child.once('exit', (code) => reject(new Error(`keyv-example exited with ${code}:\n${output}`)))
    })
  })
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
    await inspector?.close()
  })

  it('serves the second read from Valkey and reloads after an update', async () => {
    await exercise(base)
    // The entries live in the cluster under the app's Keyv namespace, nowhere else.
    const page = await inspector.namespace('catalogue').keys({ count: 1000 })
    const keys = [...page.keys]
    let cursor = page.cursor
    while (cursor !== undefined) {
      const next = await inspector.namespace('catalogue').keys({ count: 1000, cursor })
      keys.push(...next.keys)
      cursor = next.cursor
    }
    expect(keys).toEqual(expect.arrayContaining(['product:1', 'product:404']))
  })

  it('shuts down cleanly on SIGTERM', async () => {
    child.kill('SIGTERM')
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
  })
})

describe('keyv-example in process over the memory store', () => {
  let keyshard: KeyshardCache
  let server: ReturnType<ReturnType<typeof createApp>['listen']>
  let base: string

  beforeAll(async () => {
    keyshard = await createKeyshardCache({ fromEnv: false, mode: 'memory' })
    const cache = createCache({ stores: [await createKeyv(keyshard, { keyv: { namespace: 'catalogue' } })] })
    server = createApp(cache, { db: new ProductDatabase(20) }).listen(0, '127.0.0.1')
    await once(server, 'listening')
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server?.close()
    await keyshard?.close()
  })

  it('serves the second read from the cache and reloads after an update', async () => {
    await exercise(base)
  })
})
