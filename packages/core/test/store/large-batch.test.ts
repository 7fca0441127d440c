import { getTestServers } from '@keyshard/testkit'
import { afterAll, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache.js'

const caches: Cache[] = []
afterAll(async () => {
  await Promise.all(caches.map((c) => c.close()))
})

it('getMany takes 300,000 keys in one call on a standalone server', async () => {
  const cache = await createCache({
    fromEnv: false,
    mode: 'single',
    addresses: [getTestServers().standalone.address],
    prefix: `large-${process.pid}:`,
  })
  caches.push(cache)
  const ns = cache.namespace<number>('large')
  await ns.set('k:7', 7)
  const keys = Array.from({ length: 300_000 }, (_, i) => `k:${i}`)
  const values = await ns.getMany(keys)
  expect(values).toHaveLength(keys.length)
  expect(values[7]).toBe(7)
  expect(values.filter((v) => v !== undefined)).toHaveLength(1)
})
