import { describe, expect, it } from 'vitest'
import { KeyshardError } from '../../src/errors.js'
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

  it('validates its options', () => {
    expect(() => resolveL1Options({ maxEntries: 0 })).toThrow(KeyshardError)
    expect(() => resolveL1Options({ maxBytes: -1 })).toThrow(KeyshardError)
    expect(resolveL1Options({ ttl: '5s' }).ttlMs).toBe(5000)
  })
})
