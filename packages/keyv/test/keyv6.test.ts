import { type Cache, isKeyshardError, Namespace } from '@keyshard/core'
import { Keyv as Keyv6 } from 'keyv6'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createKeyv, isKeyv6Class, KeyshardStoreV6 } from '../src/index.js'
import { connect, rawKeys, type Topology } from './helpers.js'

describe.each<Topology>(['memory', 'cluster'])('Keyv 6 over KeyshardStoreV6 (%s)', (topology) => {
  let cache: Cache

  beforeAll(async () => {
    cache = await connect(topology, { prefix: 'k6:' })
  })
  afterAll(async () => {
    await cache.close()
  })
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('createKeyv picks the Keyv 6 store for the Keyv 6 class and Keyv uses it unbridged', async () => {
    expect(isKeyv6Class(Keyv6)).toBe(true)
    const keyv = await createKeyv(cache, { keyv: { namespace: 'v6' } }, Keyv6)
    expect(keyv.store).toBeInstanceOf(KeyshardStoreV6)
    expect(await keyv.set('a', { n: 1 })).toBe(true)
    expect(await keyv.get('a')).toEqual({ n: 1 })
    expect(await rawKeys(cache, 'k6:*')).toEqual(['k6:v6:a'])
  })

  it('absolute expiry, boolean arrays from setMany/deleteMany, iterator and clear', async () => {
    const store = new KeyshardStoreV6(cache)
    const keyv = new Keyv6({ store, namespace: 'v6b' })
    expect(
      await keyv.setMany([
        { key: 'x', value: 1 },
        { key: 'y', value: 2, ttl: 150 },
      ]),
    ).toEqual([true, true])
    expect(await keyv.getMany(['x', 'y', 'z'])).toEqual([1, 2, undefined])
    const pttl = await cache.store.pttl('k6:v6b:y', { timeoutMs: 2000 })
    expect(pttl).toBeGreaterThan(0)
    expect(pttl).toBeLessThanOrEqual(150)
    await new Promise((r) => setTimeout(r, 300))
    expect(await keyv.get('y')).toBeUndefined()
    // An expiry already in the past writes nothing.
    expect(await store.set('past', 'v', Date.now() - 1)).toBe(true)
    expect(await store.has('past')).toBe(false)

    await keyv.set('z', 3)
    const seen: Array<[string, unknown]> = []
    for await (const [key, value] of keyv.iterator()) seen.push([key as string, value])
    expect(seen.sort()).toEqual([
      ['x', 1],
      ['z', 3],
    ])
    expect(await keyv.deleteMany(['x', 'nope'])).toEqual([true, false])

    await cache.namespace('v6-neighbour').set('n', 'stays')
    await keyv.clear()
    expect(await rawKeys(cache, 'k6:v6b:*')).toEqual([])
    expect(await cache.namespace('v6-neighbour').get('n')).toBe('stays')
  })

  it('reports the namespace it writes to when Keyv 6 has none of its own', async () => {
    const keyv = new Keyv6({ store: new KeyshardStoreV6(cache, { namespace: 'v6-own' }) })
    expect(keyv.namespace).toBe('v6-own')
    await keyv.set('a', 1)
    expect(await rawKeys(cache, 'k6:v6-own:*')).toEqual(['k6:v6-own:a'])
    expect(new Keyv6({ store: new KeyshardStoreV6(cache) }).namespace).toBe('keyv')
    keyv.namespace = 'v6-other'
    expect(keyv.namespace).toBe('v6-other')
    keyv.namespace = undefined
    expect(keyv.namespace).toBe('v6-own')
    expect(await keyv.get('a')).toBe(1)
    await keyv.clear()
  })

  it('setMany reads the clock once per entry: an entry at the edge of expiry is written or deleted, not both', async () => {
    const store = new KeyshardStoreV6(cache, { namespace: 'v6-edge' })
    await store.ready()
    const setMany = vi.spyOn(Namespace.prototype, 'setMany')
    const deleteMany = vi.spyOn(Namespace.prototype, 'deleteMany')
    // A clock that moves 1 ms on every reading, as a slow event loop would between readings.
    const start = Date.now()
    let tick = 0
    const now = vi.spyOn(Date, 'now').mockImplementation(() => start + tick++)
    try {
      expect(await store.setMany([{ key: 'edge', value: 'v', expires: start + 1 }])).toEqual([true])
    } finally {
      now.mockRestore()
    }
    expect(setMany.mock.calls.length + deleteMany.mock.calls.length).toBe(1)
    setMany.mockClear()
    deleteMany.mockClear()
    // Nothing live: no empty write reaches the core.
    expect(await store.setMany([{ key: 'gone', value: 'v', expires: Date.now() - 1 }])).toEqual([true])
    expect(setMany).not.toHaveBeenCalled()
    expect(deleteMany).toHaveBeenCalledTimes(1)
  })

  it('expiries later than the core accepts are stored with the longest TTL it does, not refused', async () => {
    const keyv = new Keyv6({ store: new KeyshardStoreV6(cache), namespace: 'v6-huge' })
    const errors: unknown[] = []
    keyv.on('error', (error: unknown) => errors.push(error))
    const oks: boolean[] = []
    // Keyv 6 rounds Date.now() + ttl as a double: on one millisecond in four, "forever"
    // (Number.MAX_SAFE_INTEGER) lands 2^53 ms ahead, beyond the core's safe integers.
    const start = Date.now()
    for (let i = 0; i < 4; i++) {
      const now = vi.spyOn(Date, 'now').mockReturnValue(start + i)
      try {
        oks.push(await keyv.set(`max${i}`, 'v', Number.MAX_SAFE_INTEGER))
      } finally {
        now.mockRestore()
      }
    }
    oks.push(await keyv.set('e20', 'v', 1e20))
    oks.push(...(await keyv.setMany([{ key: 'many', value: 'v', ttl: 1e20 }])))
    expect({ oks, errors }).toEqual({ oks: oks.map(() => true), errors: [] })
    const keys = ['max0', 'max1', 'max2', 'max3', 'e20', 'many']
    expect(await keyv.getMany(keys)).toEqual(keys.map(() => 'v'))
    for (const key of keys) {
      const pttl = await cache.store.pttl(`k6:v6-huge:${key}`, { timeoutMs: 2000 })
      expect(pttl).toBeGreaterThan(Number.MAX_SAFE_INTEGER - 60_000)
    }
  })

  it('a failed read reaches the error event once (Keyv 6 emits it itself)', async () => {
    const keyv = new Keyv6({ store: new KeyshardStoreV6(cache), namespace: 'v6-reads' })
    const errors: unknown[] = []
    keyv.on('error', (error: unknown) => errors.push(error))
    expect(await keyv.get('k'.repeat(70_000))).toBeUndefined()
    expect(errors).toHaveLength(1)
    expect(isKeyshardError(errors[0], 'ERR_KEY')).toBe(true)
  })

  it('createKeyv rejects a Keyv 6 namespace Keyshard refuses', async () => {
    await expect(createKeyv(cache, { keyv: { namespace: 'bad{ns}' } }, Keyv6)).rejects.toMatchObject({
      code: 'ERR_CONFIG',
    })
  })
})
