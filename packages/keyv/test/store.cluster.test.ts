import { getTestServers } from '@keyshard/testkit'
import { Cache, isKeyshardError, KeyshardError, rawBufferEncoder, rawStringEncoder } from '@keyshard/core'
import Keyv from 'keyv'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createKeyv, KeyshardStore } from '../src/index.js'
import { cacheOptions, connect, rawKeys } from './helpers.js'

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
