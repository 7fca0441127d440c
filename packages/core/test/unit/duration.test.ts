import { describe, expect, it } from 'vitest'
import { parseDuration, resolveTtl } from '../../src/duration.js'

describe('parseDuration', () => {
  it.each([
    [1, 1],
    [250, 250],
    [1.4, 1],
    [1.5, 2],
    ['250', 250],
    [' 42 ', 42],
    ['250ms', 250],
    ['5s', 5_000],
    ['1.5s', 1_500],
    ['.5s', 500],
    ['1.5m', 90_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['2d', 172_800_000],
    ['5 s', 5_000],
    ['1h30m', 5_400_000],
    ['1m30s500ms', 90_500],
  ] as const)('parses %j as %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms)
  })

  it.each([
    0,
    -1,
    0.5,
    0.49,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    Number.MAX_VALUE,
    '',
    ' ',
    '0',
    '0ms',
    '0.4ms',
    '-5s',
    '+5s',
    '5x',
    '5M',
    '5S',
    '1e3',
    '1e3ms',
    '0x10',
    'ms',
    '5 m s',
    '5m30',
    'soon',
    '1,5s',
    '5s ms',
    '1..5s',
    '9'.repeat(400),
  ])('refuses %j with a RangeError', (input) => {
    expect(() => parseDuration(input)).toThrow(RangeError)
  })

  it.each([null, undefined, true, {}, [], 5n, () => 5])('refuses a %s with a RangeError', (input) => {
    expect(() => parseDuration(input as never)).toThrow(RangeError)
  })

  it('names what was being parsed and the bad value', () => {
    expect(() => parseDuration('soon', 'ttl')).toThrow(/Invalid ttl "soon"/)
    expect(() => parseDuration(-5, 'timeouts.bulk')).toThrow(/timeouts\.bulk -5/)
    expect(() => parseDuration(Number.NaN)).toThrow(/duration NaN/)
  })
})

describe('resolveTtl', () => {
  it('takes the fallback for undefined, keeps null, and parses everything else as a ttl', () => {
    expect(resolveTtl(undefined, 1000)).toBe(1000)
    expect(resolveTtl(undefined, null)).toBeNull()
    expect(resolveTtl(null, 1000)).toBeNull()
    expect(resolveTtl('2s', null)).toBe(2000)
    expect(resolveTtl(80, 5)).toBe(80)
  })

  it.each([-1, Number.NaN, 0, 0.5, 'soon', '-5s', true, {}])(
    'refuses %j with a RangeError naming the ttl',
    (ttl) => {
      expect(() => resolveTtl(ttl as never, 1000)).toThrow(RangeError)
      expect(() => resolveTtl(ttl as never, 1000)).toThrow(/ttl/)
    },
  )
})
