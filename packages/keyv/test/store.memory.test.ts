import { type Cache, compression, isKeyshardError, rawStringEncoder, richJsonEncoder } from '@keyshard/core'
import Keyv from 'keyv'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createKeyv, KeyshardStore } from '../src/index.js'
import { connect, iterate, withSharedStoreWarnings } from './helpers.js'

// Each test gets a memory cache of its own, so no test sees another's keys.
const caches: Cache[] = []
async function memory(extra: Parameters<typeof connect>[1] = {}): Promise<Cache> {
  const cache = await connect('memory', extra)
  caches.push(cache)
  return cache
}
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(caches.splice(0).map((cache) => cache.close()))
})

describe('KeyshardStore (Keyv 5)', () => {
  // Unset is how @nestjs/cache-manager 12 builds its Keyv.
  it.each([
    ['unset', undefined],
    ['empty', ''],
    ['"app"', 'app'],
  ])('iterates the user keys, ":" included, when the Keyv namespace is %s', async (_, namespace) => {
    const keyv = new Keyv({ store: new KeyshardStore(await memory()), namespace })
    await keyv.set('user:1', 'a')
    await keyv.set('hello', 'b')
    await keyv.set('a:b:c', 'c')
    expect(await iterate(keyv)).toEqual([
      ['a:b:c', 'c'],
      ['hello', 'b'],
      ['user:1', 'a'],
    ])
  })

  // A subclass of String, even one never instantiated, makes V8 stop inlining String.prototype methods for the
  // whole process (the slot hash of every cluster key runs on charCodeAt): the keys are plain String objects.
  it('yields keys that are String objects of the built-in class, and deletes by the one it yielded', async () => {
    const store = new KeyshardStore(await memory())
    const keyv = new Keyv({ store, namespace: undefined })
    await keyv.set('k', 'plain')
    await keyv.set(':k', 'colon')
    const yielded: unknown[] = []
    for await (const [key] of store.iterator(undefined)) yielded.push(key)
    expect(yielded).toHaveLength(2)
    for (const key of yielded) expect(Object.getPrototypeOf(key)).toBe(String.prototype)
    expect(yielded.map(String).sort()).toEqual(['::k', ':k'])
    // The key 'k' is yielded as ':k', the text Keyv 5 sends for the user key ':k': only the object says which.
    const plain = yielded.find((key) => String(key) === ':k') as string
    expect(await store.delete(plain)).toBe(true)
    expect(await keyv.get('k')).toBeUndefined()
    expect(await keyv.get(':k')).toBe('colon')
  })

  it("reports a failed read on Keyv's error event with the Keyshard code (Keyv 5 get() drops it)", async () => {
    const cache = await memory()
    const keyv = new Keyv({ store: new KeyshardStore(cache), namespace: 'reads' })
    const errors: unknown[] = []
    keyv.on('error', (error: unknown) => errors.push(error))
    await keyv.set('a', 1)
    await cache.close()
    expect(await keyv.get('a')).toBeUndefined()
    expect(errors).toHaveLength(1)
    expect(isKeyshardError(errors[0], 'ERR_CLOSED')).toBe(true)
  })

  it('setMany resolves to one boolean per entry, as Keyv 5 documents', async () => {
    const keyv = new Keyv({ store: new KeyshardStore(await memory()), namespace: 'many' })
    expect(
      await keyv.setMany([
        { key: 'a', value: 1 },
        { key: 'b', value: 2, ttl: 60_000 },
      ]),
    ).toEqual([true, true])
    expect(await keyv.getMany(['a', 'b'])).toEqual([1, 2])
  })

  it('refuses a null or non-object source with ERR_CONFIG', async () => {
    for (const source of [null, 42, true, () => {}]) {
      let thrown: unknown
      try {
        new KeyshardStore(source as never)
      } catch (error) {
        thrown = error
      }
      expect(isKeyshardError(thrown, 'ERR_CONFIG')).toBe(true)
      await expect(createKeyv(source as never)).rejects.toMatchObject({ code: 'ERR_CONFIG' })
    }
  })

  it('uses its namespace option when Keyv gives no namespace', async () => {
    const cache = await memory()
    const keyv = new Keyv({ store: new KeyshardStore(cache, { namespace: 'mine' }), namespace: undefined })
    await keyv.set('a', 1)
    expect(await cache.namespace('mine').has('a')).toBe(true)
  })

  it("stores Keyv's string as-is, without the shared cache's transformers", async () => {
    const cache = await memory({ transformers: [compression({ threshold: 0 })] })
    const keyv = new Keyv({ store: new KeyshardStore(cache), namespace: 'plain' })
    const value = { text: 'x'.repeat(4000) }
    await keyv.set('a', value)
    const raw = await cache.store.get(cache.namespace('plain').fullKey('a'), { timeoutMs: 1000 })
    expect(String(raw)).toBe(JSON.stringify({ value }))
    expect(await keyv.get('a')).toEqual(value)
    // The cache's own namespaces still compress.
    await cache.namespace('compressed').set('a', value)
    const compressed = await cache.store.get(cache.namespace('compressed').fullKey('a'), { timeoutMs: 1000 })
    expect(String(compressed)).not.toContain('xxxx')
  })

  it('serves calls from the existing view without going through view() again', async () => {
    const store = new KeyshardStore(await memory())
    const keyv = new Keyv({ store, namespace: 'hot' })
    await keyv.set('a', 1)
    const view = vi.spyOn(store as unknown as { view(): Promise<unknown> }, 'view')
    await keyv.set('b', 2)
    expect(await keyv.get('a')).toBe(1)
    expect(await keyv.getMany(['a', 'b'])).toEqual([1, 2])
    expect(await keyv.has('a')).toBe(true)
    expect(await keyv.delete('a')).toBe(true)
    expect(view).not.toHaveBeenCalled()
  })
})

describe('a KeyshardStore on a Namespace shared by two Keyvs', () => {
  it('warns once, when the second Keyv is built on it, that it mixes their keys', async () => {
    await withSharedStoreWarnings(async (warnings) => {
      const pinned = (await memory()).namespace('pinned')
      const store = new KeyshardStore(pinned)
      const a = new Keyv({ store, namespace: 'a' })
      await a.set('k', 1)
      expect(await warnings()).toEqual([])
      const b = new Keyv({ store, namespace: 'b' })
      await b.set('k', 2)
      await a.set('j', 3)
      const [warning, ...more] = await warnings()
      expect(more).toEqual([])
      expect(warning?.message).toContain('their keys are not kept apart')
      // Pinned means pinned: everything stays in the one namespace it was built on.
      expect((await pinned.keys({ count: 100 })).keys.sort()).toEqual(['a:j', 'k'])
    })
  })
})

describe('a Keyv 5 that moved to another namespace', () => {
  it("no longer reports the old namespace's errors", async () => {
    const cache = await memory()
    const store = new KeyshardStore(cache)
    const keyv = new Keyv({ store, namespace: 'left' })
    const codes: string[] = []
    keyv.on('error', (error: { code?: string }) => codes.push(`${error.code}`))
    // Bytes a rich-JSON reader of the same namespace cannot decode: an error event of namespace `left`.
    const stored = cache.namespace('left', { encoder: richJsonEncoder })
    await store.set('left:k', 'not JSON')
    await stored.get('k')
    expect(codes).toEqual(['ERR_DECODE'])
    keyv.namespace = 'right'
    await cache.namespace('left', { encoder: rawStringEncoder }).set('j', 'not JSON either')
    await stored.get('j')
    expect(codes).toEqual(['ERR_DECODE'])
  })
})
