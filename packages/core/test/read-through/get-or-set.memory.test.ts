import { afterEach, describe, expect, it, vi } from 'vitest'
import { type Cache, createCache } from '../../src/cache.js'
import { isKeyshardError } from '../../src/errors.js'
import { MemoryStore } from '../../src/store/memory-store.js'
import type { CacheOptions } from '../../src/types.js'

const open: Cache[] = []
async function make(store: MemoryStore, extra: CacheOptions = {}): Promise<Cache> {
  const cache = await createCache({ fromEnv: false, store, ...extra })
  open.push(cache)
  return cache
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()))
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function until(check: () => boolean | Promise<boolean>, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(5)
  }
}

describe('getOrSet (memory store)', () => {
  it('50 concurrent calls across 5 caches sharing one store call the loader once', async () => {
    const store = new MemoryStore()
    const caches = await Promise.all([0, 1, 2, 3, 4].map(() => make(store)))
    let calls = 0
    const loader = async () => {
      calls++
      await sleep(50)
      return { n: 42 }
    }
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (caches[i % 5] as Cache).namespace('rt').getOrSet('hot', loader)),
    )
    expect(calls).toBe(1)
    for (const r of results) expect(r).toEqual({ n: 42 })
  })

  it('passes a context that can change TTL and tags or skip caching', async () => {
    const cache = await make(new MemoryStore())
    const ns = cache.namespace<string>('ctx')
    expect(
      await ns.getOrSet('a', (ctx) => {
        ctx.setTags(['t'])
        return 'A'
      }),
    ).toBe('A')
    await ns.invalidateTag('t')
    expect(await ns.get('a')).toBeUndefined()
    expect(
      await ns.getOrSet('b', (ctx) => {
        ctx.skip()
        return 'B'
      }),
    ).toBe('B')
    expect(await ns.get('b')).toBeUndefined()
    await ns.getOrSet('c', (ctx) => {
      ctx.setTtl(60_000)
      return 'C'
    })
    const ttl = await ns.ttl('c')
    expect(ttl).toBeGreaterThan(50_000)
    expect(ttl).toBeLessThanOrEqual(60_000)
  })

  it('rethrows the loader error unchanged and caches nothing', async () => {
    const cache = await make(new MemoryStore())
    const ns = cache.namespace('err')
    class AppError extends Error {}
    await expect(ns.getOrSet('k', () => Promise.reject(new AppError('boom')))).rejects.toBeInstanceOf(
      AppError,
    )
    expect(await ns.getOrSet('k', () => 'ok')).toBe('ok')
  })

  it('caches a null the loader returns, but not undefined', async () => {
    const cache = await make(new MemoryStore())
    const ns = cache.namespace<string | null | undefined>('nothing')
    expect(await ns.getOrSet('u', () => undefined)).toBeUndefined()
    expect(await ns.has('u')).toBe(false)
    expect(await ns.getOrSet('n', () => null)).toBeNull()
    expect(await ns.get('n')).toBeNull()
    expect(await ns.getOrSet('n', () => 'not called')).toBeNull()
  })

  it('hands a loader error to every caller sharing the load', async () => {
    const cache = await make(new MemoryStore())
    const ns = cache.namespace('shared-error')
    class AppError extends Error {}
    let calls = 0
    const loader = async () => {
      calls++
      await sleep(10)
      throw new AppError('boom')
    }
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => ns.getOrSet('k', loader)))
    expect(calls).toBe(1)
    for (const r of results) expect(r.status === 'rejected' && r.reason instanceof AppError).toBe(true)
  })

  it('does not serve a value inside grace once its tag was invalidated', async () => {
    const cache = await make(new MemoryStore())
    const ns = cache.namespace<string>('grace-tag')
    const opts = { ttl: 10, grace: '1m', tags: ['t'] }
    await ns.getOrSet('k', () => 'old', opts)
    await sleep(20)
    await ns.invalidateTag('t')
    await expect(ns.getOrSet('k', () => Promise.reject(new Error('source down')), opts)).rejects.toThrow(
      'source down',
    )
  })

  it('serves an untagged stale value without reading any tag epoch after the loader', async () => {
    const store = new MemoryStore()
    const cache = await make(store)
    const ns = cache.namespace<string>('grace-untagged')
    const opts = { ttl: 10, grace: '1m', timeout: 20 }
    await ns.getOrSet('err', () => 'old err', opts)
    await ns.getOrSet('slow', () => 'old slow', opts)
    await sleep(20)
    const readEpochs = vi.spyOn(store, 'readEpochs')
    expect(await ns.getOrSet('err', () => Promise.reject(new Error('source down')), opts)).toBe('old err')
    expect(await ns.getOrSet('slow', () => sleep(200).then(() => 'new slow'), opts)).toBe('old slow')
    expect(readEpochs).not.toHaveBeenCalled()
  })

  it('does not serve a tagged stale value when its tags cannot be checked after the loader, and reports why', async () => {
    const store = new MemoryStore()
    const cache = await make(store)
    const ns = cache.namespace<string>('grace-check-down')
    const errors: string[] = []
    cache.on('error', (e) => errors.push(e.operation))
    const opts = { ttl: 10, grace: '1m', tags: ['t'] }
    await ns.getOrSet('k', () => 'old', opts)
    await sleep(20)
    const loader = () => {
      // The store goes down after the stale entry was read and tag-checked, while the loader runs.
      vi.spyOn(store, 'readEpochs').mockRejectedValueOnce(new Error('store down'))
      throw new Error('source down')
    }
    await expect(ns.getOrSet('k', loader, opts)).rejects.toThrow('source down')
    expect(errors).toEqual(['getOrSet-stale-check'])
    vi.restoreAllMocks()
    // The entry itself was not invalidated: once the check works again, grace serves it.
    expect(await ns.getOrSet('k', () => Promise.reject(new Error('source down')), opts)).toBe('old')
  })

  it('serves the stale value inside grace when the loader fails, then refreshes', async () => {
    const cache = await make(new MemoryStore())
    const ns = cache.namespace<string>('grace')
    const staleEvents: string[] = []
    cache.on('stale', (e) => staleEvents.push(e.reason))
    await ns.getOrSet('k', () => 'v1', { ttl: 30, grace: '1m' })
    await sleep(40)
    expect(await ns.get('k')).toBeUndefined() // logically expired for plain reads
    let seenStale: string | undefined
    const value = await ns.getOrSet(
      'k',
      (ctx) => {
        seenStale = ctx.stale
        throw new Error('source down')
      },
      { ttl: 30, grace: '1m' },
    )
    expect(value).toBe('v1')
    expect(seenStale).toBe('v1')
    expect(staleEvents).toEqual(['loader-error'])
    expect(await ns.getOrSet('k', () => 'v2', { ttl: 10_000, grace: '1m' })).toBe('v2')
    expect(await ns.get('k')).toBe('v2')
  })

  it('serves the stale value when the loader exceeds the soft timeout and stores the late result', async () => {
    const cache = await make(new MemoryStore())
    const ns = cache.namespace<string>('soft')
    await ns.getOrSet('k', () => 'old', { ttl: 20, grace: '1m' })
    await sleep(30)
    const started = Date.now()
    const value = await ns.getOrSet(
      'k',
      async () => {
        await sleep(300)
        return 'new'
      },
      { ttl: 60_000, grace: '1m', timeout: 20 },
    )
    expect(value).toBe('old')
    expect(Date.now() - started).toBeLessThan(250)
    await until(async () => (await ns.get('k')) === 'new')
  })

  it('rejects with ERR_TIMEOUT past hardTimeout when nothing stale exists', async () => {
    const cache = await make(new MemoryStore())
    const ns = cache.namespace('hard')
    const err = await ns
      .getOrSet('k', () => sleep(300).then(() => 'late'), { hardTimeout: 20 })
      .catch((e: unknown) => e)
    expect(isKeyshardError(err, 'ERR_TIMEOUT')).toBe(true)
    await until(async () => (await ns.get('k')) === 'late')
  })

  it('a caller sharing a load under way in its process stops at its own hardTimeout; the load is still stored', async () => {
    const cache = await make(new MemoryStore())
    const ns = cache.namespace<string>('join')
    const staleEvents: string[] = []
    cache.on('stale', (e) => staleEvents.push(e.reason))
    await ns.getOrSet('stale', () => 'old', { ttl: 10, grace: '1m' })
    await sleep(20)
    for (const [key, expected] of [
      ['fresh', 'ERR_TIMEOUT'],
      ['stale', 'old'], // inside grace: the expired value, as the owner would answer at its own timeout
    ] as const) {
      let loading!: () => void
      const started = new Promise<void>((resolve) => {
        loading = resolve
      })
      let release!: () => void
      // Opens by itself only long after the joiner's hardTimeout, so a joiner that ignores it gets 'loaded'.
      const gate = new Promise<void>((resolve) => {
        release = resolve
        setTimeout(resolve, 3000)
      })
      const owner = ns.getOrSet(
        key,
        async () => {
          loading()
          await gate
          return 'loaded'
        },
        { ttl: 60_000, grace: '1m' },
      )
      await started
      const joined = await ns
        .getOrSet(key, () => 'never called', { grace: '1m', hardTimeout: 50 })
        .catch((e: unknown) => (isKeyshardError(e) ? e.code : e))
      expect(joined, key).toBe(expected)
      release()
      expect(await owner).toBe('loaded')
      expect(await ns.get(key)).toBe('loaded')
    }
    expect(staleEvents).toEqual(['loader-timeout'])
  })

  it('opens the circuit after failures, serves stale or ERR_LOADER, half-opens and closes', async () => {
    const cache = await make(new MemoryStore(), {
      readThrough: { circuitBreaker: { failureThreshold: 2, openMs: 100 } },
    })
    const ns = cache.namespace<string>('cb')
    await ns.getOrSet('s', () => 'stale-one', { ttl: 10, grace: '1m' })
    await sleep(20)
    let calls = 0
    const failing = () => {
      calls++
      throw new Error('down')
    }
    await expect(ns.getOrSet('x', failing)).rejects.toThrow('down')
    await expect(ns.getOrSet('y', failing)).rejects.toThrow('down')
    // Open: the loader is not called any more.
    const refused = await ns.getOrSet('z', failing).catch((e: unknown) => e)
    expect(isKeyshardError(refused, 'ERR_LOADER')).toBe(true)
    expect(await ns.getOrSet('s', failing, { ttl: 10, grace: '1m' })).toBe('stale-one')
    expect(calls).toBe(2)
    await sleep(120)
    // Half-open: one probe; its success closes the circuit.
    expect(await ns.getOrSet('z', () => 'recovered')).toBe('recovered')
    expect(await ns.getOrSet('w', () => 'closed')).toBe('closed')
  })

  it('rate-limits loader calls per namespace', async () => {
    const cache = await make(new MemoryStore(), { readThrough: { rateLimit: { perSecond: 1, burst: 2 } } })
    const ns = cache.namespace('rl')
    await ns.getOrSet('a', () => 1)
    await ns.getOrSet('b', () => 2)
    const err = await ns.getOrSet('c', () => 3).catch((e: unknown) => e)
    expect(isKeyshardError(err, 'ERR_LOADER')).toBe(true)
  })

  it('a waiter takes over when the lock owner dies (cache closed mid-load)', async () => {
    const store = new MemoryStore()
    const owner = await createCache({ fromEnv: false, store })
    const waiter = await make(store)
    let release!: () => void
    const ownerLoad = owner
      .namespace('crash')
      .getOrSet('k', () => new Promise<string>((r) => (release = () => r('from-owner'))), {
        lock: { ttl: 200 },
      })
    await until(() => release !== undefined)
    const waiting = waiter
      .namespace('crash')
      .getOrSet('k', () => 'from-waiter', { lock: { ttl: 200, timeout: 5000 } })
    await owner.close()
    expect(await waiting).toBe('from-waiter')
    release()
    await ownerLoad.catch(() => undefined)
  })

  it('does not load again when another instance stored the value between the miss and the lock', async () => {
    // The other instance loads, stores and releases its lock in exactly that gap: a store that runs it just
    // before this instance's lock attempt makes the interleaving deterministic.
    let beforeLock: (() => Promise<void>) | undefined
    class GapStore extends MemoryStore {
      override async set(...args: Parameters<MemoryStore['set']>): ReturnType<MemoryStore['set']> {
        const hook = args[3].onlyIfAbsent && args[0].includes('__l:') ? beforeLock : undefined
        beforeLock = undefined
        await hook?.()
        return super.set(...args)
      }
    }
    const store = new GapStore()
    const [mine, other] = await Promise.all([make(store), make(store)])
    beforeLock = () => other.namespace<string>('gap').set('k', 'stored-by-other')
    let calls = 0
    const value = await mine.namespace<string>('gap').getOrSet('k', () => {
      calls++
      return 'loaded-here'
    })
    expect(value).toBe('stored-by-other')
    expect(calls).toBe(0)
    // The lock taken before the re-check is released, so later misses elsewhere are not held up by it.
    await until(async () => (await store.scan('*__l:*', '0', 100, { timeoutMs: 100 })).keys.length === 0)
  })

  it('does not load again in a process when a caller’s miss was read before another caller’s load finished', async () => {
    // A hit is read outside the single flight, so a caller can read a miss, and start its own flight only after
    // the flight of a caller that missed with it has loaded and stored. That late flight must find the value.
    let hold: Promise<void> | undefined
    class SlowReadStore extends MemoryStore {
      override async get(...args: Parameters<MemoryStore['get']>): ReturnType<MemoryStore['get']> {
        const gate = hold
        hold = undefined
        const value = await super.get(...args)
        await gate
        return value
      }
    }
    const ns = (await make(new SlowReadStore())).namespace<string>('late')
    let calls = 0
    const loader = async () => {
      calls++
      return `load-${calls}`
    }
    let release!: () => void
    hold = new Promise<void>((resolve) => {
      release = resolve
    })
    const late = ns.getOrSet('k', loader)
    expect(await ns.getOrSet('k', loader)).toBe('load-1')
    release()
    expect(await late).toBe('load-1')
    expect(calls).toBe(1)
  })

  it('getManyOrSet loads only the misses, in one call', async () => {
    const cache = await make(new MemoryStore())
    const ns = cache.namespace<number>('many')
    await ns.set('a', 1)
    const seen: string[][] = []
    const values = await ns.getManyOrSet(['a', 'b', 'c', 'missing'], async (keys) => {
      seen.push(keys)
      return new Map(keys.filter((k) => k !== 'missing').map((k) => [k, k.charCodeAt(0)]))
    })
    expect(seen).toEqual([['b', 'c', 'missing']])
    expect(values).toEqual([1, 98, 99, undefined])
    expect(await ns.get('c')).toBe(99)
    const again = await ns.getManyOrSet(['b', 'c'], () => {
      throw new Error('should not be called')
    })
    expect(again).toEqual([98, 99])
  })

  it('getManyOrSet keeps a cached null as a value', async () => {
    const cache = await make(new MemoryStore())
    const ns = cache.namespace<string | null>('nulls')
    await ns.set('a', null)
    expect(await ns.getManyOrSet(['a', 'b'], async (keys) => keys.map(() => 'loaded'))).toEqual([
      null,
      'loaded',
    ])
  })
})

describe('other operations on an entry getOrSet wrote with grace (memory store)', () => {
  it('see it expire at its logical expiry, not at the end of the grace window', async () => {
    const cache = await make(new MemoryStore())
    const ns = cache.namespace<string>('logical')
    const grace = { ttl: 40, grace: '1m' }
    await ns.getOrSet('t', () => 'v', grace)
    expect(await ns.ttl('t')).toBeLessThanOrEqual(40)

    await ns.getOrSet('x', () => 'v', grace)
    expect(await ns.expire('x', 5000)).toBe(true)
    await sleep(60)
    expect(await ns.get('x')).toBe('v') // the new TTL applies to reads too
    expect(await ns.ttl('x')).toBeGreaterThan(4000)
    expect(await ns.ttl('t')).toBeUndefined()
    expect(await ns.expire('t', 5000)).toBe(false)

    await ns.getOrSet('a', () => 'old', { ttl: 10, grace: '1m' })
    await ns.getOrSet('c', () => 'old', { ttl: 10, grace: '1m' })
    await sleep(20)
    expect(await ns.setIfAbsent('a', 'new')).toBe(true)
    expect(await ns.get('a')).toBe('new')
    expect(await ns.compute('c', (current) => (current === undefined ? 'fresh' : `saw ${current}`))).toBe(
      'fresh',
    )
  })
})

describe('getOrSet options and protection', () => {
  it('takes 0 per call to turn off a cache-wide grace or timeout', async () => {
    const cache = await make(new MemoryStore(), { readThrough: { grace: '1m', timeout: 50 } })
    const ns = cache.namespace<string>('zero')
    expect(await ns.getOrSet('k', () => 'v', { ttl: 10, grace: 0, timeout: 0, earlyRefresh: 0 })).toBe('v')
    await sleep(20)
    // No grace was recorded for this entry: a failing loader is not answered with the expired value.
    await expect(ns.getOrSet('k', () => Promise.reject(new Error('down')), { grace: 0 })).rejects.toThrow(
      'down',
    )
  })

  it('refuses bad circuitBreaker and rateLimit options at createCache with ERR_CONFIG', async () => {
    for (const readThrough of [
      { circuitBreaker: { failureThreshold: 0 } },
      { circuitBreaker: { openMs: -5 } },
      { rateLimit: { perSecond: 0 } },
      { rateLimit: { perSecond: 5, burst: 0.5 } },
      { grace: 'soon' },
    ]) {
      const error = await createCache({ fromEnv: false, store: new MemoryStore(), readThrough }).catch(
        (e: unknown) => e,
      )
      expect(isKeyshardError(error, 'ERR_CONFIG'), JSON.stringify(readThrough)).toBe(true)
    }
    // Below one call per second without a burst still allows one call.
    const slow = await make(new MemoryStore(), { readThrough: { rateLimit: { perSecond: 0.5 } } })
    expect(await slow.namespace('rl').getOrSet('a', () => 1)).toBe(1)
  })

  it('tells a half-open refusal from a rate limit, and spends no token on it', async () => {
    const cache = await make(new MemoryStore(), {
      readThrough: {
        circuitBreaker: { failureThreshold: 1, openMs: 30 },
        rateLimit: { perSecond: 1, burst: 3 },
      },
    })
    const ns = cache.namespace<string>('probe')
    await expect(ns.getOrSet('a', () => Promise.reject(new Error('down')))).rejects.toThrow('down')
    await sleep(40)
    let release!: (v: string) => void
    const probe = ns.getOrSet('b', () => new Promise<string>((r) => (release = r)))
    const refused = await ns.getOrSet('c', () => 'never').catch((e: unknown) => e)
    expect(isKeyshardError(refused, 'ERR_LOADER')).toBe(true)
    expect((refused as Error).message).toContain('half-open')
    release('probed')
    expect(await probe).toBe('probed')
    // The bucket (3 tokens) paid for the failed load and the probe only, so one call is still allowed.
    expect(await ns.getOrSet('d', () => 'x')).toBe('x')
    const limited = await ns.getOrSet('e', () => 'y').catch((e: unknown) => e)
    expect((limited as Error).message).toContain('rate limit')
  })
})

describe('getOrSet early refresh (memory store)', () => {
  it('starts the refresh inside the window even when the value is in L1', async () => {
    const cache = await make(new MemoryStore(), { l1: { maxEntries: 100 } })
    await cache.ready()
    const ns = cache.namespace<string>('early-l1')
    const opts = { ttl: 200, earlyRefresh: 150 }
    expect(await ns.getOrSet('k', () => 'v1', opts)).toBe('v1')
    let calls = 0
    await sleep(80)
    expect(await ns.getOrSet('k', () => (calls++ === 0 ? 'v2' : 'v3'), opts)).toBe('v1')
    await until(async () => (await ns.get('k')) === 'v2')
    expect(calls).toBe(1)
  })

  it('does not count a failed background refresh as a stale value served', async () => {
    const cache = await make(new MemoryStore())
    const ns = cache.namespace<string>('early-fail')
    const opts = { ttl: 200, earlyRefresh: 150, grace: '1m' }
    expect(await ns.getOrSet('k', () => 'v1', opts)).toBe('v1')
    await sleep(80)
    let failed = 0
    const failing = () => {
      failed++
      throw new Error('source down')
    }
    expect(await ns.getOrSet('k', failing, opts)).toBe('v1')
    await until(() => failed === 1)
    await sleep(10)
    expect(cache.stats().staleServed).toBe(0)
    expect(await ns.get('k')).toBe('v1')
  })

  it('answers with the fresh value and refreshes it in the background once inside the window', async () => {
    const cache = await make(new MemoryStore())
    const ns = cache.namespace<string>('early')
    const opts = { ttl: 200, earlyRefresh: 150 }
    expect(await ns.getOrSet('k', () => 'v1', opts)).toBe('v1')
    // Outside the window (200 ms left > 150 ms): no refresh.
    let calls = 0
    expect(await ns.getOrSet('k', () => (calls++ === 0 ? 'v2' : 'v3'), opts)).toBe('v1')
    expect(calls).toBe(0)
    await sleep(80)
    expect(await ns.getOrSet('k', () => (calls++ === 0 ? 'v2' : 'v3'), opts)).toBe('v1')
    await until(async () => (await ns.get('k')) === 'v2')
    expect(calls).toBe(1)
  })
})
