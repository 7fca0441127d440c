import { randomUUID } from 'node:crypto'
import calculateSlot from 'cluster-key-slot'
import { afterAll, describe, expect, it } from 'vitest'
import type { Cache } from '../../src/cache.js'
import { compression } from '../../src/encoders/compression.js'
import { msgpackEncoder } from '../../src/encoders/msgpack.js'
import { rawBufferEncoder, rawStringEncoder } from '../../src/encoders/raw.js'
import { isKeyshardError, KeyshardError } from '../../src/errors.js'
import type { CacheOptions, Encoder, Transformer } from '../../src/types.js'

export type Topology = 'memory' | 'single' | 'cluster'

/**
 * `makeCache` returns a new instance of the same deployment: separate client/connections, same data (for the
 * memory topology, the same store). Each call may add options.
 */
export type CacheFactory = (overrides?: CacheOptions) => Promise<Cache>

const uid = () => randomUUID().slice(0, 8)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A promise the test settles itself, to hold a loader at a chosen point. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

async function expectCode(promise: Promise<unknown> | (() => unknown), code: string): Promise<KeyshardError> {
  try {
    await (typeof promise === 'function' ? promise() : promise)
  } catch (error) {
    expect(isKeyshardError(error), `expected KeyshardError ${code}, got ${String(error)}`).toBe(true)
    expect((error as KeyshardError).code).toBe(code)
    return error as KeyshardError
  }
  throw new Error(`expected ${code}, but the call succeeded`)
}

async function expectRangeError(fn: () => unknown): Promise<void> {
  let caught: unknown
  try {
    await fn()
  } catch (error) {
    caught = error
  }
  expect(caught).toBeInstanceOf(RangeError)
}

/** On a cluster, the keys must span all three masters, so the test exercises every shard. */
async function expectOnEveryMaster(
  cache: Cache,
  ns: { fullKey(key: string): string },
  keys: string[],
): Promise<void> {
  if (cache.store.kind !== 'cluster') return
  const health = await cache.health()
  const owners = new Set<string>()
  for (const key of keys) {
    const slot = calculateSlot(ns.fullKey(key))
    const owner = health.nodes.find(
      (n) => n.role === 'master' && n.slots.some(([a, b]) => slot >= a && slot <= b),
    )
    if (owner) owners.add(owner.address)
  }
  expect(owners.size).toBe(3)
}

export function cacheContract(topology: Topology, makeCache: CacheFactory): void {
  describe(`cache contract: ${topology}`, () => {
    const opened: Cache[] = []
    const open = async (overrides?: CacheOptions) => {
      const cache = await makeCache(overrides)
      opened.push(cache)
      return cache
    }
    afterAll(async () => {
      await Promise.all(opened.map((c) => c.close()))
    })

    describe('get / set / has / delete', () => {
      it('stores, reads, reports presence and deletes', async () => {
        const ns = (await open()).namespace<{ n: number }>(`basic${uid()}`)
        expect(await ns.get('a')).toBeUndefined()
        expect(await ns.has('a')).toBe(false)
        await ns.set('a', { n: 1 })
        expect(await ns.get('a')).toEqual({ n: 1 })
        expect(await ns.has('a')).toBe(true)
        expect(await ns.delete('a')).toBe(true)
        expect(await ns.delete('a')).toBe(false)
        expect(await ns.get('a')).toBeUndefined()
      })

      it('keeps namespaces apart on one client', async () => {
        const cache = await open()
        const id = uid()
        const a = cache.namespace(`a${id}`)
        const b = cache.namespace(`b${id}`)
        await a.set('k', 'from a')
        expect(await b.get('k')).toBeUndefined()
        expect(await a.get('k')).toBe('from a')
      })

      it('emits hit, miss, set, delete and invalidate events', async () => {
        const cache = await open()
        const name = `ev${uid()}`
        const ns = cache.namespace(name)
        const seen: string[] = []
        for (const event of ['hit', 'miss', 'set', 'delete', 'invalidate'] as const) {
          cache.on(event, (p) => {
            if (p.namespace === name) seen.push(event)
          })
        }
        await ns.get('x')
        await ns.set('x', 1, { tags: ['t'] })
        await ns.get('x')
        await ns.invalidateTag('t')
        await ns.delete('x')
        expect(seen).toEqual(['miss', 'set', 'hit', 'invalidate', 'delete'])
      })

      it('getMany reports a hit or a miss for each key, with the key', async () => {
        const cache = await open()
        const name = `evm${uid()}`
        const ns = cache.namespace(name)
        await ns.setMany([
          { key: 'a', value: 1 },
          { key: 'c', value: 3 },
        ])
        const misses: string[] = []
        const onMiss = (p: { namespace: string; key: string }) => {
          if (p.namespace === name) misses.push(p.key)
        }
        cache.on('miss', onMiss)
        expect(await ns.getMany(['a', 'b', 'c', 'd'])).toStrictEqual([1, undefined, 3, undefined])
        expect(misses).toEqual(['b', 'd'])
        cache.off('miss', onMiss)
        const hits: Array<[string, string]> = []
        cache.on('hit', (p) => {
          if (p.namespace === name) hits.push([p.key, p.tier])
        })
        await ns.getMany(['a', 'b', 'c'])
        expect(hits).toEqual([
          ['a', 'l2'],
          ['c', 'l2'],
        ])
        expect(misses).toEqual(['b', 'd'])
      })
    })

    describe('values', () => {
      const sample = {
        date: new Date('2026-01-02T03:04:05.678Z'),
        buffer: Buffer.from([0, 1, 2, 255]),
        bytes: new Uint8Array([9, 8, 7]),
        map: new Map<unknown, unknown>([
          ['a', 1],
          [2, { b: [3] }],
        ]),
        set: new Set(['x', 'y']),
        big: 12345678901234567890n,
        nested: { deep: { arr: [1, 'two', null, { three: 3 }] } },
        nothing: null,
        text: 'héllo — 世界 🎉',
      }
      const encoders: Array<[string, Encoder | undefined]> = [
        ['default (rich JSON)', undefined],
        ['msgpack', msgpackEncoder],
      ]
      for (const [label, encoder] of encoders) {
        for (const transformers of [[], [compression({ threshold: 64 })]] as Transformer[][]) {
          it(`round-trips every value type with ${label}${transformers.length ? ' + compression' : ''}`, async () => {
            const ns = (await open()).namespace(`val${uid()}`, {
              ...(encoder ? { encoder } : {}),
              transformers,
            })
            await ns.set('sample', sample)
            expect(await ns.get('sample')).toEqual(sample)
            const big = { text: 'x'.repeat(10_000), when: new Date(0) }
            await ns.set('big', big)
            expect(await ns.get('big')).toEqual(big)
            await ns.set('null', null)
            expect(await ns.get('null')).toBeNull()
            expect(await ns.has('null')).toBe(true)
          })
        }
      }

      it('stores raw strings and buffers byte for byte, for clients in other languages', async () => {
        const cache = await open()
        const name = `raw${uid()}`
        const text = cache.namespace<string>(name, { encoder: rawStringEncoder })
        await text.set('greeting', 'hello, wörld')
        expect(await cache.store.get(text.fullKey('greeting'), { timeoutMs: 2000 })).toEqual(
          Buffer.from('hello, wörld'),
        )
        await cache.store.set(text.fullKey('from-go'), Buffer.from('written elsewhere'), null, {
          timeoutMs: 2000,
        })
        expect(await text.get('from-go')).toBe('written elsewhere')
        const bytes = cache.namespace<Buffer>(name, { encoder: rawBufferEncoder })
        await bytes.set('bin', Buffer.from([0, 200, 13]))
        expect(await bytes.get('bin')).toEqual(Buffer.from([0, 200, 13]))
      })

      it('rejects unencodable values with ERR_ENCODE and writes nothing', async () => {
        const ns = (await open()).namespace(`enc${uid()}`)
        const circular: Record<string, unknown> = { a: 1 }
        circular.self = circular
        for (const [i, bad] of [() => 1, Symbol('s'), circular, undefined].entries()) {
          await expectCode(ns.set(`k${i}`, bad as unknown), 'ERR_ENCODE')
          await expectCode(ns.set(`t${i}`, bad as unknown, { tags: ['tg'] }), 'ERR_ENCODE')
        }
        await expectCode(
          ns.setMany([
            { key: 'ok', value: 1 },
            { key: 'bad', value: () => 1 },
          ]),
          'ERR_ENCODE',
        )
        expect((await ns.keys()).keys).toEqual([])
      })

      it('refuses lone surrogates in raw-string and MessagePack values with ERR_ENCODE; rich JSON keeps them', async () => {
        const cache = await open()
        const name = `lonev${uid()}`
        const long = `${'x'.repeat(5000)}\uD800`
        const raw = cache.namespace<string>(name, { encoder: rawStringEncoder })
        for (const value of ['a\uD800', '\uDC00', long]) await expectCode(raw.set('k', value), 'ERR_ENCODE')
        const msgpack = cache.namespace(`${name}m`, { encoder: msgpackEncoder })
        const values = [
          'a\uD800',
          long,
          { text: '\uDC00' },
          { 'k\uD800': 1 },
          new Map([['\uD800', 1]]),
          [new Error('\uDC00')],
        ]
        for (const value of values) {
          await expectCode(msgpack.set('k', value), 'ERR_ENCODE')
          await expectCode(msgpack.set('t', value, { tags: ['tg'] }), 'ERR_ENCODE')
        }
        expect((await raw.keys()).keys).toEqual([])
        expect((await msgpack.keys()).keys).toEqual([])
        const json = cache.namespace(`${name}j`)
        const kept = { text: 'a\uD800', 'k\uDC00': [long], map: new Map([['\uD800', '\uDC00']]) }
        await json.set('k', kept)
        expect(await json.get('k')).toEqual(kept)
      })

      it('rejects values over maxValueBytes with ERR_VALUE_TOO_LARGE and writes nothing', async () => {
        const ns = (await open({ maxValueBytes: 1024 })).namespace(`big${uid()}`)
        const error = await expectCode(ns.set('big', 'x'.repeat(2000)), 'ERR_VALUE_TOO_LARGE')
        expect(error.message).toMatch(/1024/)
        expect(await ns.get('big')).toBeUndefined()
        await ns.set('small', 'x'.repeat(100))
        expect(await ns.get('small')).toBe('x'.repeat(100))
      })

      it('treats an undecodable stored value as a miss, reports it and removes it', async () => {
        const cache = await open()
        const ns = cache.namespace(`dec${uid()}`)
        const errors: KeyshardError[] = []
        cache.on('error', (e) => errors.push(e.error))
        const full = ns.fullKey('corrupt')
        await cache.store.set(full, Buffer.from([0x00, 0x4b, 0x53, 0x01, 0xff, 0xff]), null, {
          timeoutMs: 2000,
        })
        await expect(ns.get('corrupt')).resolves.toBeUndefined()
        expect(errors.map((e) => e.code)).toContain('ERR_DECODE')
        await expect.poll(() => cache.store.get(full, { timeoutMs: 2000 })).toBeNull()
        await cache.store.set(ns.fullKey('json'), Buffer.from('{not json'), null, { timeoutMs: 2000 })
        await expect(ns.get('json')).resolves.toBeUndefined()
      })

      it('treats stored text that is not UTF-8 as undecodable, never as U+FFFD (rich JSON, MessagePack)', async () => {
        const cache = await open()
        const errors: KeyshardError[] = []
        cache.on('error', (e) => errors.push(e.error))
        const id = uid()
        const stored: Array<[string, Encoder | undefined, Buffer]> = [
          ['a JSON string holding 0xff', undefined, Buffer.from([0x22, 0xff, 0x22])],
          [
            'a JSON string holding an encoded surrogate',
            undefined,
            Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]),
          ],
          ['a MessagePack string holding 0xff', msgpackEncoder, Buffer.from([0xa1, 0xff])],
          ['a MessagePack key cut inside a character', msgpackEncoder, Buffer.from([0x81, 0xa1, 0xc3, 0x01])],
        ]
        for (const [i, [label, encoder, bytes]] of stored.entries()) {
          const ns = cache.namespace(`utf${id}${i}`, encoder ? { encoder } : {})
          await cache.store.set(ns.fullKey('k'), bytes, null, { timeoutMs: 2000 })
          errors.length = 0
          expect(await ns.get('k'), label).toBeUndefined()
          expect(
            errors.map((e) => e.code),
            label,
          ).toEqual(['ERR_DECODE'])
        }
      })

      it('lets setIfAbsent and compute replace an undecodable stored value', async () => {
        const cache = await open()
        const ns = cache.namespace<string>(`dec${uid()}`)
        const corrupt = () => Buffer.from('{not json')
        await cache.store.set(ns.fullKey('a'), corrupt(), null, { timeoutMs: 2000 })
        await cache.store.set(ns.fullKey('c'), corrupt(), null, { timeoutMs: 2000 })
        expect(await ns.setIfAbsent('a', 'written')).toBe(true)
        expect(await ns.get('a')).toBe('written')
        expect(await ns.compute('c', (current) => (current === undefined ? 'computed' : 'no'))).toBe(
          'computed',
        )
        expect(await ns.get('c')).toBe('computed')
      })
    })

    describe('keys', () => {
      it('refuses empty, non-string and oversized keys with ERR_KEY', async () => {
        const ns = (await open()).namespace(`keys${uid()}`)
        await expectCode(() => ns.get(''), 'ERR_KEY')
        await expectCode(() => ns.set(42 as unknown as string, 1), 'ERR_KEY')
        await expectCode(() => ns.set('x'.repeat(65 * 1024), 1), 'ERR_KEY')
        await expectCode(() => ns.getMany(['ok', '']), 'ERR_KEY')
        await expectCode(
          () =>
            ns.setMany([
              { key: 'ok', value: 1 },
              { key: '', value: 2 },
            ]),
          'ERR_KEY',
        )
        expect((await ns.keys()).keys).toEqual([])
      })

      it('refuses braces in namespaces and prefixes, and reserved namespace names', async () => {
        const cache = await open()
        await expectCode(() => cache.namespace('{users}'), 'ERR_CONFIG')
        await expectCode(() => cache.namespace('__t'), 'ERR_CONFIG')
        await expectCode(() => cache.namespace('user:profile'), 'ERR_CONFIG')
        await expectCode(() => makeCache({ prefix: 'app{1}:' }), 'ERR_CONFIG')
      })

      it('routes user hash tags as Valkey does and reads them back together', async () => {
        const ns = (await open()).namespace(`ht${uid()}`)
        await ns.setMany([
          { key: '{user:1}:profile', value: 'p' },
          { key: '{user:1}:settings', value: 's' },
        ])
        expect(calculateSlot(ns.fullKey('{user:1}:profile'))).toBe(
          calculateSlot(ns.fullKey('{user:1}:settings')),
        )
        expect(await ns.getMany(['{user:1}:profile', '{user:1}:settings'])).toStrictEqual(['p', 's'])
      })

      it('treats an empty first hash tag as none, as Valkey does, in single-key and batch calls', async () => {
        const ns = (await open()).namespace(`eh${uid()}`)
        // Valkey hashes the whole of the first key; a client that hashed 'b{c' for both would batch them together.
        const keys = ['a{}b{c}', '{b{c}', 'x{}{y}']
        for (const [i, key] of keys.entries()) await ns.set(key, i)
        expect(await Promise.all(keys.map((k) => ns.get(k)))).toEqual([0, 1, 2])
        expect(await ns.getMany([...keys, 'none{}{z}'])).toStrictEqual([0, 1, 2, undefined])
        expect(await ns.deleteMany(keys)).toEqual([true, true, true])
        expect(await ns.getMany(keys)).toStrictEqual([undefined, undefined, undefined])
      })

      // A client sends a lone surrogate as U+FFFD: on a server 'a\uD800' and 'a\uDC00' would be one key (and
      // one tag), while the memory store and the L1 tier keep them apart.
      it('refuses keys, tags, patterns and names with lone surrogates everywhere, writing nothing', async () => {
        const cache = await open()
        const ns = cache.namespace(`lone${uid()}`)
        const withL1 = (await open({ l1: { maxEntries: 10 } })).namespace(ns.name)
        const loader = async () => 1
        for (const bad of ['a\uD800', '\uDC00', 'b\uDC00\uD800c', `${'x'.repeat(5000)}\uD800`]) {
          const calls: Array<[string, () => unknown]> = [
            ['get', () => ns.get(bad)],
            ['set', () => ns.set(bad, 1)],
            ['has', () => ns.has(bad)],
            ['delete', () => ns.delete(bad)],
            ['ttl', () => ns.ttl(bad)],
            ['expire', () => ns.expire(bad, '1m')],
            ['increment', () => ns.increment(bad)],
            ['setIfAbsent', () => ns.setIfAbsent(bad, 1)],
            ['compute', () => ns.compute(bad, () => 1)],
            ['getOrSet', () => ns.getOrSet(bad, loader)],
            ['getMany', () => ns.getMany(['ok', bad])],
            ['hasMany', () => ns.hasMany(['ok', bad])],
            ['deleteMany', () => ns.deleteMany(['ok', bad])],
            [
              'setMany',
              () =>
                ns.setMany([
                  { key: 'ok', value: 1 },
                  { key: bad, value: 2 },
                ]),
            ],
            ['getManyOrSet', () => ns.getManyOrSet(['ok', bad], async (keys) => keys.map(() => 1))],
            ['set with a tag', () => ns.set('k', 1, { tags: ['ok', bad] })],
            ['setMany with a tag', () => ns.setMany([{ key: 'k', value: 1, tags: [bad] }])],
            ['setIfAbsent with a tag', () => ns.setIfAbsent('k', 1, { tags: [bad] })],
            ['compute with a tag', () => ns.compute('k', () => 1, { tags: [bad] })],
            ['getOrSet with a tag', () => ns.getOrSet('k', loader, { tags: [bad] })],
            ['set with a tag and L1', () => withL1.set('k', 1, { tags: [bad] })],
            ['invalidateTag', () => ns.invalidateTag(bad)],
            ['invalidateTags', () => ns.invalidateTags(['ok', bad])],
            ['deletePattern', () => ns.deletePattern(`${bad}*`)],
            ['keys', () => ns.keys({ match: `${bad}*` })],
          ]
          for (const [name, call] of calls) {
            const error = await expectCode(call, 'ERR_KEY').catch((e: unknown) => {
              throw new Error(`${name}: ${String(e)}`)
            })
            expect(error.message, name).toMatch(/lone surrogate/)
          }
        }
        for (const bad of ['a\uD800', '\uDC00']) {
          expect((await expectCode(() => cache.namespace(`n${bad}`), 'ERR_CONFIG')).message).toMatch(/lone/)
          expect((await expectCode(() => makeCache({ prefix: `p${bad}:` }), 'ERR_CONFIG')).message).toMatch(
            /lone/,
          )
        }
        expect((await ns.keys()).keys).toEqual([])
        expect(await ns.get('k')).toBeUndefined()
      })

      it('refuses a keys() cursor it did not hand out with ERR_COMMAND, an earlier format included', async () => {
        const ns = (await open()).namespace(`cursor${uid()}`)
        await ns.setMany(['a', 'b'].map((key) => ({ key, value: key })))
        // '0:12' is how cursors looked before they named their master; 'a@b' names no node cursor.
        for (const cursor of ['0:12', 'a@b', 'x y']) {
          const error = await expectCode(ns.keys({ cursor }), 'ERR_COMMAND')
          expect(error.message).toContain(cursor)
        }
        expect(await ns.getMany(['a', 'b'])).toStrictEqual(['a', 'b'])
      })

      it('stores keys, tags and patterns with U+FFFD and astral characters as given', async () => {
        const ns = (await open()).namespace(`astral${uid()}`)
        const keys = ['a\uFFFD', 'a\uD83D\uDE00', '\uD83D\uDE00:\uFFFD', '日本']
        await ns.setMany(keys.map((key, i) => ({ key, value: i, tags: [`t${key}`] })))
        expect(await ns.getMany(keys)).toStrictEqual([0, 1, 2, 3])
        const listed: string[] = []
        let cursor: string | undefined
        do {
          const page = await ns.keys({ match: 'a*', ...(cursor ? { cursor } : {}) })
          listed.push(...page.keys)
          cursor = page.cursor
        } while (cursor !== undefined)
        expect(listed.sort()).toEqual(['a\uD83D\uDE00', 'a\uFFFD'])
        await ns.invalidateTag('t\uD83D\uDE00:\uFFFD')
        expect(await ns.getMany(keys)).toStrictEqual([0, 1, undefined, 3])
        expect(await ns.deletePattern('a\uFFFD')).toBe(1)
        expect(await ns.getMany(keys)).toStrictEqual([undefined, 1, undefined, 3])
      })
    })

    describe('TTL', () => {
      it('expires entries, reports remaining TTL and honours null as no expiry', async () => {
        const ns = (await open()).namespace(`ttl${uid()}`, { defaultTtl: '10m' })
        await ns.set('short', 1, { ttl: 80 })
        await ns.set('forever', 2, { ttl: null })
        await ns.set('default', 3)
        const remaining = await ns.ttl('default')
        expect(remaining).toBeGreaterThan(9 * 60_000)
        expect(remaining).toBeLessThanOrEqual(10 * 60_000)
        expect(await ns.ttl('forever')).toBeNull()
        expect(await ns.ttl('missing')).toBeUndefined()
        await sleep(200)
        expect(await ns.get('short')).toBeUndefined()
        expect(await ns.get('forever')).toBe(2)
      })

      it('accepts duration strings and changes TTL with expire()', async () => {
        const ns = (await open()).namespace(`exp${uid()}`)
        await ns.set('k', 1, { ttl: '1h' })
        expect(await ns.ttl('k')).toBeGreaterThan(59 * 60_000)
        expect(await ns.expire('k', '2s')).toBe(true)
        expect(await ns.ttl('k')).toBeLessThanOrEqual(2000)
        expect(await ns.expire('k', null)).toBe(true)
        expect(await ns.ttl('k')).toBeNull()
        expect(await ns.expire('missing', '1s')).toBe(false)
      })

      it('uses the cache default of one hour', async () => {
        const ns = (await open()).namespace(`def${uid()}`)
        await ns.set('k', 1)
        const ttl = (await ns.ttl('k')) as number
        expect(ttl).toBeGreaterThan(3_590_000)
        expect(ttl).toBeLessThanOrEqual(3_600_000)
      })

      it('throws RangeError for negative, NaN, zero and sub-millisecond TTLs, writing nothing', async () => {
        const ns = (await open()).namespace(`bad${uid()}`)
        for (const ttl of [-1, Number.NaN, 0, 0.5, 'soon', '-5s']) {
          await expectRangeError(() => ns.set('k', 1, { ttl }))
        }
        await expectRangeError(() => ns.increment('n', 1, { ttl: -5 }))
        await expectRangeError(() => ns.expire('k', -1))
        expect(await ns.get('k')).toBeUndefined()
        expect(await ns.get('n')).toBeUndefined()
      })
    })

    describe('L1 tier', () => {
      it('never serves an entry from L1 past its TTL, whoever wrote it and whichever read filled it', async () => {
        // The reader holds L1 copies for up to a minute; the entries live 2.5 s. The writer has no L1 and
        // publishes nothing, like another application or an older deployment writing the same keys.
        const [reader, writer] = await Promise.all([open({ l1: { ttl: '1m' } }), open()])
        const name = `l1ttl${uid()}`
        const ns = reader.namespace<unknown>(name)
        const raw = reader.namespace<string>(`${name}raw`, { encoder: rawStringEncoder })
        const elsewhere = writer.namespace<unknown>(name)
        // Room for the ≈ 20 round trips before the sleep on a loaded machine.
        const ttl = 2500
        await ns.set('set', 'a', { ttl })
        await ns.setMany([{ key: 'setMany', value: 'b', ttl }])
        await ns.increment('increment', 3, { ttl })
        await elsewhere.set('elsewhere', 'c', { ttl })
        await elsewhere.getOrSet('loaded', () => 'd', { ttl })
        await elsewhere.set('readThrough', 'f', { ttl })
        await raw.set('bare', 'e', { ttl })
        const viaGet = ['set', 'increment', 'loaded']
        const viaGetMany = ['setMany', 'elsewhere']
        const keys = [...viaGet, ...viaGetMany, 'readThrough']
        const l1Hits: string[] = []
        reader.on('hit', ({ key, tier }) => {
          if (tier === 'l1') l1Hits.push(key)
        })
        const values = ['a', 3, 'd', 'b', 'c', 'f']
        for (const key of viaGet) await ns.get(key)
        await ns.getMany(viaGetMany)
        // A getOrSet hit on an entry that records no expiry of its own fills L1 too.
        expect(await ns.getOrSet('readThrough', () => 'loader')).toBe('f')
        await raw.get('bare')
        // Served from L1 now: the fills above did happen.
        expect(await ns.getMany(keys)).toStrictEqual(values)
        expect(await raw.get('bare')).toBe('e')
        expect(l1Hits.sort()).toEqual([...keys, 'bare'].sort())

        await sleep(ttl + 300)
        expect(await ns.ttl('set')).toBeUndefined()
        for (const key of keys) expect(await ns.get(key), key).toBeUndefined()
        expect(await ns.getMany(keys)).toStrictEqual(keys.map(() => undefined))
        expect(await raw.get('bare')).toBeUndefined()
      })
    })

    describe('tags', () => {
      it('invalidates a tag across every shard and leaves other tags alone', async () => {
        const cache = await open()
        const ns = cache.namespace<number>(`tag${uid()}`)
        const keys = Array.from({ length: 60 }, (_, i) => `item:${i}`)
        await ns.setMany(
          keys.map((key, i) => ({ key, value: i, tags: i % 2 === 0 ? ['even', 'all'] : ['odd', 'all'] })),
        )
        await expectOnEveryMaster(cache, ns, keys)
        await ns.invalidateTag('even')
        const after = await ns.getMany(keys)
        after.forEach((v, i) => {
          expect(v).toBe(i % 2 === 0 ? undefined : i)
        })
        expect(await ns.has('item:0')).toBe(false)
        expect(await ns.has('item:1')).toBe(true)
        expect(await ns.ttl('item:0')).toBeUndefined()
        await ns.invalidateTags(['odd', 'nothing-tagged'])
        expect((await ns.getMany(keys)).every((v) => v === undefined)).toBe(true)
        await ns.set('item:0', 100, { tags: ['even'] })
        expect(await ns.get('item:0')).toBe(100)
      })

      it('an invalidation on one instance hides entries written by another', async () => {
        const a = await open()
        const b = await open()
        const name = `tagx${uid()}`
        await a.namespace(name).set('k', 'v', { tags: ['shared'] })
        expect(await b.namespace(name).get('k')).toBe('v')
        await b.namespace(name).invalidateTag('shared')
        expect(await a.namespace(name).get('k')).toBeUndefined()
      })

      it('never leaves a stale entry readable when sets race invalidations (30 rounds, two instances)', async () => {
        const a = await open()
        const b = await open()
        const name = `race${uid()}`
        for (let round = 0; round < 30; round++) {
          const tag = `r${round}`
          const instances = [a.namespace(name), b.namespace(name)]
          const resolvedBeforeInvalidate = new Set<string>()
          const issuedBeforeOnSameInstance = new Set<string>()
          let invalidating = false
          const writes: Promise<void>[] = []
          const invalidator = instances[round % 2]!
          let invalidation: Promise<void> | undefined
          for (let i = 0; i < 40; i++) {
            const key = `${round}:${i}`
            const ns = instances[i % 2]!
            if (!invalidating && ns === invalidator) issuedBeforeOnSameInstance.add(key)
            writes.push(
              ns.set(key, i, { tags: [tag] }).then(() => {
                if (!invalidating) resolvedBeforeInvalidate.add(key)
              }),
            )
            if (i === 20 + (round % 10)) {
              invalidating = true
              invalidation = invalidator.invalidateTag(tag)
            }
            if (i % 7 === 0) await sleep(0)
          }
          await Promise.all([...writes, invalidation])
          const keys = Array.from({ length: 40 }, (_, i) => `${round}:${i}`)
          const values = await a.namespace(name).getMany(keys)
          for (const [i, key] of keys.entries()) {
            if (resolvedBeforeInvalidate.has(key) || issuedBeforeOnSameInstance.has(key)) {
              expect(values[i], `round ${round}: ${key} was written before the invalidation`).toBeUndefined()
            }
          }
          // Writes after the invalidation resolved are live: invalidation does not poison the tag.
          await b.namespace(name).set(`${round}:after`, 1, { tags: [tag] })
          expect(await a.namespace(name).get(`${round}:after`)).toBe(1)
        }
      })

      it('keeps tag bookkeeping no longer than its entries need', async () => {
        const cache = await open()
        const ns = cache.namespace(`tagttl${uid()}`)
        await ns.set('k', 1, { ttl: 1000, tags: ['ephemeral'] })
        const epochKeys = (
          await cache.store.scan(`${cache.options.prefix}__t:${ns.name}:*`, '0', 1000, { timeoutMs: 2000 })
        ).keys
        // The scan may need more pages on a cluster; collect them all.
        const all = new Set(epochKeys)
        let cursor = '0'
        do {
          const page = await cache.store.scan(`${cache.options.prefix}__t:${ns.name}:*`, cursor, 1000, {
            timeoutMs: 2000,
          })
          for (const k of page.keys) all.add(k)
          cursor = page.cursor
        } while (cursor !== '0')
        expect([...all]).toHaveLength(1)
        const pttl = await cache.store.pttl([...all][0]!, { timeoutMs: 2000 })
        expect(pttl).toBeGreaterThan(1000)
        expect(pttl).toBeLessThanOrEqual(1000 + 60_000)
      })

      it('rejects bad tags with ERR_KEY and writes nothing', async () => {
        const ns = (await open()).namespace(`badtag${uid()}`)
        await expectCode(() => ns.set('k', 1, { tags: [''] }), 'ERR_KEY')
        await expectCode(() => ns.set('k', 1, { tags: [42 as unknown as string] }), 'ERR_KEY')
        await expectCode(() => ns.set('k', 1, { tags: 'solo' as unknown as string[] }), 'ERR_KEY')
        expect(await ns.get('k')).toBeUndefined()
      })
    })

    describe('bulk', () => {
      it('getMany / setMany / hasMany / deleteMany over keys from every slot, in input order', async () => {
        const cache = await open()
        const ns = cache.namespace<string>(`bulk${uid()}`)
        const keys = Array.from({ length: 300 }, (_, i) => `k${i}`)
        await ns.setMany(keys.filter((_, i) => i % 3 !== 0).map((key) => ({ key, value: `v:${key}` })))
        await expectOnEveryMaster(cache, ns, keys)
        const values = await ns.getMany(keys)
        values.forEach((v, i) => {
          expect(v).toBe(i % 3 === 0 ? undefined : `v:k${i}`)
        })
        const present = await ns.hasMany(keys)
        present.forEach((p, i) => {
          expect(p).toBe(i % 3 !== 0)
        })
        const deleted = await ns.deleteMany(keys)
        deleted.forEach((d, i) => {
          expect(d).toBe(i % 3 !== 0)
        })
        expect((await ns.getMany(keys)).every((v) => v === undefined)).toBe(true)
      })

      it('setMany honours per-entry TTL and tags', async () => {
        const ns = (await open()).namespace(`bulkttl${uid()}`)
        await ns.setMany([
          { key: 'a', value: 1, ttl: 60 },
          { key: 'b', value: 2, ttl: null, tags: ['x'] },
          { key: 'c', value: 3, tags: ['y'] },
        ])
        expect(await ns.ttl('b')).toBeNull()
        await ns.invalidateTag('x')
        await sleep(150)
        expect(await ns.getMany(['a', 'b', 'c'])).toStrictEqual([undefined, undefined, 3])
      })
    })

    describe('atomic', () => {
      it('increment creates with a TTL once and does not extend it', async () => {
        const ns = (await open()).namespace(`inc${uid()}`)
        expect(await ns.increment('n', 1, { ttl: '2s' })).toBe(1)
        const first = (await ns.ttl('n')) as number
        await sleep(50)
        expect(await ns.increment('n', 5, { ttl: '1h' })).toBe(6)
        const second = (await ns.ttl('n')) as number
        expect(first).toBeLessThanOrEqual(2000)
        expect(second).toBeLessThan(first)
        expect(await ns.get('n')).toBe(6)
        expect(await ns.increment('n', -10)).toBe(-4)
        await expectRangeError(() => ns.increment('n', 1.5))
        await ns.set('text', 'abc')
        await expect(ns.increment('text')).rejects.toBeInstanceOf(KeyshardError)
      })

      it('reads counters back through every encoder that reads their text; MessagePack refuses them, writing nothing', async () => {
        const cache = await open()
        const id = uid()
        const plainJson: Encoder = {
          name: 'plain-json',
          encode: (value) => JSON.stringify(value),
          decode: (bytes) => JSON.parse(bytes.toString('utf8')),
        }
        const readers: Array<[string, { encoder?: Encoder; transformers?: Transformer[] }, unknown]> = [
          ['default (rich JSON)', {}, 12],
          ['rich JSON + compression', { transformers: [compression({ threshold: 1 })] }, 12],
          ['a custom JSON encoder', { encoder: plainJson }, 12],
          ['raw-string', { encoder: rawStringEncoder }, '12'],
          ['raw-buffer', { encoder: rawBufferEncoder }, Buffer.from('12')],
        ]
        for (const [i, [label, options, expected]] of readers.entries()) {
          const ns = cache.namespace<unknown>(`ctr${i}${id}`, options)
          expect(await ns.increment('n', 5), label).toBe(5)
          expect(await ns.increment('n', 7), label).toBe(12)
          expect(await ns.get('n'), label).toEqual(expected)
          expect(await ns.increment('n'), `${label}: the read kept the counter`).toBe(13)
        }
        // MessagePack would read the text "5" as 53, and fail to read (and so remove) "12".
        const packed = cache.namespace<number>(`ctrpacked${id}`, { encoder: msgpackEncoder })
        await expectCode(() => packed.increment('n', 5), 'ERR_ENCODE')
        expect(await cache.store.get(packed.fullKey('n'), { timeoutMs: 2000 })).toBeNull()
      })

      it('setIfAbsent writes only when absent, treating a tag-invalidated entry as absent', async () => {
        const ns = (await open()).namespace(`nx${uid()}`)
        expect(await ns.setIfAbsent('k', 'first', { ttl: '1m', tags: ['t'] })).toBe(true)
        expect(await ns.setIfAbsent('k', 'second')).toBe(false)
        expect(await ns.get('k')).toBe('first')
        await ns.invalidateTag('t')
        expect(await ns.setIfAbsent('k', 'third')).toBe(true)
        expect(await ns.get('k')).toBe('third')
      })

      it('compute serialises concurrent read-modify-writes across instances', async () => {
        const name = `cas${uid()}`
        const instances = [await open({ maxComputeRetries: 100 }), await open({ maxComputeRetries: 100 })]
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            instances[i % 2]!.namespace<number>(name).compute('counter', (n) => (n ?? 0) + 1),
          ),
        )
        expect(await instances[0]!.namespace<number>(name).get('counter')).toBe(20)
      })

      it('compute gives up with ERR_CONFLICT after maxComputeRetries', async () => {
        const cache = await open({ maxComputeRetries: 3 })
        const ns = cache.namespace<number>(`conflict${uid()}`)
        await ns.set('k', 0)
        let calls = 0
        await expectCode(
          ns.compute('k', async (n) => {
            calls++
            await ns.set('k', 1000 + calls) // somebody else writes in between, every time
            return (n ?? 0) + 1
          }),
          'ERR_CONFLICT',
        )
        expect(calls).toBe(4)
        expect(await ns.get('k')).toBe(1004)
      })
    })

    describe('read-through', () => {
      for (const l1 of [false, true]) {
        it(`never leaves a getOrSet load that began before invalidateTag resolved readable${l1 ? ' (with L1)' : ''}`, async () => {
          const cache = await open(l1 ? { l1: { maxEntries: 100 } } : {})
          const ns = cache.namespace<string>(`rtrace${uid()}`)
          const loading = gate()
          const release = gate()
          const pending = ns.getOrSet(
            'user:1',
            async () => {
              const row = 'old row' // read from the source before the update below
              loading.open()
              await release.promise
              return row
            },
            { tags: ['user:1'] },
          )
          await loading.promise
          // The application updates the row, then invalidates its tag; the invalidation resolves mid-load.
          await ns.invalidateTag('user:1')
          release.open()
          expect(await pending).toBe('old row')
          expect(await ns.get('user:1')).toBeUndefined()
          expect(await (await open()).namespace<string>(ns.name).get('user:1')).toBeUndefined()
          expect(await ns.getOrSet('user:1', () => 'new row', { tags: ['user:1'] })).toBe('new row')
        })
      }

      for (const l1 of [false, true]) {
        it(`does not serve a stale value whose tag was invalidated while the loader ran, when the loader fails${l1 ? ' (with L1)' : ''}`, async () => {
          const cache = await open(l1 ? { l1: { maxEntries: 100 } } : {})
          const ns = cache.namespace<string>(`rtstaleerr${uid()}`)
          const served: string[] = []
          cache.on('stale', (e) => {
            if (e.namespace === ns.name) served.push(e.reason)
          })
          const opts = { ttl: 20, grace: '1m', tags: ['user:1'] }
          await ns.getOrSet('user:1', () => 'old row', opts)
          await sleep(40) // logically expired, still inside grace: a failing loader would be answered with it
          class SourceDown extends Error {}
          const loading = gate()
          const release = gate()
          const pending = ns
            .getOrSet(
              'user:1',
              async () => {
                loading.open()
                await release.promise
                throw new SourceDown('source down')
              },
              opts,
            )
            .catch((e: unknown) => e)
          await loading.promise
          await ns.invalidateTag('user:1')
          release.open()
          expect(await pending).toBeInstanceOf(SourceDown)
          expect(served).toEqual([])
          expect(await ns.getOrSet('user:1', () => 'new row', opts)).toBe('new row')
        })
      }

      it('does not serve a stale value whose tag was invalidated while the loader ran, at the soft timeout', async () => {
        const cache = await open()
        const ns = cache.namespace<string>(`rtstalesoft${uid()}`)
        const served: string[] = []
        cache.on('stale', (e) => {
          if (e.namespace === ns.name) served.push(e.reason)
        })
        const opts = { ttl: 20, grace: '1m', tags: ['rows'] }
        await ns.getOrSet('a', () => 'old a', opts)
        await ns.getOrSet('b', () => 'old b', opts)
        await sleep(40)
        const started = [gate(), gate()]
        const release = gate()
        const slow = (i: number, row: string) => async () => {
          ;(started[i] as ReturnType<typeof gate>).open()
          await release.promise
          return row
        }
        const soft = 300
        const loadStarted = Date.now()
        // Without a hardTimeout, as with nothing stale: the caller waits for the loader.
        const waits = ns.getOrSet('a', slow(0, 'new a'), { ...opts, timeout: soft })
        // With one: ERR_TIMEOUT there, counted from the loader's start.
        const timesOut = ns
          .getOrSet('b', slow(1, 'new b'), { ...opts, timeout: soft, hardTimeout: soft * 2 })
          .catch((e: unknown) => (isKeyshardError(e) ? e.code : e))
        await Promise.all(started.map((g) => g.promise))
        await ns.invalidateTag('rows')
        // Only meaningful when the invalidation resolved before the soft timeouts fired.
        expect(Date.now() - loadStarted).toBeLessThan(soft)
        expect(await timesOut).toBe('ERR_TIMEOUT')
        release.open()
        expect(await waits).toBe('new a')
        expect(served).toEqual([])
      })

      it("does not serve a joined load's stale value at the soft timeout once its tag was invalidated", async () => {
        const cache = await open()
        const ns = cache.namespace<string>(`rtstalejoin${uid()}`)
        const served: string[] = []
        cache.on('stale', (e) => {
          if (e.namespace === ns.name) served.push(e.reason)
        })
        const opts = { ttl: 20, grace: '1m', tags: ['user:1'] }
        await ns.getOrSet('user:1', () => 'old row', opts)
        await sleep(40)
        const loading = gate()
        const release = gate()
        const owner = ns.getOrSet(
          'user:1',
          async () => {
            loading.open()
            await release.promise
            return 'new row'
          },
          opts,
        )
        await loading.promise
        await ns.invalidateTag('user:1')
        // Joins the load under way in this process, whose stale entry was read before the invalidation.
        const joined = ns.getOrSet('user:1', () => 'never called', { ...opts, timeout: 20 })
        await sleep(100) // well past the joiner's soft timeout
        release.open()
        expect(await joined).toBe('new row')
        expect(await owner).toBe('new row')
        expect(served).toEqual([])
      })

      it('never leaves a getManyOrSet load that began before invalidateTag resolved readable', async () => {
        const cache = await open()
        const ns = cache.namespace<string>(`rtmany${uid()}`)
        const keys = Array.from({ length: 30 }, (_, i) => `row:${i}`)
        await expectOnEveryMaster(cache, ns, keys)
        const loading = gate()
        const release = gate()
        const pending = ns.getManyOrSet(
          keys,
          async (missing) => {
            const rows = missing.map((key) => `old ${key}`)
            loading.open()
            await release.promise
            return rows
          },
          { tags: ['rows'] },
        )
        await loading.promise
        await ns.invalidateTag('rows')
        release.open()
        expect(await pending).toEqual(keys.map((key) => `old ${key}`))
        expect(await ns.getMany(keys)).toStrictEqual(keys.map(() => undefined))
      })

      it('keeps the tags of a getOrSet entry alive as long as the TTL its loader chose', async () => {
        const cache = await open()
        const ns = cache.namespace<string>(`rtttl${uid()}`)
        const value = await ns.getOrSet(
          'k',
          (ctx) => {
            ctx.setTtl('10m')
            return 'v'
          },
          { ttl: 1000, tags: ['long'] },
        )
        expect(value).toBe('v')
        const epochKey = `${cache.options.prefix}__t:${ns.name}:long`
        expect(await cache.store.pttl(epochKey, { timeoutMs: 2000 })).toBeGreaterThan(600_000)
        expect(await ns.get('k')).toBe('v')
      })

      it('getOrSet and getManyOrSet refuse bad ttl, tags and timeouts at the call, L1 hits included', async () => {
        const cache = await open({ l1: { maxEntries: 100 } })
        const ns = cache.namespace<number>(`rtbad${uid()}`)
        let loads = 0
        const loader = () => {
          loads++
          return 2
        }
        const batchLoader = (missing: string[]) => {
          loads++
          return missing.map(() => 2)
        }
        const tiers: string[] = []
        cache.on('hit', (e) => {
          if (e.namespace === ns.name) tiers.push(e.tier)
        })
        await ns.set('hit', 1)
        expect(await ns.get('hit')).toBe(1)
        expect(await ns.getOrSet('hit', loader)).toBe(1)
        expect(tiers.at(-1), 'the key is served from L1').toBe('l1')
        for (const key of ['hit', 'miss']) {
          await expectRangeError(() => ns.getOrSet(key, loader, { ttl: -5 }))
          await expectRangeError(() => ns.getOrSet(key, loader, { ttl: Number.NaN }))
          await expectRangeError(() => ns.getOrSet(key, loader, { grace: '0.4ms' }))
          await expectRangeError(() => ns.getOrSet(key, loader, { timeout: -1 }))
          await expectRangeError(() => ns.getOrSet(key, loader, { hardTimeout: 'soon' }))
          await expectCode(() => ns.getOrSet(key, loader, { tags: [''] }), 'ERR_KEY')
        }
        for (const keys of [['hit'], ['miss'], ['hit', 'miss']]) {
          await expectRangeError(() => ns.getManyOrSet(keys, batchLoader, { ttl: -5 }))
          await expectRangeError(() => ns.getManyOrSet(keys, batchLoader, { ttl: 0.5 }))
          await expectCode(() => ns.getManyOrSet(keys, batchLoader, { tags: [''] }), 'ERR_KEY')
        }
        expect(loads).toBe(0)
        expect(await ns.get('miss')).toBeUndefined()
      })

      it("a caller waiting on another instance's load stops at its own hardTimeout; that load is still stored", async () => {
        const owner = await open()
        const waiter = await open()
        const name = `rtwait${uid()}`
        const loading = gate()
        const release = gate()
        const owned = owner.namespace<string>(name).getOrSet('k', async () => {
          loading.open()
          await release.promise
          return 'from owner'
        })
        await loading.promise // the owner holds the lock now
        let waiterLoads = 0
        await expectCode(
          waiter.namespace<string>(name).getOrSet(
            'k',
            () => {
              waiterLoads++
              return 'from waiter'
            },
            { hardTimeout: 100 },
          ),
          'ERR_TIMEOUT',
        )
        release.open()
        expect(await owned).toBe('from owner')
        expect(await waiter.namespace<string>(name).get('k')).toBe('from owner')
        expect(waiterLoads).toBe(0)
      })
    })

    describe('invalidation at scale', () => {
      it('clear() removes exactly one namespace on every shard, even when names are glob prefixes', async () => {
        const cache = await open()
        const base = `cl${uid()}`
        const user = cache.namespace(`${base}user`)
        const users = cache.namespace(`${base}users`)
        const star = cache.namespace(`${base}user*`)
        const keys = Array.from({ length: 90 }, (_, i) => `k${i}`)
        for (const ns of [user, users, star])
          await ns.setMany(keys.map((key) => ({ key, value: 1, tags: ['t'] })))
        expect(await user.clear()).toBe(90)
        expect((await user.getMany(keys)).every((v) => v === undefined)).toBe(true)
        expect((await users.getMany(keys)).every((v) => v === 1)).toBe(true)
        expect((await star.getMany(keys)).every((v) => v === 1)).toBe(true)
        expect(await star.clear()).toBe(90)
        expect((await users.getMany(keys)).every((v) => v === 1)).toBe(true)
      })

      it('deletePattern stays inside the namespace', async () => {
        const cache = await open()
        const base = `dp${uid()}`
        const a = cache.namespace(`${base}a`)
        const ab = cache.namespace(`${base}a*b`)
        await a.setMany(['x1', 'x2', 'y1'].map((key) => ({ key, value: key })))
        await ab.setMany(['x1'].map((key) => ({ key, value: key })))
        expect(await a.deletePattern('x*')).toBe(2)
        expect(await a.getMany(['x1', 'x2', 'y1'])).toEqual([undefined, undefined, 'y1'])
        expect(await ab.get('x1')).toBe('x1')
      })

      it('keys() pages across every master with one cursor', async () => {
        const ns = (await open()).namespace(`scan${uid()}`)
        const keys = Array.from({ length: 250 }, (_, i) => `key:${i}`)
        await ns.setMany(keys.map((key) => ({ key, value: 1 })))
        await ns.set('other', 1)
        const seen = new Set<string>()
        let cursor: string | undefined
        let pages = 0
        do {
          const page = await ns.keys({ match: 'key:*', count: 20, ...(cursor ? { cursor } : {}) })
          for (const k of page.keys) seen.add(k)
          cursor = page.cursor
          pages++
        } while (cursor !== undefined)
        expect([...seen].sort()).toEqual([...keys].sort())
        expect(pages).toBeGreaterThan(1)
      })

      it('refuses flushAll without allowUnsafeFlush', async () => {
        const cache = await open()
        const ns = cache.namespace(`flush${uid()}`)
        await ns.set('survivor', 1)
        await expectCode(cache.flushAll(), 'ERR_UNSAFE_FLUSH')
        expect(await ns.get('survivor')).toBe(1)
      })
    })

    describe('connection', () => {
      it('reports health for every node', async () => {
        const health = await (await open()).health()
        expect(health.ok).toBe(true)
        expect(health.nodes.every((n) => n.reachable)).toBe(true)
        if (topology === 'cluster') {
          expect(health.nodes.filter((n) => n.role === 'master')).toHaveLength(3)
          expect(health.nodes.filter((n) => n.role === 'replica')).toHaveLength(3)
          expect(health.slotsCovered).toBe(16384)
          expect(health.clusterState).toBe('ok')
        } else {
          expect(health.nodes).toHaveLength(1)
        }
      })

      it('close() is graceful and idempotent', async () => {
        const cache = await makeCache()
        const ns = cache.namespace(`close${uid()}`)
        const writes = Array.from({ length: 50 }, (_, i) => ns.set(`k${i}`, i))
        const closing = cache.close()
        await Promise.all(writes)
        await closing
        await cache.close()
        await expectCode(ns.get('k1'), 'ERR_CLOSED')
      })
    })
  })
}
