import { startServer, type TestServer } from '@keyshard/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache.js'
import type { KeyshardError } from '../../src/errors.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(50)
  }
}

describe('getOrSet fails open when the server is down or slow', () => {
  let server: TestServer
  let cache: Cache
  const rejections: unknown[] = []
  const errors: KeyshardError[] = []
  const onRejection = (reason: unknown) => rejections.push(reason)

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection)
    server = await startServer()
    cache = await createCache({
      fromEnv: false,
      mode: 'single',
      addresses: [server.address],
      timeouts: { operation: 300 },
    })
    cache.on('error', (e) => errors.push(e.error))
  })
  afterAll(async () => {
    server.thaw()
    await cache.close()
    await server.stop()
    // Let any late rejection surface before checking.
    await sleep(50)
    process.off('unhandledRejection', onRejection)
    expect(rejections).toEqual([])
  })

  it('answers from the loader within the timeout while the server is paused (SIGSTOP), then recovers', async () => {
    const ns = cache.namespace<string>('paused')
    server.freeze()
    try {
      const started = Date.now()
      expect(await ns.getOrSet('k', () => 'from-loader')).toBe('from-loader')
      // One timed-out read (300 ms); the write goes to the background.
      expect(Date.now() - started).toBeLessThan(1500)
      expect(errors.length).toBeGreaterThan(0)
      expect(errors.some((e) => e.code === 'ERR_TIMEOUT')).toBe(true)
    } finally {
      server.thaw()
    }
    let calls = 0
    await until(async () => {
      await ns.getOrSet('k2', () => {
        calls++
        return 'stored'
      })
      return (await ns.get('k2')) === 'stored'
    })
    expect(await ns.getOrSet('k2', () => 'not-called')).toBe('stored')
    expect(calls).toBeGreaterThan(0)
  })

  it('answers from the loader within the timeout while the server is killed, then recovers after restart', async () => {
    const ns = cache.namespace<string>('killed')
    await server.kill()
    errors.length = 0
    const started = Date.now()
    expect(await ns.getOrSet('k', () => 'from-loader')).toBe('from-loader')
    expect(Date.now() - started).toBeLessThan(1500)
    expect(errors.length).toBeGreaterThan(0)
    // Repeated calls never hang on the dead server either.
    const again = Date.now()
    await Promise.all(Array.from({ length: 20 }, (_, i) => ns.getOrSet(`k${i}`, () => 'v')))
    expect(Date.now() - again).toBeLessThan(1500)
    await server.restart()
    await until(async () => {
      await ns.getOrSet('after', () => 'stored')
      return (await ns.get('after')) === 'stored'
    })
  })
})
