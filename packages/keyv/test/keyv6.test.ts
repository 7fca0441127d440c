import type { Cache } from '@keyshard/core'
import { Keyv as Keyv6 } from 'keyv6'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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
})
