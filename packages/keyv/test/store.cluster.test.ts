import { getTestServers } from '@keyshard/testkit'
import { Cache, isKeyshardError, KeyshardError, rawBufferEncoder, rawStringEncoder } from '@keyshard/core'
import Keyv from 'keyv'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createKeyv, KeyshardStore } from '../src/index.js'
import { cacheOptions, connect, iterate, rawKeys, withSharedStoreWarnings } from './helpers.js'

let cache: Cache

beforeAll(async () => {
  cache = await connect('cluster', { prefix: 'kstore:' })
})
afterAll(async () => {
  await cache.close()
})

describe('KeyshardStore on the cluster', () => {
  it('stores keys as exactly <prefix><keyv namespace>:<key>, with no double prefix', async () => {
    const keyv = new Keyv({ store: new KeyshardStore(cache), namespace: 'orders' })
    await keyv.set('o:1', { total: 3 })
    const plain = new Keyv({ store: new KeyshardStore(cache) })
    await plain.set('hello', 'world')
    expect(await rawKeys(cache, 'kstore:orders:*')).toEqual(['kstore:orders:o:1'])
    expect(await rawKeys(cache, 'kstore:keyv:*')).toEqual(['kstore:keyv:hello'])
    expect(await rawKeys(cache, '*keyv:keyv:*')).toEqual([])
    // The stored bytes are Keyv's own serialized string, readable by any client.
    const raw = await cache.namespace('orders', { encoder: rawStringEncoder }).get('o:1')
    expect(JSON.parse(raw as string)).toMatchObject({ value: { total: 3 } })
  })

  it("clear() with no namespace leaves other applications' keys alone, on every shard", async () => {
    const otherApp = cache.namespace<string>('other-app')
    const otherKeys = Array.from({ length: 30 }, (_, i) => `k${i}`)
    await otherApp.setMany(otherKeys.map((key) => ({ key, value: 'theirs' })))
    const siblingPrefixApp = cache.namespace<string>('keyv2')
    await siblingPrefixApp.set('x', 'theirs too')

    const keyv = new Keyv({ store: new KeyshardStore(cache) })
    await keyv.clear()
    await keyv.setMany(otherKeys.map((key) => ({ key, value: 'ours' })))
    expect(await rawKeys(cache, 'kstore:keyv:*')).toHaveLength(30)
    await keyv.clear()

    expect(await rawKeys(cache, 'kstore:keyv:*')).toEqual([])
    expect(await otherApp.getMany(otherKeys)).toEqual(otherKeys.map(() => 'theirs'))
    expect(await siblingPrefixApp.get('x')).toBe('theirs too')
  })

  it('batches keys spread over every slot without CROSSSLOT', async () => {
    const keyv = new Keyv({ store: new KeyshardStore(cache), namespace: 'batch' })
    const keys = Array.from({ length: 100 }, (_, i) => `item:${i}`)
    await keyv.setMany(keys.map((key, i) => ({ key, value: i, ttl: 60_000 })))
    expect(await keyv.getMany(keys)).toEqual(keys.map((_, i) => i))
    expect(await keyv.hasMany([...keys.slice(0, 2), 'missing'])).toEqual([true, true, false])
    expect(await keyv.deleteMany(keys)).toBe(true)
    expect(await keyv.getMany(keys.slice(0, 3))).toEqual([undefined, undefined, undefined])
  })

  it('adds exactly one error listener to the cache per store and removes it on disconnect', async () => {
    const on = vi.spyOn(cache, 'on')
    const off = vi.spyOn(cache, 'off')
    const store = new KeyshardStore(cache)
    const keyv = new Keyv({ store, namespace: 'listeners' })
    keyv.namespace = 'listeners2'
    await keyv.set('a', 1)
    expect(on.mock.calls.filter(([event]) => event === 'error')).toHaveLength(1)
    await keyv.disconnect()
    expect(off.mock.calls.filter(([event]) => event === 'error')).toHaveLength(1)
    // A shared cache stays open for its owner.
    expect(await cache.namespace('other-app').get('k0')).toBe('theirs')
    on.mockRestore()
    off.mockRestore()
  })

  it("forwards the cache's error events for its namespace as Keyv error events with the Keyshard code", async () => {
    const keyv = new Keyv({ store: new KeyshardStore(cache), namespace: 'errs' })
    const errors: unknown[] = []
    keyv.on('error', (error: unknown) => errors.push(error))
    // Bytes that are not UTF-8 cannot be Keyv's string: served as a miss and reported.
    await cache.namespace('errs', { encoder: rawBufferEncoder }).set('bad', Buffer.from([0xff, 0xfe, 0xfd]))
    expect(await keyv.get('bad')).toBeUndefined()
    await vi.waitFor(() => expect(errors).toHaveLength(1))
    expect(isKeyshardError(errors[0], 'ERR_DECODE')).toBe(true)
    // Another namespace's errors are not this store's.
    await cache.namespace('not-errs', { encoder: rawBufferEncoder }).set('bad', Buffer.from([0xff, 0xfe]))
    await new Keyv({ store: new KeyshardStore(cache), namespace: 'not-errs' }).get('bad')
    expect(errors).toHaveLength(1)
  })
})

/** The key's PTTL on the server: -2 when absent, -1 when it has no expiry. */
function pttl(namespace: string, key: string): Promise<number> {
  return cache.store.pttl(cache.namespace(namespace).fullKey(key), { timeoutMs: 2000 })
}

describe('Keyv 5 TTLs on the cluster', () => {
  it('a negative ttl deletes the key, as Keyv 5 writes such an entry already expired', async () => {
    const oracle = new Keyv({ namespace: 'neg' }) // Keyv 5 on its own Map store
    const keyv = new Keyv({ store: new KeyshardStore(cache), namespace: 'neg' })
    for (const k of [oracle, keyv]) {
      await k.set('one', 'old')
      await k.set('one', 'new', -1000)
      await k.set('many', 'old')
      await k.setMany([
        { key: 'many', value: 'new', ttl: -1 },
        { key: 'live', value: 'v', ttl: 60_000 },
        { key: 'dup', value: 'first', ttl: 60_000 },
        { key: 'dup', value: 'last', ttl: -1 },
      ])
    }
    const keys = ['one', 'many', 'live', 'dup']
    const expected = [false, false, true, false]
    expect(await Promise.all(keys.map((key) => oracle.has(key)))).toEqual(expected)
    // Keyv 5's has() and hasMany() are the store's, with no expiry check of Keyv's own.
    expect(await Promise.all(keys.map((key) => keyv.has(key)))).toEqual(expected)
    expect(await keyv.hasMany(keys)).toEqual(expected)
    expect(await Promise.all(keys.map((key) => pttl('neg', key)))).toEqual([-2, -2, expect.any(Number), -2])
    expect(await pttl('neg', 'live')).toBeGreaterThan(0)
  })

  it('ttl 0, NaN and ±Infinity store the entry with no expiry, as Keyv 5 reads it back', async () => {
    const oracle = new Keyv({ namespace: 'no-expiry' })
    const keyv = new Keyv({ store: new KeyshardStore(cache), namespace: 'no-expiry' })
    const ttls = [0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]
    for (const k of [oracle, keyv]) {
      for (const [i, ttl] of ttls.entries()) await k.set(`t${i}`, 'v', ttl)
    }
    const keys = ttls.map((_, i) => `t${i}`)
    expect(await Promise.all(keys.map((key) => oracle.has(key)))).toEqual(ttls.map(() => true))
    expect(await keyv.getMany(keys)).toEqual(ttls.map(() => 'v'))
    expect(await Promise.all(keys.map((key) => pttl('no-expiry', key)))).toEqual(ttls.map(() => -1))
  })

  it('a ttl longer than the core accepts is stored with the longest it does, not refused', async () => {
    const keyv = new Keyv({ store: new KeyshardStore(cache), namespace: 'huge' })
    const errors: unknown[] = []
    keyv.on('error', (error: unknown) => errors.push(error))
    expect(await keyv.set('one', 'v', 1e20)).toBe(true)
    expect(await keyv.setMany([{ key: 'many', value: 'v', ttl: 1e20 }])).toEqual([true])
    expect(errors).toEqual([])
    expect(await keyv.getMany(['one', 'many'])).toEqual(['v', 'v'])
    for (const key of ['one', 'many']) {
      expect(await pttl('huge', key)).toBeGreaterThan(Number.MAX_SAFE_INTEGER - 60_000)
    }
  })
})

describe('Keyv 5 keys and iteration on the cluster', () => {
  // No Keyv namespace is how @nestjs/cache-manager 12 builds its Keyv; the iterator then yields `:<key>`, which
  // is also what Keyv sends for the user key `:<key>`.
  it('an instance whose clock runs ahead deletes, while iterating, the entry it finds expired and no other', async () => {
    const keyv = new Keyv({
      store: new KeyshardStore(cache, { namespace: 'iter-skew' }),
      namespace: undefined,
    })
    await keyv.set('k', 'soon', 60_000) // written by an instance with a correct clock
    await keyv.set(':k', 'live')
    const real = Date.now()
    const now = vi.spyOn(Date, 'now').mockImplementation(() => real + 61_000)
    let seen: Array<[string, unknown]>
    try {
      seen = await iterate(keyv)
    } finally {
      now.mockRestore()
    }
    expect(seen).toEqual([[':k', 'live']])
    expect(await rawKeys(cache, 'kstore:iter-skew:*')).toEqual(['kstore:iter-skew::k'])
  })

  it('the empty key iterates back as "" and keys made of "<namespace>:" keep Valkey keys of their own', async () => {
    const oracle = new Keyv({ namespace: 'emp' })
    const keyv = new Keyv({ store: new KeyshardStore(cache), namespace: 'emp' })
    const writes = [
      ['', 'empty'],
      ['emp:emp:', 'two heads'],
      ['emp:emp:emp:', 'three heads'],
      ['emp', 'no colon'],
      [':lead', 'lead'],
      ['a:emp:b', 'inside'],
    ]
    for (const k of [oracle, keyv]) for (const [key, value] of writes) await k.set(key as string, value)
    // Keyv treats '' and 'emp:' as one key.
    const reads = ['', 'emp:', ...writes.slice(1).map(([key]) => key as string)]
    const values = async (k: Keyv) => Promise.all(reads.map((key) => k.get(key)))
    expect(await values(keyv)).toEqual(await values(oracle))
    expect(await iterate(keyv)).toEqual(await iterate(oracle))
    expect(await rawKeys(cache, 'kstore:emp:*')).toEqual([
      'kstore:emp::lead',
      'kstore:emp:a:emp:b',
      'kstore:emp:emp',
      'kstore:emp:emp:',
      'kstore:emp:emp:emp:',
      'kstore:emp:emp:emp:emp:',
    ])
    for (const k of [oracle, keyv]) await k.delete('')
    expect(await values(keyv)).toEqual(await values(oracle))

    // Without a Keyv namespace the empty key is stored behind one ':' and iterates back as '' too.
    const bareOracle = new Keyv({ namespace: undefined })
    const bare = new Keyv({
      store: new KeyshardStore(cache, { namespace: 'emp-bare' }),
      namespace: undefined,
    })
    for (const k of [bareOracle, bare]) expect(await k.set('', 'empty')).toBe(true)
    expect(await bare.get('')).toBe('empty')
    expect(await iterate(bare)).toEqual(await iterate(bareOracle))
    expect(await rawKeys(cache, 'kstore:emp-bare:*')).toEqual(['kstore:emp-bare::'])
  })
})

describe('createKeyv with cache options', () => {
  it('connects, owns the cache and closes it on disconnect', async () => {
    const keyv = await createKeyv(cacheOptions('cluster', { prefix: 'kstore:' }), {
      keyv: { namespace: 'owned' },
    })
    await keyv.set('x', 1)
    expect(await rawKeys(cache, 'kstore:owned:*')).toEqual(['kstore:owned:x'])
    const store = keyv.store as KeyshardStore
    await keyv.disconnect()
    const errors: unknown[] = []
    keyv.on('error', (error: unknown) => errors.push(error))
    expect(await keyv.set('y', 2)).toBe(false)
    expect(errors[0]).toBeInstanceOf(KeyshardError)
    expect((errors[0] as KeyshardError).code).toBe('ERR_CLOSED')
    expect(store.cache).toBeDefined()
  })

  it('rejects a Keyv namespace Keyshard refuses with ERR_CONFIG and closes the cache it created', async () => {
    const close = vi.spyOn(Cache.prototype, 'close')
    try {
      await expect(
        createKeyv(cacheOptions('cluster', { prefix: 'kstore:' }), { keyv: { namespace: 'bad{ns}' } }),
      ).rejects.toMatchObject({ code: 'ERR_CONFIG', details: { namespace: 'bad{ns}' } })
      expect(close).toHaveBeenCalledTimes(1)
      // A cache the caller passed is theirs: it stays open.
      await expect(createKeyv(cache, { keyv: { namespace: 'bad:ns' } })).rejects.toMatchObject({
        code: 'ERR_CONFIG',
      })
      expect(close).toHaveBeenCalledTimes(1)
      expect(await cache.namespace('other-app').get('k0')).toBe('theirs')
    } finally {
      close.mockRestore()
    }
  })

  it('takes a URL, as @keyv/redis does', async () => {
    const keyv = await createKeyv(`redis://${getTestServers().standalone.address}`, {
      keyv: { namespace: 'from-url' },
    })
    try {
      await keyv.set('x', { n: 1 })
      expect(await keyv.get('x')).toEqual({ n: 1 })
      const cache = (keyv.store as KeyshardStore).cache
      if (cache === undefined) throw new Error('the store has no cache')
      expect(cache.options.mode).toBe('single')
      const stored = cache.namespace('from-url').fullKey('x')
      expect(String(await cache.store.get(stored, { timeoutMs: 1000 }))).toBe(
        JSON.stringify({ value: { n: 1 } }),
      )
    } finally {
      await keyv.clear()
      await keyv.disconnect()
    }
    await expect(createKeyv('http://127.0.0.1:1')).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      details: { option: 'url' },
    })
  })

  it('rejects with a connect error naming the address when no node answers', async () => {
    const attempt = createKeyv({
      fromEnv: false,
      mode: 'single',
      addresses: ['127.0.0.1:1'],
      dialTimeout: 500,
      maxRetries: 0,
    })
    await expect(attempt).rejects.toMatchObject({ code: 'ERR_CONNECT' })
  })
})

describe('one KeyshardStore shared by Keyv 5 instances of different namespaces', () => {
  it("keeps each Keyv's keys in its own namespace, whichever set its namespace last", async () => {
    await withSharedStoreWarnings(async (warnings) => {
      const store = new KeyshardStore(cache)
      const a = new Keyv({ store, namespace: 'share-a' })
      const b = new Keyv({ store, namespace: 'share-b' }) // the store's namespace is now share-b
      const keys = Array.from({ length: 20 }, (_, i) => `item:${i}`)
      await a.set('k', 'from a')
      await b.set('k', 'from b')
      await a.setMany(keys.map((key) => ({ key, value: `a ${key}` })))
      await b.setMany(keys.map((key) => ({ key, value: `b ${key}` })))

      expect(await rawKeys(cache, 'kstore:share-a:*')).toEqual(
        ['k', ...keys].map((k) => `kstore:share-a:${k}`).sort(),
      )
      expect(await rawKeys(cache, 'kstore:share-b:*')).toHaveLength(21)
      expect(await a.get('k')).toBe('from a')
      expect(await b.get('k')).toBe('from b')
      expect(await a.getMany(keys.slice(0, 3))).toEqual(keys.slice(0, 3).map((k) => `a ${k}`))
      expect(await a.hasMany(['k', 'missing'])).toEqual([true, false])
      expect(await a.has('k')).toBe(true)

      // b's namespace is the store's last: its iterator and clear() cover b's keys and leave a's.
      const seen = await iterate(b)
      expect(seen).toHaveLength(21)
      expect(seen.every(([, value]) => String(value).includes('b'))).toBe(true)
      await b.clear()
      expect(await rawKeys(cache, 'kstore:share-b:*')).toEqual([])
      expect(await a.get('item:7')).toBe('a item:7')

      expect(await a.deleteMany(keys)).toBe(true)
      expect(await a.delete('k')).toBe(true)
      expect(await rawKeys(cache, 'kstore:share-a:*')).toEqual([])
      const [warning, ...more] = await warnings()
      expect(more).toEqual([])
      expect(warning?.message).toContain('namespaces "share-a" and "share-b"')
    })
  })

  // How @nestjs/cache-manager builds its Keyv: no namespace, so its keys arrive with no head at all.
  it('keeps the keys of a Keyv without a namespace apart from a namespaced one sharing the store', async () => {
    await withSharedStoreWarnings(async (warnings) => {
      const store = new KeyshardStore(cache, { namespace: 'share-bare' })
      const bare = new Keyv({ store, namespace: undefined })
      const app = new Keyv({ store, namespace: 'share-app' }) // set last
      for (const [k, v] of [
        [bare, 'bare'],
        [app, 'app'],
      ] as const) {
        await k.set('x', `${v}-x`)
        await k.setMany([{ key: 'm', value: `${v}-m` }])
      }
      expect(await bare.get('x')).toBe('bare-x')
      expect(await bare.getMany(['x', 'm'])).toEqual(['bare-x', 'bare-m'])
      expect(await rawKeys(cache, 'kstore:share-bare:*')).toEqual([
        'kstore:share-bare:m',
        'kstore:share-bare:x',
      ])
      expect(await rawKeys(cache, 'kstore:share-app:*')).toEqual(['kstore:share-app:m', 'kstore:share-app:x'])
      await app.clear()
      expect(await bare.get('x')).toBe('bare-x')
      expect(await warnings()).toHaveLength(1)
    })
  })
})

describe('one Keyv 5 whose namespace changes', () => {
  it('keeps its key layout, and the store does not take it for two Keyvs', async () => {
    await withSharedStoreWarnings(async (warnings) => {
      const store = new KeyshardStore(cache, { namespace: 'moved-none' })
      const keyv = new Keyv({ store, namespace: 'moved' })
      await keyv.set('a', 1)
      // The app's own listener just before the change, as a Keyv's constructor adds one: still one Keyv.
      store.on('error', () => {})
      keyv.namespace = undefined
      // Keyv sends `moved:z` for its user key `moved:z`: a key of the no-namespace store, as before.
      await keyv.set('moved:z', 2)
      expect(await rawKeys(cache, 'kstore:moved:*')).toEqual(['kstore:moved:a'])
      expect(await rawKeys(cache, 'kstore:moved-none:*')).toEqual(['kstore:moved-none:moved:z'])
      expect(await keyv.get('moved:z')).toBe(2)
      expect(await warnings()).toEqual([])
    })
  })
})
