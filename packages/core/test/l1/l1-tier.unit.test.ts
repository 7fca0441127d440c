import { describe, expect, it } from 'vitest'
import { createCache } from '../../src/cache.js'
import { isKeyshardError, KeyshardError } from '../../src/errors.js'
import { parseInvalidation } from '../../src/l1/invalidation-publisher.js'
import { L1Tier, resolveL1Options } from '../../src/l1/l1-tier.js'
import { MemoryBus, MemoryStore } from '../../src/store/memory-store.js'

/** The bus delivers asynchronously, like a real server. */
const delivered = () => new Promise((r) => setImmediate(r))

async function pair() {
  const bus = new MemoryBus()
  const errors: unknown[] = []
  const opts = resolveL1Options({ maxEntries: 3 })
  const a = new L1Tier(new MemoryStore({ bus }), 'p:', opts, (e) => errors.push(e))
  const b = new L1Tier(new MemoryStore({ bus }), 'p:', opts, (e) => errors.push(e))
  await Promise.all([a.start(), b.start()])
  return { a, b, bus, errors }
}

describe('L1Tier', () => {
  it('refuses a fill when the key was invalidated after the read began, but not for other keys', async () => {
    const { a, b } = await pair()
    const g = b.generation
    a.invalidateKeys('ns', ['p:ns:x'])
    await delivered()
    b.fill('p:ns:x', 'ns', 'stale', [], 0, 1, g)
    b.fill('p:ns:y', 'ns', 'fresh', [], 0, 1, g)
    expect(b.get('p:ns:x')).toBeUndefined()
    expect(b.get('p:ns:y')?.value).toBe('fresh')
  })

  it('drops entries by tag and by namespace clear, only in that namespace', async () => {
    const { a, b } = await pair()
    b.fill('p:ns:1', 'ns', 1, ['t'], 0, 1, b.generation)
    b.fill('p:ns:2', 'ns', 2, ['u'], 0, 1, b.generation)
    b.fill('p:other:1', 'other', 3, ['t'], 0, 1, b.generation)
    a.invalidateTags('ns', ['t'])
    await delivered()
    expect(b.get('p:ns:1')).toBeUndefined()
    expect(b.get('p:ns:2')?.value).toBe(2)
    expect(b.get('p:other:1')?.value).toBe(3)
    a.clearNamespace('ns')
    await delivered()
    expect(b.get('p:ns:2')).toBeUndefined()
    expect(b.get('p:other:1')?.value).toBe(3)
  })

  it('never outlives the logical expiry, is bounded, and is flushed and bypassed while the link is down', async () => {
    const { b, bus } = await pair()
    b.fill('p:ns:e', 'ns', 'x', [], Date.now() - 1, 1, b.generation)
    expect(b.get('p:ns:e')).toBeUndefined()
    for (const k of ['1', '2', '3', '4']) b.fill(`p:ns:${k}`, 'ns', k, [], 0, 1, b.generation)
    expect(b.size).toBe(3)
    bus.simulateLinkDrop()
    expect(b.up).toBe(false)
    expect(b.size).toBe(0)
    b.fill('p:ns:5', 'ns', '5', [], 0, 1, b.generation)
    expect(b.get('p:ns:5')).toBeUndefined()
    await new Promise((r) => setImmediate(r))
    expect(b.up).toBe(true)
  })

  it('survives malformed messages on its channel by flushing and reporting them', async () => {
    const { b, bus, errors } = await pair()
    for (const junk of ['not json', 'null', '7', '{"i":"x","n":"ns","t":5}', '{"i":"x","n":"ns","k":[1]}']) {
      b.fill('p:ns:1', 'ns', 1, [], 0, 1, b.generation)
      bus.publish(b.channel, junk)
      await delivered()
      expect(b.get('p:ns:1'), junk).toBeUndefined()
    }
    expect(errors).toHaveLength(10) // both tiers of the pair report each one
    expect(errors.every((e) => e instanceof KeyshardError && e.code === 'ERR_COMMAND')).toBe(true)
    // Well-formed messages still work afterwards.
    b.fill('p:ns:2', 'ns', 2, [], 0, 1, b.generation)
    expect(b.get('p:ns:2')?.value).toBe(2)
  })

  it('drops every namespace on a flush message, and tells malformed flush messages apart', async () => {
    const { a, b, bus, errors } = await pair()
    b.fill('p:ns:1', 'ns', 1, [], 0, 1, b.generation)
    b.fill('p:other:1', 'other', 2, [], 0, 1, b.generation)
    const g = b.generation
    a.invalidateAll()
    await delivered()
    expect(b.get('p:ns:1')).toBeUndefined()
    expect(b.get('p:other:1')).toBeUndefined()
    // A read that began before the flush may not fill afterwards.
    b.fill('p:ns:2', 'ns', 3, [], 0, 1, g)
    expect(b.get('p:ns:2')).toBeUndefined()
    expect(errors).toEqual([])
    expect(parseInvalidation('{"i":"x","f":1}')).toEqual({ i: 'x', f: 1 })
    expect(parseInvalidation('{"i":"x","f":2}')).toBeUndefined()
    expect(parseInvalidation('{"f":1}')).toBeUndefined()
    // The namespace messages keep their shape.
    expect(parseInvalidation('{"i":"x","n":"ns","k":["p:ns:1"]}')).toEqual({ i: 'x', n: 'ns', k: ['p:ns:1'] })
    bus.publish(b.channel, '{"i":"x","n":"ns","c":1}')
    await delivered()
    expect(errors).toEqual([])
  })

  it('validates its options with an ERR_CONFIG naming each one', async () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ ttl: 0 }, 'l1.ttl'],
      [{ ttl: -1 }, 'l1.ttl'],
      [{ ttl: 'soon' }, 'l1.ttl'],
      [{ ttl: Number.NaN }, 'l1.ttl'],
      [{ ttl: 0.2 }, 'l1.ttl'],
      [{ maxEntries: 0 }, 'l1.maxEntries'],
      [{ maxEntries: 1.5 }, 'l1.maxEntries'],
      [{ maxEntries: '10' }, 'l1.maxEntries'],
      [{ maxBytes: -1 }, 'l1.maxBytes'],
    ]
    for (const [l1, option] of bad) {
      const error = await createCache({ fromEnv: false, store: new MemoryStore(), l1: l1 as never }).catch(
        (e: unknown) => e,
      )
      expect(isKeyshardError(error, 'ERR_CONFIG'), `${JSON.stringify(l1)}: ${String(error)}`).toBe(true)
      expect((error as KeyshardError).details.option).toBe(option)
      expect((error as KeyshardError).message).toContain(option)
      if (option === 'l1.ttl') expect((error as KeyshardError).cause).toBeInstanceOf(RangeError)
    }
    expect(() => resolveL1Options(null as never)).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG', details: { option: 'l1' } }),
    )
    expect(resolveL1Options({ ttl: '5s' }).ttlMs).toBe(5000)
    expect(resolveL1Options({})).toEqual({ maxEntries: 10_000, maxBytes: 64 * 1024 * 1024, ttlMs: 60_000 })
  })
})
