import { startCluster, startServer, type TestCluster, type TestServer } from '@keyshard/testkit'
import calculateSlot from 'cluster-key-slot'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache.js'
import type { KeyshardError } from '../../src/errors.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function until(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(50)
  }
}

// No path of a fail-open read may leave a rejection nobody handles, on either topology.
const rejections: unknown[] = []
const onRejection = (reason: unknown) => rejections.push(reason)
beforeAll(() => {
  process.on('unhandledRejection', onRejection)
})
afterAll(async () => {
  // Let any late rejection surface before checking.
  await sleep(50)
  process.off('unhandledRejection', onRejection)
  expect(rejections).toEqual([])
})

describe('getOrSet fails open when the server is down or slow', () => {
  let server: TestServer
  let cache: Cache
  const errors: KeyshardError[] = []

  beforeAll(async () => {
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

describe('getOrSet fails open when one master of a cluster is down or slow', () => {
  let cluster: TestCluster
  let cache: Cache
  const errors: KeyshardError[] = []

  beforeAll(async () => {
    // Its own cluster without replicas, so a dead master stays dead until restarted (no failover mid-test).
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 })
    cache = await createCache({
      fromEnv: false,
      mode: 'cluster',
      addresses: cluster.seeds,
      timeouts: { operation: 300 },
    })
    cache.on('error', (e) => errors.push(e.error))
  })
  afterAll(async () => {
    await cache?.close()
    await cluster?.stop()
  })

  /** A key of this namespace on each master, found by slot. */
  async function keysByMaster(): Promise<Map<string, string>> {
    const byMaster = new Map<string, string>()
    for (let i = 0; byMaster.size < 3; i++) {
      const key = `key-${i}`
      const master = await cluster.masterForSlot(calculateSlot(cache.namespace('fo').fullKey(key)))
      if (!byMaster.has(master.address)) byMaster.set(master.address, key)
    }
    return byMaster
  }

  it('answers from the loader for keys on a paused master, from the cache for the others, then recovers', async () => {
    const ns = cache.namespace<string>('fo')
    const byMaster = await keysByMaster()
    for (const key of byMaster.values()) await ns.set(key, `cached-${key}`)
    const [pausedAddress, pausedKey] = [...byMaster][0] as [string, string]
    const paused = cluster.nodes.find((n) => n.address === pausedAddress)
    if (!paused) throw new Error('no such node')
    errors.length = 0
    const resumed = cluster.pause(paused, 2000)
    try {
      const started = Date.now()
      expect(await ns.getOrSet(pausedKey, () => 'from-loader')).toBe('from-loader')
      expect(Date.now() - started).toBeLessThan(1500)
      expect(errors.some((e) => e.code === 'ERR_TIMEOUT')).toBe(true)
      for (const [address, key] of byMaster) {
        if (address === pausedAddress) continue
        expect(await ns.getOrSet(key, () => 'not-called')).toBe(`cached-${key}`)
      }
    } finally {
      await resumed
    }
    await until(async () => (await ns.get(pausedKey)) !== undefined)
    expect(await ns.getOrSet(pausedKey, () => 'not-called')).toMatch(/^(cached-|from-loader)/)
  })

  it('answers from the loader while a master is killed, never waiting past the timeout, then recovers', async () => {
    const ns = cache.namespace<string>('fo')
    const byMaster = await keysByMaster()
    const [deadAddress, deadKey] = [...byMaster][1] as [string, string]
    const dead = cluster.nodes.find((n) => n.address === deadAddress)
    if (!dead) throw new Error('no such node')
    await cluster.kill(dead)
    try {
      const started = Date.now()
      expect(await ns.getOrSet(deadKey, () => 'from-loader')).toBe('from-loader')
      expect(Date.now() - started).toBeLessThan(1500)
      const again = Date.now()
      const values = await Promise.all(
        Array.from({ length: 20 }, (_, i) => ns.getOrSet(`${deadKey}-${i}`, () => 'v')),
      )
      expect(values).toEqual(Array.from({ length: 20 }, () => 'v'))
      expect(Date.now() - again).toBeLessThan(1500)
    } finally {
      await cluster.restart(dead)
    }
    await cluster.waitForHealthy()
    await until(async () => {
      await ns.getOrSet('after-restart', () => 'stored')
      return (await ns.get('after-restart')) === 'stored'
    })
  })
})
