import { Buffer } from 'node:buffer'
import { type Cache, isKeyshardError } from '@keyshard/core'
import { defaultDeserialize, defaultSerialize } from '@keyv/serialize'
import fc from 'fast-check'
import Keyv from 'keyv'
import { KeyvJsonSerializer, Keyv as Keyv6 } from 'keyv6'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  createKeyv,
  KeyshardStore,
  KeyshardStoreV6,
  fastKeyv6Serialization,
  keyvDeserialize,
  keyvSerialize,
} from '../src/index.js'
import { connect } from './helpers.js'

const keyv6Default = new KeyvJsonSerializer()
// Over its own instance, so the fast paths are compared with a serializer they do not call.
const keyv6Fast = fastKeyv6Serialization(new KeyvJsonSerializer())

type Outcome = { ok: true; value: unknown } | { ok: false; error: string }

/** What a call returns, or the class and message of what it throws: the two sides must agree on both. */
function outcome(fn: () => unknown): Outcome {
  try {
    return { ok: true, value: fn() }
  } catch (error) {
    return { ok: false, error: `${(error as Error).name}: ${(error as Error).message}` }
  }
}

function expectSameSerialize(value: unknown): void {
  const expected = outcome(() => defaultSerialize(value))
  const actual = outcome(() => keyvSerialize(value))
  // Strings compared with ===, so one byte apart fails.
  expect(actual.ok).toBe(expected.ok)
  if (actual.ok && expected.ok) expect(actual.value === expected.value).toBe(true)
  expect(actual).toEqual(expected)
}

function expectSameStringify6(value: unknown): void {
  const expected = outcome(() => keyv6Default.stringify(value))
  const actual = outcome(() => keyv6Fast.stringify(value))
  expect(actual.ok).toBe(expected.ok)
  if (actual.ok && expected.ok) expect(actual.value === expected.value).toBe(true)
  expect(actual).toEqual(expected)
}

/**
 * What JSON.parse can return (plus Buffers and BigInts from the revivers) as text that tells a Buffer from a
 * Uint8Array or a plain object, a hole from undefined, -0 from 0, and keeps key order. (toStrictEqual compares
 * `constructor`s, which JSON keys named so confuse; util.inspect gives up on deep values at a depth that varies.)
 */
function canonical(value: unknown): string {
  if (Buffer.isBuffer(value)) return `Buffer<${value.toString('hex')}>`
  if (value instanceof Uint8Array) return `Uint8Array<${Buffer.from(value).toString('hex')}>`
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value)
  if (typeof value === 'string') return JSON.stringify(value)
  if (Array.isArray(value)) {
    const items: string[] = []
    for (let i = 0; i < value.length; i++) items.push(i in value ? canonical(value[i]) : '<hole>')
    return `[${items.join(',')}]`
  }
  if (value !== null && typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) === null ? 'null-proto' : ''
    const members = Object.keys(value).map((k) => `${JSON.stringify(k)}:${canonical((value as any)[k])}`)
    return `${proto}{${members.join(',')}}`
  }
  return String(value)
}

function expectSameValue(actual: Outcome, expected: Outcome): void {
  expect(actual).toEqual(expected)
  const show = (o: Outcome) => (o.ok ? canonical(o.value) : o.error)
  expect(show(actual)).toBe(show(expected))
}

function expectSameDeserialize(text: string): void {
  expectSameValue(
    outcome(() => keyvDeserialize(text)),
    outcome(() => defaultDeserialize(text)),
  )
}

function expectSameParse6(text: string): void {
  expectSameValue(
    outcome(() => keyv6Fast.parse(text)),
    outcome(() => keyv6Default.parse(text)),
  )
}

class Point {
  constructor(
    public x: number,
    public y: string,
  ) {}
  get sum(): string {
    return `${this.x}${this.y}`
  }
}

function sparse(): unknown[] {
  // biome-ignore lint/suspicious/noSparseArray: the case under test
  return [1, , 3]
}

function withExtra<T extends object>(target: T, extra: Record<string, unknown>): T {
  return Object.assign(target, extra)
}

function circular(): unknown {
  const a: Record<string, unknown> = { name: 'a' }
  a.self = a
  return a
}

function deep(levels: number, leaf: unknown): unknown {
  let value = leaf
  for (let i = 0; i < levels; i++) value = i % 2 ? [value] : { level: value }
  return value
}

function args(..._: unknown[]): IArguments {
  // biome-ignore lint/complexity/noArguments: the case under test
  return arguments
}

const rawJSON = (JSON as { rawJSON?: (text: string) => unknown }).rawJSON

/** Every value where the two formats and JSON.stringify could part, and the plain ones around them. */
function trickyValues(): Array<[string, unknown]> {
  const fn = () => 1
  const nonEnumerableIndex = [1, 2, 3]
  Object.defineProperty(nonEnumerableIndex, 1, { value: 9, enumerable: false })
  const nonEnumerableKey = { a: 1 }
  Object.defineProperty(nonEnumerableKey, 'hidden', { value: ':h', enumerable: false })
  const cases: Array<[string, unknown]> = [
    ['undefined', undefined],
    ['null', null],
    ['true', true],
    ['false', false],
    ['0', 0],
    ['-0', -0],
    ['float', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['1e21', 1e21],
    ['max safe', Number.MAX_SAFE_INTEGER],
    ['empty string', ''],
    ['string', 'hello'],
    ['":"', ':'],
    ['"::"', '::'],
    ['":a"', ':a'],
    ['"::a"', '::a'],
    ['":base64:"', ':base64:'],
    ['":base64:AAEC"', ':base64:AAEC'],
    ['"::base64:AAEC"', '::base64:AAEC'],
    ['":bigint:12"', ':bigint:12'],
    ['colon inside', 'a:b'],
    ['trailing colon', 'a:'],
    ['quote', '"'],
    ['quote colon', '":'],
    ['backslash', '\\'],
    ['backslash u003a', '\\u003a'],
    ['control chars', '\u0000\u001f\n\t'],
    ['line separators', '\u2028\u2029'],
    ['lone surrogate', '\ud800'],
    ['emoji', '😀:'],
    // Long text is written whole when it outweighs the rest of the value (json-text.ts), escapes or not.
    ['long text', { value: { id: 1, body: 'x'.repeat(950) }, expires: 1 }],
    ['long text with a quote at the end', { value: { body: `${'x'.repeat(300)}"` } }],
    ['long text with control characters', { value: ['\u0000\n'.repeat(100)] }],
    ['long text with a lone surrogate', { value: `${'y'.repeat(200)}\udc00${'y'.repeat(200)}` }],
    ['long text with emoji', { value: '😀'.repeat(200) }],
    ['long text starting with a colon', { value: `:${'z'.repeat(500)}` }],
    [
      'long text beside undefined, functions and symbols',
      { a: undefined, b: fn, c: [fn, Symbol('s'), 'w'.repeat(900)] },
    ],
    ['Buffer empty', Buffer.alloc(0)],
    ['Buffer', Buffer.from([0, 1, 2, 250, 255])],
    ['Buffer text', Buffer.from(':base64:', 'utf8')],
    ['Buffer with own toJSON unset', Object.assign(Buffer.from([1, 2]), { toJSON: undefined })],
    ['Uint8Array', new Uint8Array([1, 2, 3])],
    ['Float64Array', new Float64Array([1.5, -0])],
    ['ArrayBuffer', new ArrayBuffer(4)],
    ['DataView', new DataView(new ArrayBuffer(2))],
    ['Date', new Date(1_700_000_000_000)],
    ['invalid Date', new Date(Number.NaN)],
    ['Date with NaN valueOf', Object.assign(new Date(0), { valueOf: () => Number.NaN })],
    ['toJSON to colon string', { toJSON: () => ':x' }],
    ['toJSON to undefined', { toJSON: () => undefined }],
    ['toJSON to null', { toJSON: () => null }],
    ['toJSON to Buffer', { toJSON: () => Buffer.from([1]) }],
    ['toJSON to object', { toJSON: () => ({ a: ':b', c: [1, undefined, fn] }) }],
    ['toJSON using its key', { a: { toJSON: (key: unknown) => `key ${String(key)}` } }],
    ['toJSON not a function', { toJSON: 1 }],
    ['toJSON falsy', { toJSON: 0, a: 1 }],
    ['toJSON undefined', { toJSON: undefined, a: 1 }],
    ['function', fn],
    ['symbol', Symbol('s')],
    ['bigint', 1n],
    ['BigInt nested', { a: [1n] }],
    ['function in object', { a: fn, b: 1 }],
    ['function in array', [1, fn, 2]],
    ['only function in array', [fn]],
    ['symbol in object', { a: Symbol('s'), b: 1 }],
    ['symbol in array', [Symbol('s')]],
    ['symbol key', { [Symbol('k')]: 1, a: 2 }],
    ['undefined in object', { a: undefined, b: 1 }],
    ['only undefined in object', { a: undefined }],
    ['undefined in array', [undefined, 1, undefined]],
    ['null in object and array', { a: null, b: [null] }],
    ['sparse array', sparse()],
    ['new Array(3)', new Array(3)],
    ['array with an extra key', withExtra([1, 2], { extra: 3 })],
    ['empty array with an extra key', withExtra([], { extra: ':x' })],
    ['array with a hole and an extra key', withExtra(sparse(), { extra: 4 })],
    ['array with a non-enumerable index', nonEnumerableIndex],
    ['array with a non-enumerable index and an extra key', withExtra(nonEnumerableIndex.slice(0), {})],
    ['array subclass', Object.assign(new (class Bag extends Array {})(), [1, 2])],
    ['array with own constructor', withExtra([1], { constructor: Object })],
    [
      'array subclass replacing map',
      Object.assign(
        new (class Mapped extends Array {
          override map<U>(): U[] {
            return [':mapped' as U]
          }
        })(),
        [1, 2],
      ),
    ],
    ['nested arrays', [[], [[]], [1, [2, [3]]]]],
    ['empty object', {}],
    ['object', { id: 1, name: 'Ada', tags: ['a', 'b'], nested: { deep: { x: true } } }],
    ['colon keys', { ':a': 1, '::b': ':c', ':base64:AAEC': 2 }],
    ['empty key', { '': '' }],
    ['integer-like keys out of order', { b: 1, 2: 'two', a: 2, 1: 'one', '-1': 'minus', '01': 'zero one' }],
    ['keys needing escapes', { 'a"b': 1, 'c\\d': 2, '\n': 3, é: 4, '\ud800': 5 }],
    ['__proto__ own key', JSON.parse('{"__proto__":{"a":":x"},"b":1}')],
    ['__proto__ own key, plain value', JSON.parse('{"__proto__":1}')],
    ['null prototype', Object.assign(Object.create(null), { a: 1, b: ':c' })],
    ['null prototype, plain', Object.assign(Object.create(null), { a: 1 })],
    ['inherited enumerable key', Object.assign(Object.create({ inherited: ':x' }), { own: 1 })],
    ['non-enumerable key', nonEnumerableKey],
    [
      'getter',
      {
        get a() {
          return 'got'
        },
      },
    ],
    [
      'getter to colon string',
      {
        get a() {
          return ':got'
        },
      },
    ],
    ['class instance', new Point(1, 'a')],
    ['class instance with colon string', new Point(1, ':a')],
    ['Map', new Map([['a', 1]])],
    ['Set', new Set([1])],
    ['RegExp', /a:b/g],
    ['Error', new Error(':boom')],
    ['Promise', Promise.resolve(1)],
    ['boxed Number', new Number(1)],
    ['boxed String', new String('ab')],
    ['boxed colon String', new String(':ab')],
    ['boxed Boolean', new Boolean(false)],
    ['boxed BigInt', Object(1n)],
    ['boxed Symbol', Object(Symbol('s'))],
    ['boxed Number with a plain prototype', Object.setPrototypeOf(new Number(2), Object.prototype)],
    ['boxed String with a null prototype', Object.setPrototypeOf(new String('ab'), null)],
    ['boxed values nested', { a: [new Number(1), new Boolean(true)], b: new String('s') }],
    ['arguments', args(1, ':a')],
    ['Proxy of an object', new Proxy({ a: 1, b: 'x' }, {})],
    ['Proxy of an array', new Proxy([1, 'x'], {})],
    ['circular', circular()],
    [
      'circular through an array',
      (() => {
        const a: unknown[] = [1]
        a.push({ a })
        return a
      })(),
    ],
    ['100 levels', deep(100, 'leaf')],
    ['101 levels', deep(101, 'leaf')],
    ['150 levels', deep(150, 'leaf')],
    ['150 levels, colon leaf', deep(150, ':leaf')],
    ['1000 levels', deep(1000, 1)],
    [
      'Keyv entry',
      { value: { id: 1, name: 'n', tags: ['t'], body: 'x'.repeat(900) }, expires: 1_700_000_000_000 },
    ],
    ['Keyv entry, no expiry', { value: 'v', expires: undefined }],
    ['Keyv entry with Buffer', { value: { file: Buffer.from('hi'), name: 'f' }, expires: 1 }],
    ['Keyv entry with Date', { value: { at: new Date(0) }, expires: 1 }],
    ['Keyv entry with colon strings', { value: [':a', '::b', 'c:'], expires: null }],
    ['Keyv entry, deep colon string', { value: { a: { b: [{ c: ':d' }] } } }],
  ]
  if (rawJSON !== undefined) {
    cases.push(['JSON.rawJSON', { a: rawJSON('1e1000') }], ['JSON.rawJSON top', rawJSON('"x"')])
  }
  return cases
}

/** JSON texts that Keyv does not write but that another writer may, each parsed by both sides. */
const texts: string[] = [
  '":x"',
  '  ":x"',
  '\n":x"\n',
  '"::x"',
  '":"',
  '"::"',
  '""',
  '"x:"',
  '":base64:AAEC"',
  '"::base64:AAEC"',
  '":base64:"',
  '":base64:!!!"',
  '":bigint:12"',
  '":bigint:x"',
  '[":a"]',
  '[ ":a" ]',
  '[\t":a"]',
  '[1,":a"]',
  '[1, ":a"]',
  '[1,\r\n":a"]',
  '{"a":":b"}',
  '{"a" : ":b"}',
  '{"a":\t":b"}',
  '{\n  "a": ":b",\n  "c": [\n    ":d"\n  ]\n}',
  '{"a":"\\u003ab"}',
  '{"a":"\\u003Ab"}',
  '"\\u003abc"',
  '["\\u003a"]',
  '{"a":"\\u003a\\u003ab"}',
  '{"\\u003akey":1}',
  '{":key":1}',
  '{"::key":":value"}',
  '{"a,":1}',
  '{"a[":1,"b":2}',
  '{"a:":1}',
  '{"a":"x\\":y"}',
  '{"a":"x\\",\\":y"}',
  '["a\\",\\":b"]',
  '{"a":"\\\\","b":":c"}',
  '{"a":"\\\\\\":c"}',
  '{"a":"\\\\:"}',
  '{"a":"\\/:"}',
  '{"a":[":x",{"b":":y"}]}',
  '{"__proto__":":x"}',
  '{"__proto__":{"a":1}}',
  '{"a":{"type":"Buffer","data":[1,2]}}',
  '{"value":{"id":1,"name":"n"},"expires":1700000000000}',
  '{"value":":base64:aGk=","expires":null}',
  'null',
  '1',
  '-0',
  '1e400',
  'true',
  '{}',
  '[]',
  '[[],{}]',
  '',
  ' ',
  '{',
  '":x',
  'undefined',
  "{'a':1}",
  '{"a":1,}',
  '"\\u003"',
  '\ufeff{}',
  // Long arrays of numbers are left to the text search; what follows them still counts.
  `[${'1,'.repeat(70)}":x"]`,
  `{"value":[${'1.5,'.repeat(70)}{"a":":b"}],"expires":null}`,
  `{"value":[${'2,'.repeat(70)}"x"],"b":":c"}`,
  `[${'1,'.repeat(70)}"\\u003ax"]`,
]

describe('keyvSerialize / keyvDeserialize (Keyv 5 format)', () => {
  it.each(trickyValues())('serializes %s exactly as @keyv/serialize', (_, value) => {
    expectSameSerialize(value)
  })

  it.each(trickyValues())('deserializes what @keyv/serialize wrote for %s as it does', (_, value) => {
    let text: unknown
    try {
      text = defaultSerialize(value)
    } catch {
      return
    }
    if (typeof text === 'string') expectSameDeserialize(text)
  })

  it.each(texts)('deserializes %j as @keyv/serialize', (text) => {
    expectSameDeserialize(text)
  })

  it('falls back to the default when prototypes carry toJSON or enumerable keys', () => {
    const polluted: Array<[object, string, unknown]> = [
      [Number.prototype, 'toJSON', () => ':n'],
      [Boolean.prototype, 'toJSON', () => 'b'],
      [Object.prototype, 'toJSON', () => 'o'],
      [Object.prototype, 'polluted', ':p'],
      [Array.prototype, 'polluted', 1],
    ]
    const value = { a: 1, b: [true, 2, 'x'], c: { d: false } }
    for (const [proto, key, extra] of polluted) {
      let pair: [Outcome, Outcome]
      ;(proto as any)[key] = extra
      try {
        pair = [outcome(() => keyvSerialize(value)), outcome(() => defaultSerialize(value))]
      } finally {
        delete (proto as any)[key]
      }
      expect(pair[0]).toEqual(pair[1])
    }
  })

  it('takes the native paths only where they write the same', () => {
    const stringify = vi.spyOn(JSON, 'stringify')
    const parse = vi.spyOn(JSON, 'parse')
    const fn = () => 1
    // Which writer wrote: JSON.stringify given the value once, the whole-text writer (json-text.ts, which calls it
    // only for strings to escape), or Keyv's own code (which calls it per string, or on a value it prepared).
    const written = (write: (value: unknown) => unknown, value: unknown): string => {
      stringify.mockClear()
      write(value)
      const calls = stringify.mock.calls
      if (calls.length === 1 && calls[0]?.[0] === value) return 'JSON.stringify'
      return calls.length === 0 ? 'whole text' : 'Keyv'
    }
    const read = (parser: (text: string) => unknown, text: string): boolean => {
      parse.mockClear()
      parser(text)
      return parse.mock.calls.length === 1 && parse.mock.calls[0]?.length === 1
    }
    let native: Record<string, string | boolean>
    try {
      native = {
        'K5 plain': written(keyvSerialize, { value: { id: 1, tags: ['a'], body: 'x' }, expires: 1 }),
        'K5 long text': written(keyvSerialize, { value: { id: 1, body: 'x'.repeat(950) }, expires: 1 }),
        'K6 long text': written(keyv6Fast.stringify, { value: { id: 1, body: 'x'.repeat(950) }, expires: 1 }),
        'K5 undefined, functions, null, colon key': written(keyvSerialize, {
          value: { skipped: undefined, method: fn, list: [undefined, null], ':key': 1 },
        }),
        'K5 null prototype': written(keyvSerialize, Object.assign(Object.create(null), { value: 1 })),
        'K5 colon string': written(keyvSerialize, { value: { a: ':a' } }),
        'K5 function in array': written(keyvSerialize, { value: [fn] }),
        'K5 hole': written(keyvSerialize, { value: sparse() }),
        'K5 Date': written(keyvSerialize, { value: new Date(0) }),
        'K6 functions, undefined, holes': written(keyv6Fast.stringify, {
          value: { method: fn, list: [fn, undefined], holes: sparse() },
        }),
        'K6 symbol': written(keyv6Fast.stringify, { value: { symbol: Symbol('s') }, expires: 1 }),
        'K6 colon string': written(keyv6Fast.stringify, { value: [':a'] }),
        'K6 Uint8Array': written(keyv6Fast.stringify, { value: new Uint8Array(1) }),
        'K5 read, colon key': read(keyvDeserialize, '{"value":{":key":"a:b","id":1},"expires":1}'),
        'K5 read, colon value': read(keyvDeserialize, '{"value":"::a"}'),
        'K5 read, long number array': read(keyvDeserialize, `{"value":[${'1.5,'.repeat(70)}1],"expires":1}`),
        'K5 read, colon value after a long number array': read(keyvDeserialize, `[${'1,'.repeat(70)}":x"]`),
        'K5 read, 150 levels': read(keyvDeserialize, JSON.stringify(deep(150, 'leaf'))),
        'K5 read, 150 levels, colon leaf': read(keyvDeserialize, JSON.stringify(deep(150, '::leaf'))),
        'K6 read, plain': read(keyv6Fast.parse, '{"value":{"id":1},"expires":1}'),
        'K6 read, bigint': read(keyv6Fast.parse, '{"value":":bigint:1"}'),
      }
    } finally {
      stringify.mockRestore()
      parse.mockRestore()
    }
    expect(native).toEqual({
      'K5 plain': 'JSON.stringify',
      // Long text that outweighs the rest: the same text (checked above), without JSON.stringify's per-character copy.
      'K5 long text': 'whole text',
      'K6 long text': 'whole text',
      'K5 undefined, functions, null, colon key': 'JSON.stringify',
      'K5 null prototype': 'JSON.stringify',
      'K5 colon string': 'Keyv',
      'K5 function in array': 'Keyv',
      'K5 hole': 'Keyv',
      'K5 Date': 'Keyv',
      'K6 functions, undefined, holes': 'JSON.stringify',
      'K6 symbol': 'JSON.stringify',
      'K6 colon string': 'Keyv',
      'K6 Uint8Array': 'Keyv',
      'K5 read, colon key': true,
      'K5 read, colon value': false,
      'K5 read, long number array': true,
      'K5 read, colon value after a long number array': false,
      'K5 read, 150 levels': true,
      'K5 read, 150 levels, colon leaf': false,
      'K6 read, plain': true,
      'K6 read, bigint': false,
    })
  })
})

describe('fastKeyv6Serialization (Keyv 6 format)', () => {
  it('refuses a base that is not a serializer, with ERR_CONFIG', () => {
    for (const base of [undefined, null, {}, { stringify: JSON.stringify }, { parse: JSON.parse }]) {
      let error: unknown
      try {
        fastKeyv6Serialization(base as never)
      } catch (e) {
        error = e
      }
      expect(isKeyshardError(error, 'ERR_CONFIG')).toBe(true)
      expect((error as Error).message).toMatch(/KeyvJsonSerializer/)
    }
  })

  it.each(trickyValues())('stringifies %s exactly as KeyvJsonSerializer', (_, value) => {
    expectSameStringify6(value)
  })

  it.each(trickyValues())('parses what KeyvJsonSerializer wrote for %s as it does', (_, value) => {
    let text: unknown
    try {
      text = keyv6Default.stringify(value)
    } catch {
      return
    }
    if (typeof text === 'string') expectSameParse6(text)
  })

  it.each(texts)('parses %j as KeyvJsonSerializer', (text) => {
    expectSameParse6(text)
  })
})

/** Text long enough for the whole-text writer (json-text.ts), with characters JSON escapes among the plain ones. */
const longText = fc.string({
  unit: fc.oneof(
    { weight: 20, arbitrary: fc.constant('x') },
    fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', 'é', '\u2028', '\ud800', '\udfff', '😀'),
  ),
  minLength: 64,
  maxLength: 400,
})
// Random values: strings often start with ":" (and Keyv's tags), keys too, with every kind of odd value mixed in.
const colonString = fc.oneof(
  fc.string(),
  longText,
  fc.string({ unit: 'grapheme' }),
  fc.string().map((s) => `:${s}`),
  fc.string().map((s) => `::${s}`),
  fc.string().map((s) => `:base64:${s}`),
  fc.uint8Array().map((b) => `:base64:${Buffer.from(b).toString('base64')}`),
  fc.constantFrom(':', '::', ':base64:', ':bigint:1', '"', '":', '\\', '\\u003a', ',":', '[":'),
)
const key = fc.oneof(
  fc.string(),
  colonString,
  fc.constantFrom('__proto__', 'toJSON', 'constructor', '0', '1'),
)
const fn = () => 0
const oddLeaf = fc.oneof(
  fc.uint8Array().map((b) => Buffer.from(b)),
  fc.uint8Array(),
  fc.date({ noInvalidDate: false }),
  fc.constant(fn),
  fc.constant(Symbol.for('s')),
  fc.constant(undefined),
  fc.bigInt(),
  fc.constantFrom(new Number(1), new String(':s'), new Boolean(false)),
)
const jsonLeaf = fc.oneof(
  colonString,
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
)
const { json, any } = fc.letrec((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    jsonLeaf,
    fc.array(tie('json')),
    fc.dictionary(key, tie('json'), { noNullPrototype: true }),
  ),
  any: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    jsonLeaf,
    oddLeaf,
    fc.array(tie('any')),
    fc.sparseArray(tie('any')),
    fc.dictionary(key, tie('any'), { noNullPrototype: true }),
    fc.dictionary(key, tie('any')),
    fc.array(tie('any')).map((items) => withExtra(items, { extra: 1 })),
    fc.tuple(fc.integer(), colonString).map(([x, y]) => new Point(x, y)),
  ),
}))
const entry = (value: fc.Arbitrary<unknown>) =>
  fc.record(
    { value, expires: fc.oneof(fc.integer({ min: 0 }), fc.constant(undefined), fc.constant(null)) },
    { requiredKeys: ['value'] },
  )
const anyValue = fc.oneof(
  json,
  any,
  entry(json),
  entry(any),
  fc.anything({
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withNullPrototype: true,
    withObjectString: true,
    withSet: true,
    withSparseArray: true,
    withTypedArray: true,
    withBigInt: true,
    withUnicodeString: true,
    key,
  }),
)

/** A JSON text for `value` as another writer may lay it out: whitespace anywhere, some characters as \u escapes. */
function layOut(value: unknown, ws: string, escapes: (code: number) => boolean): string {
  const str = (s: string) => {
    let out = '"'
    for (const ch of s) {
      const code = ch.codePointAt(0) ?? 0
      if (code <= 0xffff && escapes(code)) {
        const hex = code.toString(16).padStart(4, '0')
        out += `\\u${code % 2 ? hex.toUpperCase() : hex}`
      } else out += JSON.stringify(ch).slice(1, -1)
    }
    return `${out}"`
  }
  const write = (v: unknown): string => {
    if (typeof v === 'string') return str(v)
    if (Array.isArray(v)) return `[${ws}${v.map(write).join(`${ws},${ws}`)}${ws}]`
    if (v !== null && typeof v === 'object') {
      const members = Object.entries(v).map(([k, item]) => `${str(k)}${ws}:${ws}${write(item)}`)
      return `{${ws}${members.join(`${ws},${ws}`)}${ws}}`
    }
    return JSON.stringify(v) ?? 'null'
  }
  return `${ws}${write(value)}${ws}`
}
const jsonValue = fc
  .jsonValue()
  .chain((v) =>
    fc.oneof(
      fc.constant(v),
      fc.record({ value: fc.constant(v), expires: fc.integer() }),
      fc.record({ value: fc.constant(v), tag: colonString }),
      fc.record({ value: fc.constant(v), body: longText }),
    ),
  )
const text = fc
  .tuple(
    fc.oneof(
      jsonValue,
      json.map((v) => JSON.parse(JSON.stringify(v) ?? 'null')),
    ),
    fc.constantFrom('', ' ', '\n', '\t', '\r\n  '),
    fc.constantFrom<(code: number) => boolean>(
      () => false,
      (code) => code === 58,
      (code) => code === 58 || code === 34 || code > 127,
      () => true,
    ),
  )
  .map(([value, ws, escapes]) => layOut(value, ws, escapes))

describe('against random values', () => {
  const runs = { numRuns: 3000 }

  it('keyvSerialize writes what @keyv/serialize writes', () => {
    fc.assert(
      fc.property(anyValue, (value) => expectSameSerialize(value)),
      runs,
    )
  })

  it('keyvDeserialize reads what @keyv/serialize wrote as it does', () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        const written = outcome(() => defaultSerialize(value))
        if (written.ok && typeof written.value === 'string') expectSameDeserialize(written.value)
      }),
      runs,
    )
  })

  it('keyvDeserialize reads any JSON text as @keyv/serialize does', () => {
    fc.assert(
      fc.property(text, (t) => expectSameDeserialize(t)),
      runs,
    )
  })

  it('fastKeyv6Serialization writes and reads as KeyvJsonSerializer', () => {
    fc.assert(
      fc.property(anyValue, text, (value, t) => {
        expectSameStringify6(value)
        const written = outcome(() => keyv6Default.stringify(value))
        if (written.ok && typeof written.value === 'string') expectSameParse6(written.value)
        expectSameParse6(t)
      }),
      runs,
    )
  })

  it('a plain JSON value takes the fast path and round-trips', () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        expectSameSerialize(value)
        expectSameStringify6(value)
        expectSameDeserialize(keyvSerialize(value))
      }),
      runs,
    )
  })
})

describe('createKeyv and Keyv apps on the default format', () => {
  const caches: Cache[] = []
  const keyvs: Array<{ disconnect(): Promise<unknown> }> = []
  async function memory(): Promise<Cache> {
    const cache = await connect('memory')
    caches.push(cache)
    return cache
  }
  afterEach(async () => {
    await Promise.all(keyvs.splice(0).map((k) => k.disconnect()))
    await Promise.all(caches.splice(0).map((c) => c.close()))
  })

  it('uses keyvSerialize / keyvDeserialize on Keyv 5', async () => {
    const keyv = await createKeyv({ fromEnv: false, mode: 'memory' })
    keyvs.push(keyv)
    expect(keyv.opts.serialize).toBe(keyvSerialize)
    expect(keyv.opts.deserialize).toBe(keyvDeserialize)
    expect(keyv.serialize).toBe(keyvSerialize)
    expect(keyv.deserialize).toBe(keyvDeserialize)
  })

  it("lets the caller's serialize / deserialize win, undefined included", async () => {
    const serialize = (data: unknown) => JSON.stringify(data)
    const deserialize = (data: string) => JSON.parse(data)
    const own = await createKeyv(await memory(), { keyv: { serialize, deserialize } })
    keyvs.push(own)
    expect(own.opts.serialize).toBe(serialize)
    expect(own.opts.deserialize).toBe(deserialize)
    const onlySerialize = await createKeyv(await memory(), { keyv: { serialize } })
    keyvs.push(onlySerialize)
    expect(onlySerialize.opts.serialize).toBe(serialize)
    expect(onlySerialize.opts.deserialize).toBe(keyvDeserialize)
    const off = await createKeyv(await memory(), { keyv: { serialize: undefined, deserialize: undefined } })
    keyvs.push(off)
    expect(off.opts.serialize).toBeUndefined()
    expect(off.opts.deserialize).toBeUndefined()
  })

  it('puts the fast paths in front of Keyv 6’s own serializer unless the caller sets serialization', async () => {
    const keyv = await createKeyv(await memory(), {}, Keyv6)
    keyvs.push(keyv)
    const own = vi.spyOn(KeyvJsonSerializer.prototype, 'stringify')
    try {
      expect(keyv.serialization).not.toBeInstanceOf(KeyvJsonSerializer)
      expect(keyv.serialization?.stringify({ value: { id: 1 } })).toBe('{"value":{"id":1}}')
      expect(own).not.toHaveBeenCalled()
      expect(keyv.serialization?.stringify({ value: 1n })).toBe('{"value":":bigint:1"}')
      expect(own).toHaveBeenCalledTimes(1)
    } finally {
      own.mockRestore()
    }
    const mine = { stringify: JSON.stringify, parse: JSON.parse }
    const custom = await createKeyv(await memory(), { keyv: { serialization: mine } }, Keyv6)
    keyvs.push(custom)
    expect(custom.serialization).toBe(mine)
    const off = await createKeyv(await memory(), { keyv: { serialization: false } }, Keyv6)
    keyvs.push(off)
    expect(off.serialization).toBeUndefined()
    // Keyv 6's meaning of an explicit undefined: its own default.
    const keyvDefault = await createKeyv(await memory(), { keyv: { serialization: undefined } }, Keyv6)
    keyvs.push(keyvDefault)
    expect(keyvDefault.serialization).toBeInstanceOf(KeyvJsonSerializer)
  })

  it("works as Keyv's own options, as the README shows", async () => {
    const cache = await memory()
    const keyv = new Keyv({
      store: new KeyshardStore(cache),
      namespace: 'readme5',
      serialize: keyvSerialize,
      deserialize: keyvDeserialize,
    })
    const keyv6 = new Keyv6({
      store: new KeyshardStoreV6(cache),
      namespace: 'readme6',
      serialization: fastKeyv6Serialization(new KeyvJsonSerializer()),
    })
    keyvs.push(keyv, keyv6)
    const value = { file: Buffer.from('hi'), tag: ':a', big: 1n }
    await keyv.set('a', { ...value, big: 1 })
    await keyv6.set('a', value)
    expect(await keyv.get('a')).toStrictEqual({ ...value, big: 1 })
    expect(await keyv6.get('a')).toStrictEqual(value)
    expect(await new KeyshardStoreV6(cache, { namespace: 'readme6' }).get('a')).toBe(
      '{"value":{"file":":base64:aGk=","tag":"::a","big":":bigint:1"}}',
    )
  })

  const values: Array<[string, unknown]> = [
    ['Buffer', Buffer.from([0, 1, 2, 255])],
    ['":a"', ':a'],
    ['"::b"', '::b'],
    ['":base64:" as text', ':base64:aGk='],
    ['nested object', { user: { id: 1, tags: [':admin', 'x'], file: Buffer.from('hi'), meta: { a: null } } }],
    ['date string', new Date(1_700_000_000_000).toISOString()],
    ['Date', { at: new Date(1_700_000_000_000) }],
    ['array', [1, 'two', { three: 3 }, [':four']]],
    ['plain 1 KiB', { id: 7, name: 'n', body: 'x'.repeat(1000) }],
    ['number', 42],
  ]

  it('reads what a default Keyv 5 wrote and writes what it reads, byte for byte', async () => {
    const cache = await memory()
    const plain = new Keyv({ store: new KeyshardStore(cache), namespace: 'interop' })
    const fast = await createKeyv(cache, { keyv: { namespace: 'interop' } })
    keyvs.push(plain, fast)
    const raw = new KeyshardStore(cache)
    raw.namespace = 'interop'
    for (const [name, value] of values) {
      await plain.set(`plain:${name}`, value)
      await fast.set(`fast:${name}`, value)
      const expected = defaultDeserialize<{ value: unknown }>(defaultSerialize({ value })).value
      expect(await fast.get(`plain:${name}`)).toStrictEqual(expected)
      expect(await plain.get(`fast:${name}`)).toStrictEqual(expected)
      expect(await raw.get(`interop:fast:${name}`)).toBe(await raw.get(`interop:plain:${name}`))
      expect(await raw.get(`interop:fast:${name}`)).toBe(defaultSerialize({ value }))
    }
    // With a ttl both write Keyv's { value, expires } and read back the other's.
    await plain.set('ttl', { a: ':b' }, 60_000)
    expect(await fast.get('ttl')).toStrictEqual({ a: ':b' })
    await fast.set('ttl2', Buffer.from('x'), 60_000)
    expect(await plain.get('ttl2')).toStrictEqual(Buffer.from('x'))
  })

  it('reads what a default Keyv 6 wrote and writes what it reads, byte for byte', async () => {
    const cache = await memory()
    const plain = new Keyv6({ store: new KeyshardStoreV6(cache), namespace: 'interop6' })
    const fast = await createKeyv(cache, { keyv: { namespace: 'interop6' } }, Keyv6)
    keyvs.push(plain, fast)
    const raw = new KeyshardStoreV6(cache)
    raw.namespace = 'interop6'
    for (const [name, value] of [...values, ['bigint', { n: 12n }] as [string, unknown]]) {
      await plain.set(`plain:${name}`, value)
      await fast.set(`fast:${name}`, value)
      const expected = keyv6Default.parse<{ value: unknown }>(keyv6Default.stringify({ value })).value
      expect(await fast.get(`plain:${name}`)).toStrictEqual(expected)
      expect(await plain.get(`fast:${name}`)).toStrictEqual(expected)
      expect(await raw.get(`fast:${name}`)).toBe(await raw.get(`plain:${name}`))
      expect(await raw.get(`fast:${name}`)).toBe(keyv6Default.stringify({ value }))
    }
  })
})
