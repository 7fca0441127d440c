import type { Cache as KeyshardCache } from '@keyshard/core'
import { type Cache, createCache } from 'cache-manager'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeyv } from '../src/index.js'
import { connect, rawKeys, type Topology } from './helpers.js'

describe.each<Topology>(['memory', 'cluster'])('cache-manager 7 over createKeyv (%s)', (topology) => {
  let keyshard: KeyshardCache
  let cache: Cache

  beforeAll(async () => {
    keyshard = await connect(topology, { prefix: 'cm:' })
    cache = createCache({ stores: [await createKeyv(keyshard, { keyv: { namespace: 'catalog' } })] })
  })
  afterAll(async () => {
    await cache.disconnect()
    await keyshard.close()
  })

  it('get/set/del/ttl', async () => {
    const before = Date.now()
    expect(await cache.set('p:1', { name: 'pen' }, 60_000)).toEqual({ name: 'pen' })
    expect(await cache.get('p:1')).toEqual({ name: 'pen' })
    const expires = await cache.ttl('p:1')
    expect(expires).toBeGreaterThanOrEqual(before + 60_000)
    expect(expires).toBeLessThanOrEqual(Date.now() + 60_000)
    expect(await cache.del('p:1')).toBe(true)
    expect(await cache.get('p:1')).toBeUndefined()
    expect(await rawKeys(keyshard, 'cm:*')).toEqual([])
  })

  it('mset/mget/mdel across slots', async () => {
    const list = Array.from({ length: 40 }, (_, i) => ({ key: `m:${i}`, value: i, ttl: 60_000 }))
    await cache.mset(list)
    expect(await cache.mget(list.map((e) => e.key))).toEqual(list.map((e) => e.value))
    expect((await rawKeys(keyshard, 'cm:catalog:*')).length).toBe(40)
    await cache.mdel(list.map((e) => e.key))
    expect(await cache.mget(['m:0', 'm:39'])).toEqual([undefined, undefined])
  })

  it('expires entries after their ttl', async () => {
    await cache.set('short', 'v', 150)
    expect(await cache.get('short')).toBe('v')
    await new Promise((r) => setTimeout(r, 400))
    expect(await cache.get('short')).toBeUndefined()
  })

  it('a negative ttl, passed on to Keyv, leaves no key behind', async () => {
    await cache.set('neg', 'old', 60_000)
    await cache.set('neg', 'new', -1000)
    await cache.mset([{ key: 'neg-many', value: 'new', ttl: -1000 }])
    // Checked before any read: Keyv deletes an entry it reads back expired.
    expect(await rawKeys(keyshard, 'cm:catalog:neg*')).toEqual([])
    expect(await cache.mget(['neg', 'neg-many'])).toEqual([undefined, undefined])
  })

  it('wrap calls the loader once and then serves the cached value', async () => {
    let calls = 0
    const loader = async () => {
      calls++
      return { loadedAt: calls }
    }
    const [a, b] = await Promise.all([cache.wrap('w', loader, 60_000), cache.wrap('w', loader, 60_000)])
    expect(a).toEqual({ loadedAt: 1 })
    expect(b).toEqual({ loadedAt: 1 })
    expect(await cache.wrap('w', loader, 60_000)).toEqual({ loadedAt: 1 })
    expect(calls).toBe(1)
  })

  it('clear empties only its namespace', async () => {
    const neighbour = keyshard.namespace<string>('neighbour')
    await neighbour.set('n', 'stays', { ttl: 60_000 })
    await cache.set('c1', 1)
    await cache.set('c2', 2)
    expect(await cache.clear()).toBe(true)
    expect(await cache.get('c1')).toBeUndefined()
    expect(await rawKeys(keyshard, 'cm:catalog:*')).toEqual([])
    expect(await neighbour.get('n')).toBe('stays')
  })
})
