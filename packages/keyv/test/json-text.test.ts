import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LONG_TEXT, stringifyJson, writesFasterWhole } from '../src/json-text.js'

const fn = () => 1
// Characters JSON.stringify escapes, surrogates alone and in pairs, among plain ones.
const unit = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom('a', 'Z', ' ', '~', 'é', '世') },
  fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u2028', '\ud800', '\udfff', '😀', '/'),
  fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
)
const text = fc.oneof(fc.string({ unit, maxLength: 20 }), fc.string({ unit, minLength: 64, maxLength: 300 }))
const leaf = fc.oneof(
  text,
  fc.double(),
  fc.integer(),
  fc.constantFrom(-0, 1e21, 1e-7, 5e-324, Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constant(fn),
  fc.constant(Symbol.for('s')),
)
// No 'toJSON': an object with one is never handed to the writer (the serializer's checks send it to Keyv's code).
const key = fc.oneof(text, fc.constantFrom('__proto__', '0', '1', '10', '-1', '1.5', ''))
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value')),
    fc.sparseArray(tie('value')),
    fc.dictionary(key, tie('value')),
  ),
}))

describe('stringifyJson', () => {
  it('writes what JSON.stringify writes for plain JSON values', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(stringifyJson(v)).toBe(JSON.stringify(v))
      }),
      { numRuns: 3000 },
    )
  })

  it.each([
    [
      'a row with a long body',
      { value: { id: 1, name: 'item-1', tags: ['a'], body: 'x'.repeat(950) }, expires: 1 },
    ],
    [
      'integer keys first, ascending, as JSON.stringify orders them',
      { b: 1, 2: 'two', a: 'x'.repeat(100), 1: 'one' },
    ],
    ['a null prototype', Object.assign(Object.create(null), { a: 'y'.repeat(100) })],
    [
      'undefined, functions and symbols',
      { a: undefined, b: fn, c: Symbol('s'), d: [undefined, fn, Symbol('s')] },
    ],
    ['a lone surrogate in long text', `${'x'.repeat(100)}\udc00`],
    ['a pair in long text', `${'x'.repeat(100)}😀`],
    ['numbers', [0, -0, 1e21, 1e-7, Number.NaN, Number.NEGATIVE_INFINITY, 0.1 + 0.2]],
    ['top-level undefined', undefined],
    ['a top-level function', fn],
  ])('writes %s as JSON.stringify does', (_, v) => {
    expect(stringifyJson(v)).toBe(JSON.stringify(v))
  })

  // Long strings are searched for each kind of escaped character separately, so each kind alone, at either end.
  const lone = ['"', '\\', '\n', '\u0000', '\u001f', '\ud800', '\udfff', '\udbff']
  const plain = ['\u0020', '\u007f', '\u2028', '\ud7ff', '\ue000', '😀']
  it.each(
    [...lone, ...plain].flatMap((c) =>
      [LONG_TEXT - 1, LONG_TEXT, 300].flatMap((length) => [
        c + 'x'.repeat(length - c.length),
        'x'.repeat(length - c.length) + c,
      ]),
    ),
  )('writes text of %j alone as JSON.stringify does', (text) => {
    expect(stringifyJson(text)).toBe(JSON.stringify(text))
    expect(stringifyJson({ body: text })).toBe(JSON.stringify({ body: text }))
  })
})

describe('stringifyJson on long text, by its control-character scan', () => {
  // The scan tests each character's low byte, four bytes at a time and the last few one by one: every UTF-16 code
  // unit at each place in a word, and in each of the last places of texts of every length modulo 4.
  it('writes long text holding any one code unit at any place in a word as JSON.stringify does', () => {
    const mismatches: number[] = []
    for (let code = 0; code <= 0xffff; code++) {
      const unit = String.fromCharCode(code)
      for (let at = 0; at < 8; at++) {
        for (const text of [
          `${'y'.repeat(at)}${unit}${'y'.repeat(LONG_TEXT)}`,
          `${'y'.repeat(LONG_TEXT + at)}${unit}`,
        ]) {
          if (stringifyJson(text) !== JSON.stringify(text)) mismatches.push(code)
        }
      }
    }
    expect(mismatches).toEqual([])
  })

  // Past 16 KiB the text is scanned in parts, so a control character anywhere in a later part, and at a part's edge.
  it.each([16_383, 16_384, 16_385, 40_000, 49_151])(
    'escapes a control character at %i in long Latin-1 text',
    (at) => {
      const text = `${'é'.repeat(at)}\u0001${'x'.repeat(50_000 - at)}`
      expect(stringifyJson(text)).toBe(JSON.stringify(text))
      expect(stringifyJson(text)).toContain('\\u0001')
    },
  )

  it('writes long text whose only candidates are characters above U+00FF as it is', () => {
    // U+4E00 and U+0A0A have low bytes 0x00 and 0x0A: candidates that the regular expression rules out.
    const text = `${'一'.repeat(20_000)}\u0a0a${'x'.repeat(100)}`
    expect(stringifyJson(text)).toBe(`"${text}"`)
    expect(stringifyJson(text)).toBe(JSON.stringify(text))
  })
})

describe('writesFasterWhole', () => {
  it('chooses the whole-text writer only where long text outweighs the other values', () => {
    // The bench's 1 KiB row: 9 values, 950 characters of long text.
    expect(writesFasterWhole(9, 950)).toBe(true)
    // 20 rows of 5 short fields, and a user-like object: no long text.
    expect(writesFasterWhole(121, 0)).toBe(false)
    expect(writesFasterWhole(12, 0)).toBe(false)
    // One 100-character string among 20 rows.
    expect(writesFasterWhole(121, 100)).toBe(false)
  })
})
