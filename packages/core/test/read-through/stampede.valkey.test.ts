import { describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache.js'
import { closedAfterAll, valkeyTopologies as topologies } from './valkey-topologies.js'

const open = closedAfterAll()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.each(topologies)('getOrSet stampede (%s)', (name, connection) => {
  const prefix = `rt-${name}-${process.pid}-${Date.now()}:`
  async function caches(n: number): Promise<Cache[]> {
    const made = await Promise.all(
      Array.from({ length: n }, () => createCache({ fromEnv: false, prefix, ...connection })),
    )
    open.push(...made)
    return made
  }

  it('50 concurrent calls across 5 separate connections call the loader exactly once', async () => {
    const five = await caches(5)
    let calls = 0
    const waits: number[] = []
    for (const c of five) c.on('lock:wait', (e) => waits.push(e.waitedMs))
    const loader = async () => {
      calls++
      await sleep(100)
      return { loadedAt: Date.now() }
    }
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (five[i % 5] as Cache).namespace<{ loadedAt: number }>('stampede').getOrSet('{user:1}:hot', loader),
      ),
    )
    expect(calls).toBe(1)
    expect(new Set(results.map((r) => r.loadedAt)).size).toBe(1)
    // Four other instances waited on the lock rather than loading.
    expect(waits.length).toBe(4)
  })

  it('waiters still get a value when the lock owner dies mid-load', async () => {
    const [owner, a, b] = await caches(3)
    let release: (() => void) | undefined
    const ownerLoad = (owner as Cache)
      .namespace('crash')
      .getOrSet('k', () => new Promise<string>((r) => (release = () => r('owner'))), { lock: { ttl: 300 } })
    while (release === undefined) await sleep(5)
    let waiterCalls = 0
    const loader = async () => {
      waiterCalls++
      return 'waiter'
    }
    const waiting = [a, b].map((c) =>
      (c as Cache).namespace('crash').getOrSet('k', loader, { lock: { ttl: 300, timeout: 10_000 } }),
    )
    await (owner as Cache).close()
    expect(await Promise.all(waiting)).toEqual(['waiter', 'waiter'])
    // One of the waiters took the expired lock over; the other read its value.
    expect(waiterCalls).toBe(1)
    release?.()
    await ownerLoad.catch(() => undefined)
  })
})
