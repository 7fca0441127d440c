import { randomUUID } from 'node:crypto'
import calculateSlot from 'cluster-key-slot'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isKeyshardError } from '../../src/errors.js'
import type { Store, StoreKind } from '../../src/store/store.js'

const o = { timeoutMs: 5000 }

export interface StoreContractOptions {
  /**
   * A store nobody else writes to, for `flushAll`. Defaults to `makeStore` (fine for memory stores, which are
   * private; the shared test servers must never be flushed).
   */
  makeIsolatedStore?: () => Promise<{ store: Store; dispose: () => Promise<void> }>
}

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** The semantics every Store must have, whatever the topology. */
export function storeContract(
  kind: StoreKind,
  makeStore: () => Promise<Store>,
  options: StoreContractOptions = {},
): void {
  describe(`Store contract (${kind})`, () => {
    let store: Store
    let p: string
    const keysOf = (n: number, tag = 'k') => Array.from({ length: n }, (_, i) => `${p}${tag}:${i}`)

    beforeAll(async () => {
      store = await makeStore()
    })
    afterAll(async () => {
      await store?.close()
    })
    // Unique per test: the servers are shared with other test files running at the same time.
    const fresh = () => {
      p = `ks-store-test:${randomUUID()}:`
    }

    it('reports its kind', () => {
      expect(store.kind).toBe(kind)
    })

    it('get/set round-trips binary values; missing keys are null', async () => {
      fresh()
      const value = Buffer.from([0, 255, 1, 254, 0x0d, 0x0a, 0])
      expect(await store.set(`${p}a`, value, null, o)).toBe(true)
      expect(await store.get(`${p}a`, o)).toEqual(value)
      expect(await store.get(`${p}missing`, o)).toBeNull()
    })

    it('getWithTtl and getManyWithTtl answer each value with its own remaining TTL, in input order', async () => {
      fresh()
      const keys = keysOf(40)
      await store.setMany(
        keys.map((key, i) => ({ key, value: Buffer.from(`v${i}`), ttlMs: i % 2 === 0 ? null : 60_000 + i })),
        o,
      )
      const missing = `${p}missing`
      // Keys of many slots, so on a cluster the batch spans every master; a missing key in the middle.
      const asked = [...keys.slice(0, 20), missing, ...keys.slice(20)]
      const read = await store.getManyWithTtl(asked, o)
      expect(read.length).toBe(asked.length)
      expect(read[20]).toBeNull()
      keys.forEach((key, i) => {
        const entry = read[i < 20 ? i : i + 1]
        expect([key, entry?.value.toString()]).toEqual([key, `v${i}`])
        if (i % 2 === 0) expect(entry?.ttlMs).toBeNull()
        else {
          expect(entry?.ttlMs).toBeGreaterThan(50_000 + i)
          expect(entry?.ttlMs).toBeLessThanOrEqual(60_000 + i)
        }
      })
      expect(await store.getWithTtl(missing, o)).toBeNull()
      expect(await store.getWithTtl(keys[0] as string, o)).toEqual({ value: Buffer.from('v0'), ttlMs: null })
      const one = await store.getWithTtl(keys[1] as string, o)
      expect(one?.value).toEqual(Buffer.from('v1'))
      expect(one?.ttlMs).toBeGreaterThan(50_000)
      expect(await store.getManyWithTtl([], o)).toEqual([])
    })

    it('set applies PX, no expiry for null, and pttl reports -2/-1/ms', async () => {
      fresh()
      await store.set(`${p}ttl`, Buffer.from('x'), 60_000, o)
      await store.set(`${p}forever`, Buffer.from('x'), null, o)
      const left = await store.pttl(`${p}ttl`, o)
      expect(left).toBeGreaterThan(50_000)
      expect(left).toBeLessThanOrEqual(60_000)
      expect(await store.pttl(`${p}forever`, o)).toBe(-1)
      expect(await store.pttl(`${p}missing`, o)).toBe(-2)
    })

    it('expires keys after their TTL', async () => {
      fresh()
      await store.set(`${p}short`, Buffer.from('x'), 30, o)
      await new Promise((r) => setTimeout(r, 80))
      expect(await store.get(`${p}short`, o)).toBeNull()
    })

    it('set with onlyIfAbsent writes only when absent', async () => {
      fresh()
      expect(await store.set(`${p}nx`, Buffer.from('one'), null, { ...o, onlyIfAbsent: true })).toBe(true)
      expect(await store.set(`${p}nx`, Buffer.from('two'), null, { ...o, onlyIfAbsent: true })).toBe(false)
      expect((await store.get(`${p}nx`, o))?.toString()).toBe('one')
    })

    it('getMany/setMany over many keys keep input order, with misses in place', async () => {
      fresh()
      const keys = keysOf(300)
      await store.setMany(
        keys
          .filter((_, i) => i % 3 !== 0)
          .map((key, i) => ({ key, value: Buffer.from(`v-${key}`), ttlMs: i % 2 ? 60_000 : null })),
        o,
      )
      const got = await store.getMany(keys, o)
      expect(got).toHaveLength(keys.length)
      keys.forEach((key, i) => {
        if (i % 3 === 0) expect(got[i]).toBeNull()
        else expect(got[i]?.toString()).toBe(`v-${key}`)
      })
      expect(await store.getMany([], o)).toEqual([])
      const ttls = await Promise.all(keys.slice(1, 3).map((k) => store.pttl(k, o)))
      expect(ttls[0]).toBe(-1)
      expect(ttls[1]).toBeGreaterThan(0)
    })

    it('concurrent single-key calls over many slots all land (auto-pipelined per node)', async () => {
      fresh()
      const keys = keysOf(200, 'conc')
      const written = await Promise.all(
        keys.map((key, i) =>
          store.set(key, Buffer.from(key), i % 2 ? 60_000 : null, { ...o, onlyIfAbsent: i % 3 === 0 }),
        ),
      )
      expect(written).toEqual(keys.map(() => true))
      const counted = await Promise.all(keys.map((key) => store.increment(`${key}:n`, 2, 60_000, o)))
      expect(counted).toEqual(keys.map(() => 2))
      const swapped = await Promise.all(
        keys.map((key) => store.compareAndSet(key, Buffer.from(key), Buffer.from('new'), null, o)),
      )
      expect(swapped).toEqual(keys.map(() => true))
      const dropped = await Promise.all(keys.map((key) => store.compareAndDelete(key, Buffer.from('new'), o)))
      expect(dropped).toEqual(keys.map(() => true))
    })

    it('delete and exists answer per key, in input order', async () => {
      fresh()
      const keys = keysOf(60)
      await store.setMany(
        keys.filter((_, i) => i % 2 === 0).map((key) => ({ key, value: Buffer.from('x'), ttlMs: null })),
        o,
      )
      const expected = keys.map((_, i) => i % 2 === 0)
      expect(await store.exists(keys, o)).toEqual(expected)
      expect(await store.delete(keys, o)).toEqual(expected)
      expect(await store.exists(keys, o)).toEqual(keys.map(() => false))
      expect(await store.delete([], o)).toEqual([])
    })

    it('expire sets, keeps or removes the TTL and reports existence (PERSIST on a persistent key is true)', async () => {
      fresh()
      await store.set(`${p}e`, Buffer.from('x'), null, o)
      expect(await store.expire(`${p}e`, null, o)).toBe(true)
      expect(await store.expire(`${p}e`, 30_000, o)).toBe(true)
      const left = await store.pttl(`${p}e`, o)
      expect(left).toBeGreaterThan(20_000)
      expect(await store.expire(`${p}e`, null, o)).toBe(true)
      expect(await store.pttl(`${p}e`, o)).toBe(-1)
      expect(await store.expire(`${p}missing`, 1000, o)).toBe(false)
      expect(await store.expire(`${p}missing`, null, o)).toBe(false)
    })

    it('increment counts and sets the TTL only when it created the key', async () => {
      fresh()
      expect(await store.increment(`${p}n`, 5, 60_000, o)).toBe(5)
      await store.expire(`${p}n`, 120_000, o)
      expect(await store.increment(`${p}n`, -2, 1000, o)).toBe(3)
      expect(await store.pttl(`${p}n`, o)).toBeGreaterThan(100_000)
      expect(await store.increment(`${p}m`, 1, null, o)).toBe(1)
      expect(await store.pttl(`${p}m`, o)).toBe(-1)
      await store.set(`${p}persist`, Buffer.from('10'), null, o)
      expect(await store.increment(`${p}persist`, 1, 5000, o)).toBe(11)
      expect(await store.pttl(`${p}persist`, o)).toBe(-1)
    })

    it('increment on a non-integer value fails with ERR_COMMAND', async () => {
      fresh()
      await store.set(`${p}s`, Buffer.from('abc'), null, o)
      const error = await store.increment(`${p}s`, 1, null, o).catch((e: unknown) => e)
      expect(isKeyshardError(error, 'ERR_COMMAND')).toBe(true)
    })

    it('increment accepts exactly the stored integers the server accepts, within int64', async () => {
      fresh()
      const key = `${p}int`
      const refused = ['-0', '-00', '00', '007', '+5', ' 5', '5 ', '1.0', '1e3', '0x1', '', '-']
      const outOfRange = ['9223372036854775808', '-9223372036854775809', '99999999999999999999']
      for (const stored of [...refused, ...outOfRange]) {
        await store.set(key, Buffer.from(stored), null, o)
        const error = await store.increment(key, 1, null, o).catch((e: unknown) => e)
        expect([stored, isKeyshardError(error, 'ERR_COMMAND')]).toEqual([stored, true])
        expect((await store.get(key, o))?.toString()).toBe(stored)
      }
      for (const [stored, by, next] of [
        ['0', 1, '1'],
        ['-5', 1, '-4'],
        // Beyond Number.MAX_SAFE_INTEGER the count stays exact in int64.
        ['9007199254740993', 1, '9007199254740994'],
        // The reply is read from the stored count: a Lua number (a double) read back as an integer reply
        // overflows here and turns negative.
        ['9223372036854775806', 1, '9223372036854775807'],
        ['-9223372036854775807', -1, '-9223372036854775808'],
      ] as const) {
        await store.set(key, Buffer.from(stored), null, o)
        expect(await store.increment(key, by, null, o)).toBe(Number(next))
        expect((await store.get(key, o))?.toString()).toBe(next)
      }
      for (const [stored, by] of [
        ['9223372036854775807', 1],
        ['-9223372036854775808', -1],
      ] as const) {
        await store.set(key, Buffer.from(stored), null, o)
        const error = await store.increment(key, by, null, o).catch((e: unknown) => e)
        expect([stored, isKeyshardError(error, 'ERR_COMMAND')]).toEqual([stored, true])
      }
    })

    it('compareAndSet is binary-safe and treats null as "absent"', async () => {
      fresh()
      const a = Buffer.from([0, 1, 2, 255])
      const b = Buffer.from([0, 1, 2, 254])
      expect(await store.compareAndSet(`${p}c`, null, a, null, o)).toBe(true)
      expect(await store.compareAndSet(`${p}c`, null, b, null, o)).toBe(false)
      expect(await store.compareAndSet(`${p}c`, b, b, null, o)).toBe(false)
      expect(await store.get(`${p}c`, o)).toEqual(a)
      expect(await store.compareAndSet(`${p}c`, a, b, 60_000, o)).toBe(true)
      expect(await store.get(`${p}c`, o)).toEqual(b)
      expect(await store.pttl(`${p}c`, o)).toBeGreaterThan(0)
      expect(await store.compareAndSet(`${p}absent`, Buffer.from('x'), b, null, o)).toBe(false)
      expect(await store.exists([`${p}absent`], o)).toEqual([false])
      // The empty value is a value, not absence.
      await store.set(`${p}empty`, Buffer.alloc(0), null, o)
      expect(await store.compareAndSet(`${p}empty`, null, a, null, o)).toBe(false)
      expect(await store.compareAndSet(`${p}empty`, Buffer.alloc(0), a, null, o)).toBe(true)
    })

    it('compareAndDelete deletes only on an exact match', async () => {
      fresh()
      const v = Buffer.from([9, 0, 9])
      await store.set(`${p}d`, v, null, o)
      expect(await store.compareAndDelete(`${p}d`, Buffer.from([9, 0, 8]), o)).toBe(false)
      expect(await store.exists([`${p}d`], o)).toEqual([true])
      expect(await store.compareAndDelete(`${p}d`, v, o)).toBe(true)
      expect(await store.exists([`${p}d`], o)).toEqual([false])
      expect(await store.compareAndDelete(`${p}d`, v, o)).toBe(false)
    })

    it('ensureEpochs stores candidates only when absent and never shortens the TTL', async () => {
      fresh()
      const keys = keysOf(40, 'tag')
      const first = await store.ensureEpochs(
        keys,
        keys.map((_, i) => `c1-${i}`),
        60_000,
        o,
      )
      expect(first).toEqual(keys.map((_, i) => `c1-${i}`))
      const mixed = [...keys.slice(0, 20), ...keysOf(5, 'new')]
      const second = await store.ensureEpochs(
        mixed,
        mixed.map((_, i) => `c2-${i}`),
        120_000,
        o,
      )
      expect(second).toEqual([
        ...keys.slice(0, 20).map((_, i) => `c1-${i}`),
        ...[20, 21, 22, 23, 24].map((i) => `c2-${i}`),
      ])
      // Extended to the longer TTL …
      expect(await store.pttl(keys[0] as string, o)).toBeGreaterThan(100_000)
      // … never shortened by a shorter one.
      await store.ensureEpochs([keys[0] as string], ['zz'], 1000, o)
      expect(await store.pttl(keys[0] as string, o)).toBeGreaterThan(100_000)
      // null makes it persistent.
      await store.ensureEpochs([keys[0] as string], ['zz'], null, o)
      expect(await store.pttl(keys[0] as string, o)).toBe(-1)
      const created = await store.ensureEpochs([`${p}persistent`], ['p1'], null, o)
      expect(created).toEqual(['p1'])
      expect(await store.pttl(`${p}persistent`, o)).toBe(-1)
      expect(await store.ensureEpochs([], [], null, o)).toEqual([])
    })

    it('readEpochs returns current epochs in order, null when absent', async () => {
      fresh()
      const keys = keysOf(50, 'tag')
      await store.ensureEpochs(
        keys.filter((_, i) => i % 2 === 0),
        keys.filter((_, i) => i % 2 === 0).map((k) => `e-${k}`),
        60_000,
        o,
      )
      const read = await store.readEpochs(keys, o)
      expect(read).toEqual(keys.map((k, i) => (i % 2 === 0 ? `e-${k}` : null)))
      expect(await store.readEpochs([], o)).toEqual([])
    })

    it('scan pages through every matching key exactly once', async () => {
      fresh()
      const keys = keysOf(400, 'scan')
      await store.setMany(
        keys.map((key) => ({ key, value: Buffer.from('x'), ttlMs: 60_000 })),
        o,
      )
      await store.set(`${p}other`, Buffer.from('x'), 60_000, o)
      const seen: string[] = []
      let cursor = '0'
      let pages = 0
      do {
        const page = await store.scan(`${p}scan:*`, cursor, 50, o)
        seen.push(...page.keys)
        cursor = page.cursor
        pages++
        expect(pages).toBeLessThan(100_000)
      } while (cursor !== '0')
      expect(pages).toBeGreaterThan(1)
      expect(new Set(seen).size).toBe(seen.length)
      expect([...seen].sort()).toEqual([...keys].sort())
    })

    it('deleteMatching deletes only inside its pattern and returns the count', async () => {
      fresh()
      const inside = keysOf(250, 'in')
      const outside = [...keysOf(30, 'out'), `${p}i`, `${p}inx`]
      await store.setMany(
        [...inside, ...outside].map((key) => ({ key, value: Buffer.from('x'), ttlMs: 60_000 })),
        o,
      )
      expect(await store.deleteMatching(`${p}in:*`, o)).toBe(inside.length)
      expect(await store.exists(inside, o)).toEqual(inside.map(() => false))
      expect(await store.exists(outside, o)).toEqual(outside.map(() => true))
      expect(await store.deleteMatching(`${p}in:*`, o)).toBe(0)
    })

    it('scan and deleteMatching read a glob byte by byte, as the server does', async () => {
      fresh()
      const suffixes = ['a', 'b', '-', ']', '^', '_', '`', '\\', 'x', 'z', 'ax', 'é', 'éx', '€']
      await store.setMany(
        suffixes.map((s) => ({ key: `${p}${s}`, value: Buffer.from('x'), ttlMs: 60_000 })),
        o,
      )
      const scanned = async (glob: string) => {
        const found: string[] = []
        let cursor = '0'
        do {
          const page = await store.scan(`${p}${glob}`, cursor, 100, o)
          found.push(...page.keys.map((k) => k.slice(p.length)))
          cursor = page.cursor
        } while (cursor !== '0')
        return found.sort()
      }
      // `[a-]` is the range `]`..`a`, and the class goes on past that `]`.
      expect(await scanned('[a-]')).toEqual([']', '^', '_', '`', 'a'])
      expect(await scanned('[a-]x')).toEqual([']', '^', '_', '`', 'a', 'x'])
      // `?` and a class match one byte; é is two bytes and € three.
      expect(await scanned('?')).toEqual(['-', '\\', ']', '^', '_', '`', 'a', 'b', 'x', 'z'])
      expect(await scanned('??')).toEqual(['ax', 'é'])
      expect(await scanned('[^a]')).toEqual(['-', '\\', ']', '^', '_', '`', 'b', 'x', 'z'])
      expect(await scanned('[é]')).toEqual([])
      // Range bounds compare as signed bytes, so 0xE2 (€) lies between 0xC3 (é) and `a`.
      expect(await scanned('[a-é]??')).toEqual(['éx', '€'])
      expect(await store.deleteMatching(`${p}[a-]`, o)).toBe(5)
      expect(await scanned('*')).toEqual(['-', '\\', 'ax', 'b', 'x', 'z', 'é', 'éx', '€'])
    })

    it('publishes to subscribers of another store and stops after unsubscribe', async () => {
      fresh()
      const other = await makeStore()
      try {
        const channel = `${p}chan`
        const got: string[] = []
        const links: boolean[] = []
        const unsubscribe = await other.subscribe(
          channel,
          (m) => got.push(m),
          (up) => links.push(up),
        )
        const got2: string[] = []
        const unsubscribe2 = await other.subscribe(channel, (m) => got2.push(m))
        await store.publish(channel, 'hello')
        await store.publish(`${channel}-elsewhere`, 'not for us')
        await waitFor(() => got.length === 1 && got2.length === 1)
        expect(got).toEqual(['hello'])
        await unsubscribe()
        await store.publish(channel, 'second')
        await waitFor(() => got2.length === 2)
        await unsubscribe2()
        await store.publish(channel, 'third')
        await new Promise((r) => setTimeout(r, 100))
        expect(got).toEqual(['hello'])
        expect(got2).toEqual(['hello', 'second'])
        expect(links).toEqual([])
      } finally {
        await other.close()
      }
    })

    it('health reports reachable nodes', async () => {
      const h = await store.health(o)
      expect(h.kind).toBe(kind)
      expect(h.ok).toBe(true)
      expect(h.nodes.length).toBeGreaterThan(0)
      for (const n of h.nodes) expect(n.reachable).toBe(true)
      if (kind === 'cluster') {
        expect(h.clusterState).toBe('ok')
        expect(h.slotsCovered).toBe(16384)
        const masters = h.nodes.filter((n) => n.role === 'master')
        expect(masters.length).toBeGreaterThanOrEqual(3)
        const covered = masters.flatMap((m) => m.slots).reduce((sum, [a, b]) => sum + (b - a + 1), 0)
        expect(covered).toBe(16384)
        for (const n of h.nodes) expect(n.latencyMs).toBeGreaterThanOrEqual(0)
      }
    })

    if (kind === 'cluster') {
      it('bulk operations span every master (keys cover many slots)', async () => {
        fresh()
        const keys = keysOf(200, 'spread')
        const h = await store.health(o)
        const masters = h.nodes.filter((n) => n.role === 'master')
        const ownerOf = (slot: number) =>
          masters.findIndex((m) => m.slots.some(([a, b]) => slot >= a && slot <= b))
        const owners = new Set(keys.map((k) => ownerOf(calculateSlot(k))))
        expect(owners.size).toBe(masters.length)
        expect(new Set(keys.map((k) => calculateSlot(k))).size).toBeGreaterThan(150)
        await store.setMany(
          keys.map((key) => ({ key, value: Buffer.from(key), ttlMs: 60_000 })),
          o,
        )
        expect((await store.getMany(keys, o)).map((b) => b?.toString())).toEqual(keys)
        const tagKeys = keys.map((k) => `${k}:epoch`)
        const epochs = await store.ensureEpochs(
          tagKeys,
          keys.map((k) => `e${k}`),
          60_000,
          o,
        )
        expect(epochs).toEqual(keys.map((k) => `e${k}`))
        expect(await store.readEpochs(tagKeys, o)).toEqual(epochs)
        expect(await store.delete(keys, o)).toEqual(keys.map(() => true))
      })
    }

    it('flushAll empties the store', async () => {
      const isolated = options.makeIsolatedStore
        ? await options.makeIsolatedStore()
        : { store: await makeStore(), dispose: async () => {} }
      try {
        const s = isolated.store
        const keys = Array.from({ length: 50 }, (_, i) => `flush:${i}`)
        await s.setMany(
          keys.map((key) => ({ key, value: Buffer.from('x'), ttlMs: null })),
          o,
        )
        await s.flushAll(o)
        expect(await s.exists(keys, o)).toEqual(keys.map(() => false))
        let cursor = '0'
        const left: string[] = []
        do {
          const page = await s.scan('*', cursor, 100, o)
          left.push(...page.keys)
          cursor = page.cursor
        } while (cursor !== '0')
        expect(left).toEqual([])
        await s.close()
      } finally {
        await isolated.dispose()
      }
    })

    it('close is idempotent and later calls reject with ERR_CLOSED', async () => {
      const s = await makeStore()
      await s.set(`${p}closing`, Buffer.from('x'), 10_000, o)
      await Promise.all([s.close(), s.close()])
      await s.close()
      const error = await s.get(`${p}closing`, o).catch((e: unknown) => e)
      expect(isKeyshardError(error, 'ERR_CLOSED')).toBe(true)
    })
  })
}
