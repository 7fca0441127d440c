import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache.js'
import { isKeyshardError, KeyshardError } from '../../src/errors.js'
import { MemoryBus, MemoryStore } from '../../src/store/memory-store.js'
import type { CacheOptions } from '../../src/types.js'

const open: Cache[] = []
async function make(store: MemoryStore, extra: CacheOptions = {}): Promise<Cache> {
  const cache = await createCache({ fromEnv: false, store, l1: { maxEntries: 100 }, ...extra })
  await cache.ready()
  open.push(cache)
  return cache
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()))
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function until(check: () => Promise<boolean>, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(5)
  }
}

const isEntryWrite = (key: string, onlyIfAbsent: boolean | undefined) => !onlyIfAbsent && !key.includes('__')

describe('L1 through the cache (memory store)', () => {
  it('reads TTLs with values only for reads that can fill an L1', async () => {
    const reads: string[] = []
    class CountingStore extends MemoryStore {
      override get(...args: Parameters<MemoryStore['get']>) {
        reads.push('get')
        return super.get(...args)
      }
      override getMany(...args: Parameters<MemoryStore['getMany']>) {
        reads.push('getMany')
        return super.getMany(...args)
      }
      override getWithTtl(...args: Parameters<MemoryStore['getWithTtl']>) {
        reads.push('getWithTtl')
        return super.getWithTtl(...args)
      }
      override getManyWithTtl(...args: Parameters<MemoryStore['getManyWithTtl']>) {
        reads.push('getManyWithTtl')
        return super.getManyWithTtl(...args)
      }
    }
    const bus = new MemoryBus()
    const readAll = async (cache: Cache) => {
      const ns = cache.namespace<string>('ttl-reads')
      // Called in the same tick, so all three see the L1 as it is now.
      await Promise.all([ns.get('a'), ns.getMany(['b', 'c']), ns.getOrSet('d', () => 'loaded')])
      const seen = new Set(reads.splice(0))
      await ns.delete('d')
      return [...seen].sort()
    }
    const withoutL1 = await make(new CountingStore({ bus }), { l1: false })
    expect(await readAll(withoutL1)).toEqual(['get', 'getMany'])
    const withL1 = await make(new CountingStore({ bus }))
    expect(await readAll(withL1)).toEqual(['getManyWithTtl', 'getWithTtl'])
    // While the invalidation link is down the L1 takes no fills, so its TTLs are not read either.
    bus.simulateLinkDrop()
    expect(await readAll(withL1)).toEqual(['get', 'getMany'])
  })

  it('does not keep a loaded value whose tag was invalidated while it was being written', async () => {
    let beforeWrite: (() => Promise<unknown>) | undefined
    class GapStore extends MemoryStore {
      override async set(...args: Parameters<MemoryStore['set']>): ReturnType<MemoryStore['set']> {
        if (isEntryWrite(args[0], args[3].onlyIfAbsent)) {
          const hook = beforeWrite
          beforeWrite = undefined
          await hook?.()
        }
        return super.set(...args)
      }
    }
    const cache = await make(new GapStore())
    const ns = cache.namespace<string>('race')
    // The entry is stored with the tag's epoch from before the invalidation, so Valkey-side it is already invalid.
    beforeWrite = () => ns.invalidateTag('t')
    expect(await ns.getOrSet('k', () => 'v', { tags: ['t'] })).toBe('v')
    expect(beforeWrite).toBeUndefined() // the invalidation did run inside the write
    expect(await ns.get('k')).toBeUndefined()
  })

  it("drops other instances' copies even when the write itself failed (it may have been applied)", async () => {
    class FailsAfterApplying extends MemoryStore {
      failNext = false
      override async set(...args: Parameters<MemoryStore['set']>): ReturnType<MemoryStore['set']> {
        const written = await super.set(...args)
        if (this.failNext && isEntryWrite(args[0], args[3].onlyIfAbsent)) {
          this.failNext = false
          throw new KeyshardError('ERR_TIMEOUT', 'SET timed out after 1ms')
        }
        return written
      }
    }
    const store = new FailsAfterApplying()
    const [a, b] = await Promise.all([make(store), make(store)])
    await a.namespace<string>('n').set('k', 'old')
    await sleep(10) // the set's own invalidation reaches b first
    expect(await b.namespace<string>('n').get('k')).toBe('old')
    const tiers: string[] = []
    b.on('hit', ({ tier }) => tiers.push(tier))
    expect(await b.namespace<string>('n').get('k')).toBe('old')
    expect(tiers).toEqual(['l1'])
    store.failNext = true
    await expect(a.namespace<string>('n').set('k', 'new')).rejects.toThrow('timed out')
    await until(async () => (await b.namespace<string>('n').get('k')) === 'new')
  })

  it('flushAll clears every L1 even when the flush fails part-way, and from a writer without an L1', async () => {
    class FlushFailsPartWay extends MemoryStore {
      override async flushAll(
        ...args: Parameters<MemoryStore['flushAll']>
      ): ReturnType<MemoryStore['flushAll']> {
        await super.flushAll(...args)
        throw new KeyshardError('ERR_CONNECT', 'the last master did not answer')
      }
    }
    const store = new FlushFailsPartWay()
    const [a, b] = await Promise.all([make(store, { allowUnsafeFlush: true }), make(store)])
    const admin = await make(store, { l1: false, publishInvalidations: true, allowUnsafeFlush: true })
    const tiers: string[] = []
    b.on('hit', ({ tier }) => tiers.push(tier))
    const fill = async () => {
      await a.namespace<string>('n').set('k', 'v')
      await sleep(10) // the set's own invalidation reaches b first
      for (const cache of [a, b]) await cache.namespace<string>('n').get('k')
      tiers.length = 0
      expect(await b.namespace<string>('n').get('k')).toBe('v')
      expect(tiers).toEqual(['l1'])
    }

    await fill()
    await expect(a.flushAll()).rejects.toThrow('did not answer')
    expect(await a.namespace<string>('n').get('k')).toBeUndefined()
    await until(async () => (await b.namespace<string>('n').get('k')) === undefined)

    await fill()
    await expect(admin.flushAll()).rejects.toThrow('did not answer')
    await until(async () => (await b.namespace<string>('n').get('k')) === undefined)
    expect(await a.namespace<string>('n').get('k')).toBeUndefined()
  })

  it('leaves no subscription behind when createCache refuses an option', async () => {
    const bus = new MemoryBus()
    const error = await createCache({
      fromEnv: false,
      store: new MemoryStore({ bus }),
      l1: { maxEntries: 10 },
      publishInvalidations: false,
    }).catch((e: unknown) => e)
    expect(isKeyshardError(error, 'ERR_CONFIG')).toBe(true)
    expect(bus.subscriberCount('ks:__inv')).toBe(0)
  })

  it("getMany with onError 'miss' keeps its L1 hits when the store fails", async () => {
    class Failing extends MemoryStore {
      down = false
      // With an L1, reads fetch each value's TTL with it.
      override async getManyWithTtl(
        ...args: Parameters<MemoryStore['getManyWithTtl']>
      ): ReturnType<MemoryStore['getManyWithTtl']> {
        if (this.down) throw new KeyshardError('ERR_CONNECT', 'connection lost')
        return super.getManyWithTtl(...args)
      }
    }
    const store = new Failing()
    const cache = await make(store, { onError: 'miss' })
    const errors: unknown[] = []
    cache.on('error', ({ error }) => errors.push(error))
    const ns = cache.namespace<string>('n')
    await ns.setMany([
      { key: 'a', value: 'A' },
      { key: 'b', value: 'B' },
    ])
    expect(await ns.get('a')).toBe('A') // fills the L1
    store.down = true
    expect(await ns.getMany(['a', 'b'])).toEqual(['A', undefined])
    expect(errors).toHaveLength(1)
  })
})
