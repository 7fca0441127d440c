import { getTestServers } from '@keyshard/testkit'
import { afterAll, expect, it } from 'vitest'
import { type Cache, createCache } from '../src/cache.js'

const { cluster } = getTestServers()
const caches: Cache[] = []
afterAll(async () => {
  await Promise.all(caches.map((c) => c.close()))
})

async function open(readFrom: 'primary' | 'replica'): Promise<Cache> {
  const cache = await createCache({
    fromEnv: false,
    mode: 'cluster',
    addresses: cluster.seeds,
    prefix: `replica-${process.pid}:`,
    readFrom,
  })
  caches.push(cache)
  return cache
}

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5000
  for (;;) {
    const value = await read()
    if (done(value) || Date.now() > deadline) return value
    await new Promise((r) => setTimeout(r, 20))
  }
}

it("createCache({ readFrom: 'replica' }) reads what a primary wrote, and sees tag invalidations at once", async () => {
  const [writer, reader] = await Promise.all([open('primary'), open('replica')])
  expect(reader.options.readFrom).toBe('replica')
  const w = writer.namespace<{ n: number }>('items')
  const r = reader.namespace<{ n: number }>('items')
  const keys = Array.from({ length: 30 }, (_, i) => `item:${i}`)
  await w.setMany(keys.map((key, n) => ({ key, value: { n }, tags: ['all'] })))
  // Replication is asynchronous: the replicas catch up shortly after the write.
  const values = await eventually(
    () => r.getMany(keys),
    (v) => v.every((x) => x !== undefined),
  )
  expect(values).toEqual(keys.map((_, n) => ({ n })))
  // The data is on replicas, but tag epochs are always read from masters: no replication lag for invalidation.
  await w.invalidateTag('all')
  expect(await r.getMany(keys)).toEqual(keys.map(() => undefined))
  expect((await reader.health()).nodes.filter((n) => n.role === 'replica')).toHaveLength(3)
})
