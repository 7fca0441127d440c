import { describe, expect, it } from 'vitest'
import { keySequence } from './key-sequence.js'

describe('keySequence', () => {
  it('visits every key once in `count` consecutive calls, from any start', () => {
    const { key } = keySequence('k', 1000)
    for (const start of [0, 1, 999, 123_456]) {
      const seen = new Set(Array.from({ length: 1000 }, (_, n) => key(start + n)))
      expect(seen.size).toBe(1000)
      for (const k of seen) expect(k).toMatch(/^k(\d|[1-9]\d{1,2})$/)
    }
  })

  it('spreads consecutive calls by 7919 keys, as the scenarios did before the tables', () => {
    const { key } = keySequence('g', 1000)
    expect([0, 1, 2, 1000, 1001].map(key)).toEqual(['g0', 'g919', 'g838', 'g0', 'g919'])
  })

  it("gives batch call i the `size` keys of single calls i × size on, and repeats only after the sequence's end", () => {
    const { key, list } = keySequence('k', 10_000, 100)
    for (const i of [0, 1, 99, 100, 101, 5_000]) {
      expect(list(i)).toEqual(Array.from({ length: 100 }, (_, j) => key(i * 100 + j)))
    }
    expect(new Set(Array.from({ length: 100 }, (_, i) => list(i))).size).toBe(100)
    expect(list(100)).toBe(list(0))
  })

  it('refuses a count the stride would not spread or the batch size does not divide', () => {
    expect(() => keySequence('k', 7919)).toThrow(RangeError)
    expect(() => keySequence('k', 1000, 3)).toThrow(/must divide by 3/)
  })
})
