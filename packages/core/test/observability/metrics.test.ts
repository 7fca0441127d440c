import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache.js'
import { LatencyReservoir, percentile } from '../../src/observability/stats.js'
import { MemoryStore } from '../../src/store/memory-store.js'

/** Pull-only reader: the test collects when it wants to look. */
class TestReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

async function points(
  reader: TestReader,
): Promise<Map<string, Array<{ attributes: Record<string, unknown>; value: unknown }>>> {
  const { resourceMetrics } = await reader.collect()
  const out = new Map<string, Array<{ attributes: Record<string, unknown>; value: unknown }>>()
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      out.set(
        metric.descriptor.name,
        metric.dataPoints.map((p) => ({
          attributes: p.attributes as Record<string, unknown>,
          value: p.value,
        })),
      )
    }
  }
  return out
}

const open: Cache[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()))
})

describe('observability', () => {
  it('exports hit/miss/loader counters with namespace and tier, and a latency histogram', async () => {
    const reader = new TestReader()
    const meterProvider = new MeterProvider({ readers: [reader] })
    const cache = await createCache({
      fromEnv: false,
      store: new MemoryStore(),
      l1: {},
      metrics: { meterProvider },
    })
    open.push(cache)
    const ns = cache.namespace<string>('m')
    expect(await ns.get('absent')).toBeUndefined()
    expect(await ns.getOrSet('k', () => 'v')).toBe('v')
    expect(await ns.getOrSet('k', () => 'never')).toBe('v') // L1 hit
    await ns.delete('k')
    expect(await ns.get('k')).toBeUndefined()
    await ns.set('k2', 'v2')
    expect(await ns.get('k2')).toBe('v2') // L2 hit, fills L1

    const seen = await points(reader)
    const hits = seen.get('keyshard.cache.hits') ?? []
    expect(hits).toContainEqual({ attributes: { namespace: 'm', tier: 'l1' }, value: 1 })
    expect(hits).toContainEqual({ attributes: { namespace: 'm', tier: 'l2' }, value: 1 })
    // get('absent'), getOrSet's miss, get('k') after delete
    expect(seen.get('keyshard.cache.misses')).toEqual([{ attributes: { namespace: 'm' }, value: 3 }])
    expect(seen.get('keyshard.cache.loader.calls')).toEqual([{ attributes: { namespace: 'm' }, value: 1 }])
    const durations = seen.get('keyshard.cache.operation.duration') ?? []
    const ops = durations.map((d) => d.attributes.operation)
    expect(ops).toContain('get')
    expect(ops).toContain('getOrSet')

    const stats = cache.stats()
    expect(stats).toMatchObject({ hits: 2, misses: 3, l1Hits: 1, loaderCalls: 1, staleServed: 0, errors: 0 })
    expect(stats.hitRate).toBeCloseTo(2 / 5)
    expect(stats.latency.get?.count).toBe(3)
    expect(stats.latency.getOrSet?.count).toBe(2)
    await meterProvider.shutdown()
  })

  it('counts every caller that joins a load under way as a miss', async () => {
    const cache = await createCache({ fromEnv: false, store: new MemoryStore() })
    open.push(cache)
    const ns = cache.namespace<string>('j')
    const misses: string[] = []
    cache.on('miss', ({ key }) => misses.push(key))
    let release = (): void => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let calls = 0
    const loader = async (): Promise<string> => {
      calls++
      await gate
      return 'v'
    }
    const first = ns.getOrSet('k', loader)
    // One caller joins before its own read (the load is already flying), one after reading alongside the first.
    const beforeRead = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 5))
      return ns.getOrSet('k', loader)
    })()
    const alongside = ns.getOrSet('k', loader)
    await new Promise((resolve) => setTimeout(resolve, 20))
    release()
    expect(await Promise.all([first, alongside, beforeRead])).toEqual(['v', 'v', 'v'])
    expect(calls).toBe(1)
    expect(misses).toEqual(['k', 'k', 'k'])
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 3, loaderCalls: 1 })
  })

  it('counts stale serves and errors in stats()', async () => {
    const cache = await createCache({ fromEnv: false, store: new MemoryStore() })
    open.push(cache)
    const ns = cache.namespace<string>('s')
    await ns.getOrSet('k', () => 'old', { ttl: 10, grace: '1m' })
    await new Promise((r) => setTimeout(r, 20))
    expect(
      await ns.getOrSet(
        'k',
        () => {
          throw new Error('x')
        },
        { ttl: 10, grace: '1m' },
      ),
    ).toBe('old')
    expect(cache.stats().staleServed).toBe(1)
  })

  it('computes nearest-rank percentiles over the most recent samples', () => {
    expect(percentile([], 0.5)).toBe(0)
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2)
    expect(percentile([1, 2, 3, 4], 0.99)).toBe(4)
    const r = new LatencyReservoir(4)
    for (const ms of [100, 100, 100, 100, 1, 2, 3, 4]) r.record(ms)
    expect(r.summary()).toEqual({ count: 8, p50: 2, p99: 4, max: 100 })
  })
})
