import { randomUUID } from 'node:crypto'
import { getTestServers } from '@keyshard/testkit'
import fc from 'fast-check'
import { Redis } from 'iovalkey'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isKeyshardError } from '../../src/errors.js'
import { globMatcher } from '../../src/store/glob.js'
import { MemoryBus } from '../../src/store/memory-bus.js'
import { MemoryStore } from '../../src/store/memory-store.js'

const o = { timeoutMs: 1000 }
const b = (s: string) => Buffer.from(s)

function clockStore(extra: ConstructorParameters<typeof MemoryStore>[0] = {}) {
  const clock = { t: 1_000_000 }
  const store = new MemoryStore({ ...extra, now: () => clock.t })
  return { clock, store }
}

describe('MemoryStore', () => {
  it('evicts the least recently used entry by count', async () => {
    const store = new MemoryStore({ maxEntries: 2 })
    await store.set('a', b('1'), null, o)
    await store.set('b', b('2'), null, o)
    await store.get('a', o) // a is now most recent
    await store.set('c', b('3'), null, o)
    expect(await store.exists(['a', 'b', 'c'], o)).toEqual([true, false, true])
    expect(store.stats().entries).toBe(2)
  })

  it('evicts by bytes counting key plus value', async () => {
    const store = new MemoryStore({ maxBytes: 20 })
    await store.set('k1', Buffer.alloc(8), null, o) // 10 bytes
    await store.set('k2', Buffer.alloc(8), null, o) // 10 bytes
    expect(store.stats().bytes).toBe(20)
    await store.set('k3', Buffer.alloc(8), null, o)
    expect(await store.exists(['k1', 'k2', 'k3'], o)).toEqual([false, true, true])
    expect(store.stats().bytes).toBe(20)
  })

  it('refuses an entry larger than maxBytes instead of dropping it silently, and writes nothing', async () => {
    const store = new MemoryStore({ maxBytes: 20 })
    await store.set('kept', b('v'), null, o)
    const tooLarge = (p: Promise<unknown>) =>
      p.then(
        () => 'written',
        (e: unknown) => (isKeyshardError(e, 'ERR_VALUE_TOO_LARGE') ? 'refused' : e),
      )
    expect(await tooLarge(store.set('big', Buffer.alloc(30), null, o))).toBe('refused')
    expect(await tooLarge(store.compareAndSet('big', null, Buffer.alloc(30), null, o))).toBe('refused')
    expect(
      await tooLarge(
        store.setMany(
          [
            { key: 'small', value: b('x'), ttlMs: null },
            { key: 'big', value: 'y'.repeat(30), ttlMs: null },
          ],
          o,
        ),
      ),
    ).toBe('refused')
    expect(await store.exists(['kept', 'big', 'small'], o)).toEqual([true, false, false])
  })

  it('expires with an injected clock and reports PTTL codes', async () => {
    const { clock, store } = clockStore()
    await store.set('t', b('v'), 100, o)
    await store.set('p', b('v'), null, o)
    expect(await store.pttl('t', o)).toBe(100)
    expect(await store.pttl('p', o)).toBe(-1)
    expect(await store.pttl('none', o)).toBe(-2)
    clock.t += 99
    expect(await store.get('t', o)).toEqual(b('v'))
    clock.t += 1
    expect(await store.get('t', o)).toBeNull()
    expect(await store.pttl('t', o)).toBe(-2)
    expect(await store.expire('p', 50, o)).toBe(true)
    expect(await store.pttl('p', o)).toBe(50)
    expect(await store.expire('p', null, o)).toBe(true)
    expect(await store.pttl('p', o)).toBe(-1)
    expect(await store.expire('none', 10, o)).toBe(false)
  })

  it('rejects non-positive and fractional TTLs like SET PX does, without partial batches', async () => {
    const store = new MemoryStore()
    await expect(store.set('k', b('v'), 0, o)).rejects.toSatisfy((e) => isKeyshardError(e, 'ERR_COMMAND'))
    await expect(store.set('k', b('v'), 1.5, o)).rejects.toSatisfy((e) => isKeyshardError(e, 'ERR_COMMAND'))
    await expect(
      store.setMany(
        [
          { key: 'a', value: b('1'), ttlMs: 10 },
          { key: 'b', value: b('2'), ttlMs: -1 },
        ],
        o,
      ),
    ).rejects.toSatisfy((e) => isKeyshardError(e, 'ERR_COMMAND'))
    expect(await store.exists(['k', 'a', 'b'], o)).toEqual([false, false, false])
  })

  it('copies values on write and on read', async () => {
    const store = new MemoryStore()
    const input = b('abc')
    await store.set('k', input, null, o)
    input[0] = 0x7a
    const out = (await store.get('k', o)) as Buffer
    expect(out.toString()).toBe('abc')
    out[0] = 0x7a
    expect((await store.get('k', o))?.toString()).toBe('abc')
  })

  it('increments like INCRBY and keeps the TTL of existing keys', async () => {
    const { clock, store } = clockStore()
    expect(await store.increment('n', 5, 100, o)).toBe(5)
    expect(await store.get('n', o)).toEqual(b('5'))
    clock.t += 40
    expect(await store.increment('n', -7, 1000, o)).toBe(-2)
    expect(await store.pttl('n', o)).toBe(60)
    await store.set('s', b('x1'), null, o)
    await expect(store.increment('s', 1, null, o)).rejects.toSatisfy((e) => isKeyshardError(e, 'ERR_COMMAND'))
  })

  it('compares bytes exactly in compareAndSet / compareAndDelete', async () => {
    const store = new MemoryStore()
    expect(await store.compareAndSet('k', null, b('a'), null, o)).toBe(true)
    expect(await store.compareAndSet('k', null, b('b'), null, o)).toBe(false)
    expect(await store.compareAndSet('k', b('A'), b('b'), null, o)).toBe(false)
    expect(await store.compareAndSet('k', b('a'), b('b'), null, o)).toBe(true)
    expect(await store.compareAndDelete('k', b('a'), o)).toBe(false)
    expect(await store.compareAndDelete('k', b('b'), o)).toBe(true)
    expect(await store.exists(['k'], o)).toEqual([false])
  })

  it('ensureEpochs stores candidates, extends but never shortens, persists on null', async () => {
    const { store } = clockStore()
    expect(await store.ensureEpochs(['e1', 'e2'], ['c1', 'c2'], 1000, o)).toEqual(['c1', 'c2'])
    expect(await store.ensureEpochs(['e1'], ['other'], 500, o)).toEqual(['c1'])
    expect(await store.pttl('e1', o)).toBe(1000)
    await store.ensureEpochs(['e1'], ['other'], 5000, o)
    expect(await store.pttl('e1', o)).toBe(5000)
    await store.ensureEpochs(['e1'], ['other'], null, o)
    expect(await store.pttl('e1', o)).toBe(-1)
    expect(await store.readEpochs(['e1', 'e2', 'e3'], o)).toEqual(['c1', 'c2', null])
  })

  it('delete reports per-key existence', async () => {
    const store = new MemoryStore()
    await store.set('a', b('1'), null, o)
    expect(await store.delete(['a', 'b', 'a'], o)).toEqual([true, false, false])
  })

  it('scan pages with a stable cursor even when keys are deleted between pages', async () => {
    const store = new MemoryStore()
    const all = Array.from({ length: 50 }, (_, i) => `k:${String(i).padStart(2, '0')}`)
    for (const k of all) await store.set(k, b('v'), null, o)
    await store.set('other', b('v'), null, o)
    const seen = new Set<string>()
    let cursor = '0'
    let pages = 0
    do {
      const page = await store.scan('k:*', cursor, 7, o)
      for (const k of page.keys) seen.add(k)
      cursor = page.cursor
      pages++
      // Delete keys not yet returned but only odd ones; even keys must all be seen.
      const odd = all.filter((k, i) => i % 2 === 1 && !seen.has(k)).slice(0, 3)
      await store.delete(odd, o)
    } while (cursor !== '0')
    expect(pages).toBeGreaterThan(2)
    for (const [i, k] of all.entries()) if (i % 2 === 0) expect(seen.has(k)).toBe(true)
    expect(seen.has('other')).toBe(false)
  })

  it('deleteMatching and flushAll', async () => {
    const store = new MemoryStore()
    await store.setMany(
      [
        { key: 'a:1', value: b('1'), ttlMs: null },
        { key: 'a:2', value: b('2'), ttlMs: null },
        { key: 'b:1', value: b('3'), ttlMs: null },
      ],
      o,
    )
    expect(await store.deleteMatching('a:*', o)).toBe(2)
    expect(await store.exists(['b:1'], o)).toEqual([true])
    await store.flushAll(o)
    expect(store.stats()).toEqual({ entries: 0, bytes: 0 })
  })

  it('delivers pub/sub asynchronously between stores sharing a bus', async () => {
    const bus = new MemoryBus()
    const s1 = new MemoryStore({ bus })
    const s2 = new MemoryStore({ bus })
    const got: string[] = []
    const links: boolean[] = []
    const off = await s2.subscribe(
      'ch',
      (m) => got.push(m),
      (up) => links.push(up),
    )
    await s1.publish('ch', 'hello')
    expect(got).toEqual([]) // not synchronous
    await new Promise((r) => setImmediate(r))
    expect(got).toEqual(['hello'])
    bus.simulateLinkDrop()
    await new Promise((r) => setImmediate(r))
    expect(links).toEqual([false, true])
    await off()
    await s1.publish('ch', 'again')
    await new Promise((r) => setImmediate(r))
    expect(got).toEqual(['hello'])
    const alone = new MemoryStore()
    const other: string[] = []
    await alone.subscribe('ch', (m) => other.push(m))
    await s1.publish('ch', 'x')
    await new Promise((r) => setImmediate(r))
    expect(other).toEqual([])
  })

  it('reports health and rejects with ERR_CLOSED after an idempotent close', async () => {
    const store = new MemoryStore()
    expect((await store.health(o)).nodes[0]).toMatchObject({
      address: 'memory',
      role: 'memory',
      reachable: true,
    })
    await store.close()
    await store.close()
    await expect(store.get('k', o)).rejects.toSatisfy((e) => isKeyshardError(e, 'ERR_CLOSED'))
  })
})

describe('glob', () => {
  const { standalone } = getTestServers()
  let server: Redis
  // A unique key on the shared server, deleted afterwards.
  const hash = `ks-glob-test:${randomUUID()}`

  beforeAll(() => {
    server = new Redis({ host: standalone.host, port: standalone.port, lazyConnect: true })
  })
  afterAll(async () => {
    await server.del(hash)
    server.disconnect()
  })

  /**
   * The server's answer: HSCAN MATCH over a hash whose fields are the subjects. COUNT exceeds the fields, so one
   * call (cursor 0) has applied the pattern to every field.
   */
  async function serverMatches(pattern: string, subjects: readonly string[]): Promise<string[]> {
    await server.del(hash)
    await server.hset(hash, ...subjects.flatMap((subject) => [subject, '']))
    const [cursor, flat] = await server.hscan(hash, 0, 'MATCH', pattern, 'COUNT', 1000)
    expect(cursor).toBe('0')
    return flat.filter((_, i) => i % 2 === 0).sort()
  }
  const memoryMatches = (pattern: string, subjects: readonly string[]) =>
    subjects.filter((subject) => globMatcher(pattern)(subject)).sort()

  it.each([
    ['*', 'anything', true],
    ['*', '', true],
    ['**', '', false],
    ['', '', true],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['[abc]x', 'bx', true],
    ['[abc]x', 'dx', false],
    ['[^a]x', 'bx', true],
    ['[^a]x', 'ax', false],
    ['[a-c]', 'b', true],
    ['[a-c]', 'd', false],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['a\\?', 'a?', true],
    ['a\\', 'a\\', true],
    ['[\\]]', ']', true],
    ['x.y', 'xzy', false],
    ['a-b:*', 'a-b:1', true],
    ['[a\\-]', '-', true],
    ['[-a]', '-', true],
    ['[z-a]', 'm', true],
    // `[a-]` is the range `]`..`a` (reversed ends swap), and the class goes on past that `]`.
    ['[a-]', 'b', false],
    ['[a-]', '-', false],
    ['[a-]', ']', true],
    ['[a-]', '_', true],
    ['[a-]x', 'x', true],
    ['[a-]x', 'ax', false],
    ['[a-\\]', '\\', true],
    ['[^]', 'x', true],
    ['[]', 'x', false],
    ['[^', 'x', true],
    ['[ab', 'b', true],
    // One byte per `?` and per class, not one character.
    ['?', 'é', false],
    ['??', 'é', true],
    ['[^a]', 'é', false],
    ['[é]', 'é', false],
    ['\\é', 'é', true],
    ['ü?', 'üx', true],
    // Range bounds compare as signed bytes: 0xC3 (from é) sorts below `a`, and 0xE2 (from €) between them.
    ['[a-é]??', '€', true],
    ['[a-é]', 'b', false],
    ['p:(1)+', 'p:(1)+', true],
    ['ns:*:tag', 'ns:a:b:tag', true],
  ])('%s matches %s → %s, as on the server', async (pattern, subject, expected) => {
    expect(globMatcher(pattern)(subject)).toBe(expected)
    expect(await serverMatches(pattern, [subject])).toEqual(expected ? [subject] : [])
  })

  it('matches nothing once a match would nest through more than 1000 stars, as on the server', async () => {
    const subject = 'a'.repeat(1002)
    // Every star that is not at the end of the pattern is one level of nesting.
    for (const [pattern, expected] of [
      ['*a'.repeat(1000), true],
      ['*a'.repeat(1001), false],
      [`${'*a'.repeat(1000)}*`, true],
      [`${'a*'.repeat(1001)}a`, false],
    ] as const) {
      expect([pattern.length, globMatcher(pattern)(subject)]).toEqual([pattern.length, expected])
      expect(await serverMatches(pattern, [subject])).toEqual(expected ? [subject] : [])
    }
  })

  it('matches exactly what the server matches, for random patterns and keys', async () => {
    const symbols = ['*', '?', '[', ']', '^', '-', '\\', 'a', 'b', 'é', '€']
    const pattern = fc.array(fc.constantFrom(...symbols), { maxLength: 10 }).map((s) => s.join(''))
    const subject = fc
      .array(fc.constantFrom(...symbols, ']', '_', '`', 'z'), { maxLength: 5 })
      .map((s) => s.join(''))
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(subject, { minLength: 1, maxLength: 40 }),
        fc.array(pattern, { minLength: 1, maxLength: 5 }),
        async (subjects, patterns) => {
          for (const p of patterns) {
            expect([p, memoryMatches(p, subjects)]).toEqual([p, await serverMatches(p, subjects)])
          }
        },
      ),
      { numRuns: 500 },
    )
  })
})
