import { type Cache, isKeyshardError, rawStringEncoder } from '@keyshard/core'
import Keyv from 'keyv'
import { afterEach, expect, it, vi } from 'vitest'
import { createKeyv, KeyshardStore, keyvDeserialize, keyvSerialize } from '../src/index.js'
import { connect } from './helpers.js'

// What the store hands Keyv 5 is the store's own business (no server behaviour is involved): the memory store.
const caches: Cache[] = []
async function memory(): Promise<Cache> {
  const cache = await connect('memory')
  caches.push(cache)
  return cache
}
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(caches.splice(0).map((cache) => cache.close()))
})

type Spied = { deserializeData(data: unknown): Promise<unknown> }

const values = {
  object: { id: 1, tags: ['a', 'b'], nested: { ok: true } },
  buffer: Buffer.from([0, 1, 2, 255]),
  colon: ':starts with a colon',
  date: new Date('2026-01-02T03:04:05.000Z'),
}

it('answers createKeyv’s Keyv with rows it deserialized itself, so Keyv does not deserialize each row', async () => {
  const keyv = await createKeyv(await memory(), { keyv: { namespace: 'rows' } })
  for (const [key, value] of Object.entries(values)) await keyv.set(key, value, 60_000)
  const deserialize = vi.spyOn(keyv as unknown as Spied, 'deserializeData')
  expect(await keyv.getMany(['object', 'buffer', 'missing', 'colon', 'date'])).toEqual([
    values.object,
    values.buffer,
    undefined,
    values.colon,
    // Keyv's format has no dates: they come back as their JSON text, with or without Keyshard.
    values.date.toJSON(),
  ])
  expect(await keyv.get('buffer')).toEqual(values.buffer)
  const raw = (await keyv.get('object', { raw: true })) as { value: unknown; expires: number }
  expect(raw.value).toEqual(values.object)
  expect(raw.expires).toBeGreaterThan(Date.now())
  expect(deserialize).not.toHaveBeenCalled()
})

it('hands a Keyv with a deserializer of its own the stored text, from the start or once it is changed', async () => {
  const own = vi.fn((text: string) => JSON.parse(text))
  const keyv = await createKeyv(await memory(), {
    keyv: { namespace: 'own', serialize: JSON.stringify, deserialize: own },
  })
  await keyv.set('a', { n: 1 })
  expect(await keyv.getMany(['a'])).toEqual([{ n: 1 }])
  expect(await keyv.get('a')).toEqual({ n: 1 })
  expect(own).toHaveBeenCalledTimes(2)

  const later = await createKeyv(await memory(), { keyv: { namespace: 'later' } })
  await later.set('b', { n: 2 })
  const changed = vi.fn((text: string) => keyvDeserialize(text))
  later.deserialize = changed
  expect(await later.getMany(['b'])).toEqual([{ n: 2 }])
  expect(changed).toHaveBeenCalledTimes(1)
})

it('hands a Keyv with compression the stored text, which Keyv decompresses', async () => {
  // A stand-in for @keyv/compress-*: what Keyv calls, and proof it was called on the way back.
  const compression = {
    compress: async (value: unknown) => ({ packed: value }),
    decompress: async (value: unknown) => (value as { packed: unknown }).packed,
  }
  const keyv = await createKeyv(await memory(), { keyv: { namespace: 'packed', compression } })
  await keyv.set('a', { n: 1 })
  await keyv.set('b', 'text')
  expect(await keyv.getMany(['a', 'b'])).toEqual([{ n: 1 }, 'text'])
  expect(await keyv.get('a')).toEqual({ n: 1 })
})

it('hands a Keyv built around the store by hand the stored text, unless told it deserializes as createKeyv’s', async () => {
  const store = new KeyshardStore(await memory())
  const keyv = new Keyv({ store, namespace: 'plain', serialize: keyvSerialize, deserialize: keyvDeserialize })
  await keyv.set('a', values.object)
  const deserialize = vi.spyOn(keyv as unknown as Spied, 'deserializeData')
  expect(await keyv.getMany(['a'])).toEqual([values.object])
  expect(deserialize).toHaveBeenCalledTimes(1)
  store.deserializeFor(keyv)
  expect(await keyv.getMany(['a'])).toEqual([values.object])
  expect(await keyv.get('a')).toEqual(values.object)
  expect(deserialize).toHaveBeenCalledTimes(1)
})

it('reads a stored value not in Keyv’s format as a miss with an ERR_DECODE error naming its key; the others stand', async () => {
  const cache = await memory()
  const keyv = await createKeyv(cache, { keyv: { namespace: 'mixed' } })
  const errors: unknown[] = []
  keyv.on('error', (error: unknown) => errors.push(error))
  await keyv.set('good', { n: 1 })
  // Another client's text under a key of this namespace, as the store reads it.
  await cache.namespace('mixed', { encoder: rawStringEncoder, defaultTtl: null }).set('bad', '{not json')
  expect(await keyv.getMany(['good', 'bad'])).toEqual([{ n: 1 }, undefined])
  expect(await keyv.get('bad')).toBeUndefined()
  expect(errors).toHaveLength(2)
  for (const error of errors) {
    expect(isKeyshardError(error, 'ERR_DECODE')).toBe(true)
    expect((error as Error).message).toContain('"mixed:bad"')
    expect((error as Error).cause).toBeInstanceOf(SyntaxError)
  }
})
