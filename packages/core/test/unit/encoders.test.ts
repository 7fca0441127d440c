import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { compression } from '../../src/encoders/compression.js'
import { msgpackEncoder } from '../../src/encoders/msgpack.js'
import { rawBufferEncoder, rawStringEncoder } from '../../src/encoders/raw.js'
import { richJsonEncoder } from '../../src/encoders/rich-json.js'
import { isKeyshardError, type KeyshardError } from '../../src/errors.js'
import type { Encoder } from '../../src/types.js'

class Point {
  constructor(
    public x: number,
    public y: number,
  ) {}
}

class Money {
  constructor(readonly cents: number) {}
  toJSON() {
    return { amount: this.cents / 100 }
  }
}

/** What the store would write: text encoders hand strings over, stored as their UTF-8 bytes. */
const bytesOf = (encoded: Buffer | string): Buffer =>
  typeof encoded === 'string' ? Buffer.from(encoded, 'utf8') : encoded
const roundTrip = (encoder: Encoder, value: unknown) => encoder.decode(bytesOf(encoder.encode(value)))

/** Structural equality that also tells Buffer from Uint8Array, Map from object, -0 from 0, holes from nothing. */
function expectSame(actual: unknown, expected: unknown, path = '$'): void {
  if (typeof expected === 'number') {
    expect(Object.is(actual, expected), `${path}: ${String(actual)} vs ${expected}`).toBe(true)
    return
  }
  if (expected === null || typeof expected !== 'object') {
    expect(actual, path).toBe(expected)
    return
  }
  expect(actual, path).toBeTypeOf('object')
  expect(Object.getPrototypeOf(actual)?.constructor, `${path} type`).toBe(
    Object.getPrototypeOf(expected)?.constructor,
  )
  if (expected instanceof Date) {
    expect((actual as Date).getTime(), path).toEqual(expected.getTime())
  } else if (ArrayBuffer.isView(expected)) {
    expect([...(actual as Uint8Array)], path).toEqual([...(expected as Uint8Array)])
  } else if (expected instanceof ArrayBuffer) {
    expect([...new Uint8Array(actual as ArrayBuffer)]).toEqual([...new Uint8Array(expected)])
  } else if (expected instanceof Map) {
    const a = [...(actual as Map<unknown, unknown>)]
    const e = [...expected]
    expect(a.length, path).toBe(e.length)
    e.forEach(([k, v], i) => {
      expectSame(a[i]?.[0], k, `${path}.<key ${i}>`)
      expectSame(a[i]?.[1], v, `${path}.get(${String(k)})`)
    })
  } else if (expected instanceof Set) {
    expectSame([...(actual as Set<unknown>)], [...expected], path)
  } else if (Array.isArray(expected)) {
    expect((actual as unknown[]).length, path).toBe(expected.length)
    for (const [i, v] of expected.entries()) expectSame((actual as unknown[])[i], v, `${path}[${i}]`)
  } else {
    expectPlainSame(actual, expected as Record<string, unknown>, path)
  }
}

function expectPlainSame(actual: unknown, expected: Record<string, unknown>, path: string): void {
  const keys = Object.keys(expected).filter((k) => expected[k] !== undefined)
  expect(Object.keys(actual as object).sort(), path).toEqual(keys.sort())
  for (const k of keys) expectSame((actual as Record<string, unknown>)[k], expected[k], `${path}.${k}`)
}

const rich = {
  date: new Date('2026-01-02T03:04:05.678Z'),
  invalidDate: new Date(Number.NaN),
  buffer: Buffer.from([0, 1, 2, 255]),
  bytes: new Uint8Array([9, 8, 7]),
  emptyBuffer: Buffer.alloc(0),
  map: new Map<unknown, unknown>([
    ['a', 1],
    [2, { b: [3] }],
    [{ k: 1 }, new Map([[new Date(0), new Set([1n])]])],
  ]),
  set: new Set<unknown>(['x', 'y', 3, null, new Map([['in', 'set']])]),
  big: 12345678901234567890n,
  smallBig: 5n,
  negBig: -(2n ** 70n),
  nested: { deep: { arr: [1, 'two', null, { three: 3 }, [[[]]]] } },
  nothing: null,
  text: 'héllo — 世界 🎉',
  zero: 0,
  negZero: -0,
  nan: Number.NaN,
  inf: Number.POSITIVE_INFINITY,
  ninf: Number.NEGATIVE_INFINITY,
  float: 0.1 + 0.2,
  arrayWithUndefined: [undefined, 1, undefined],
  bool: false,
  emptyObject: {},
  emptyArray: [],
}

/** User data that looks like the encoders' own tags must come back exactly as written. */
const lookalikes = [
  { $ks: 'D', v: 0 },
  { $ks: 'M', v: [['a', 1]] },
  { $ks: 'u' },
  { $ks: 'O', v: { $ks: 'O', v: {} } },
  { nested: { $ks: { $ks: 1 } }, list: [{ $ks: 'B', v: 'AAE=' }] },
  { '"$ks"': 'quoted', text: '{"$ks":"D","v":0}' },
  '{"$ks":"D","v":0}',
  ['$ks', { $ks: null }],
  new Map([['$ks', { $ks: 'F', v: '-0' }]]),
]

for (const encoder of [richJsonEncoder, msgpackEncoder]) {
  describe(`${encoder.name} encoder`, () => {
    it('round-trips every supported type exactly', () => {
      expectSame(roundTrip(encoder, rich), rich)
      expect(roundTrip(encoder, rich)).toEqual(rich)
    })

    it.each([null, 0, -0, 1.5, -7, 2 ** 53, Number.NaN, 'text', '', true, false, [], {}, 7n, [1, [2, [3]]]])(
      'round-trips top-level value #%#',
      (value) => {
        expectSame(roundTrip(encoder, value), value)
      },
    )

    it.each(lookalikes.map((v) => [v]))('never mistakes user data for its own tags (#%#)', (value) => {
      expectSame(roundTrip(encoder, value), value)
    })

    it('never lets a "__proto__" key change a prototype', () => {
      const value = JSON.parse('{"__proto__": {"polluted": true}, "when": 1}') as Record<string, unknown>
      value.when = new Date(1)
      const out = roundTrip(encoder, value) as Record<string, unknown>
      expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
      expect(Object.keys(out)).toEqual(['__proto__', 'when'])
      expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toEqual({ polluted: true })
      expect(out.polluted).toBeUndefined()
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      expect(out.when).toEqual(new Date(1))
    })

    it('stores class instances as plain objects (toJSON first when they have one)', () => {
      expectSame(roundTrip(encoder, { p: new Point(1, 2) }), { p: { x: 1, y: 2 } })
      expectSame(roundTrip(encoder, [new Money(250)]), [{ amount: 2.5 }])
    })

    it('stores boxed primitives as their primitive value, not as {}', () => {
      const boxed = { n: new Number(1), s: new String('a'), b: new Boolean(false) }
      expectSame(roundTrip(encoder, boxed), { n: 1, s: 'a', b: false })
    })

    it('omits undefined object properties (rich JSON, as JSON does) or keeps them (MessagePack)', () => {
      const out = roundTrip(encoder, { a: 1, b: undefined }) as Record<string, unknown>
      expect(out.a).toBe(1)
      expect(Object.hasOwn(out, 'b')).toBe(encoder === msgpackEncoder)
    })

    it('does not modify the value it encodes', () => {
      const value = { when: new Date(5), list: [1n, new Map([[1, 2]])], $ks: 'x' }
      const copy = { when: new Date(5), list: [1n, new Map([[1, 2]])], $ks: 'x' }
      encoder.encode(value)
      expect(value).toEqual(copy)
    })

    it('encodes shared (non-circular) references as copies', () => {
      const shared = { n: 1 }
      expectSame(roundTrip(encoder, { a: shared, b: shared, c: [shared, shared] }), {
        a: { n: 1 },
        b: { n: 1 },
        c: [{ n: 1 }, { n: 1 }],
      })
    })

    const circular: Record<string, unknown> = { a: 1 }
    circular.self = circular
    const deepCircular: Record<string, unknown> = { list: [] }
    ;(deepCircular.list as unknown[]).push({ back: deepCircular })
    const mapCircular = new Map<string, unknown>()
    mapCircular.set('me', mapCircular)
    it.each([
      ['a function', () => 1],
      ['a symbol', Symbol('s')],
      ['undefined', undefined],
      ['a circular object', circular],
      ['a circular array path', deepCircular],
      ['a circular map', mapCircular],
      ['a nested function', { ok: 1, nested: { fn() {} } }],
      ['a function in an array', [1, () => 2]],
      ['a symbol in a map', new Map([['k', Symbol('v')]])],
      ['a WeakMap', { w: new WeakMap() }],
      ['a Promise', Promise.resolve(1)],
    ])('throws for %s', (_, value) => {
      expect(() => encoder.encode(value)).toThrow()
    })

    it('names where the bad value is', () => {
      expect(() => encoder.encode({ a: [{ b: () => 1 }] })).toThrow(/\$\.a\[0\]\.b/)
    })

    it('throws on bytes it cannot read', () => {
      for (const bytes of [
        Buffer.from('{not json'),
        Buffer.from([0xc1]),
        Buffer.alloc(0),
        Buffer.from([0x92, 0x01]),
      ]) {
        expect(() => encoder.decode(bytes)).toThrow()
      }
    })
  })
}

describe('lone surrogates (strings that are not well-formed UTF-16)', () => {
  const long = `${'x'.repeat(5000)}\uD800`
  const values: Array<[string, unknown]> = [
    ['a string', 'a\uD800'],
    ['a long string', long],
    ['a reversed pair', '\uDE00\uD83D'],
    ['an object value', { text: '\uDC00' }],
    ['an object key', { 'k\uD800': 1 }],
    ['an array item', [1, long]],
    ['a Map key', new Map([['\uD800', 1]])],
    ['a Set item', new Set(['\uDC00'])],
  ]

  it.each(values)('rich JSON round-trips them in %s', (_, value) => {
    expectSame(roundTrip(richJsonEncoder, value), value)
  })

  it.each(values)('MessagePack refuses them in %s instead of writing U+FFFD', (_, value) => {
    expect(() => msgpackEncoder.encode(value)).toThrow(/lone surrogate/)
  })

  it('MessagePack also refuses them in class instances, Error and RegExp text, and names where they are', () => {
    const lone = '\uD800'
    for (const value of [
      Object.assign(new Point(1, 2), { label: lone }),
      new Error(lone),
      Object.assign(new Error('e'), { name: lone }),
      new Error('e', { cause: lone }),
      new RegExp(lone),
    ])
      expect(() => msgpackEncoder.encode({ value })).toThrow(/lone surrogate.* at \$\.value/)
    expect(() => msgpackEncoder.encode(Object.assign(new Point(1, 2), { [lone]: 3 }))).toThrow(/object key/)
    expect(() => msgpackEncoder.encode({ a: [{ 'b\uD800': 1 }] })).toThrow(/object key .* at \$\.a\[0\]\.b/)
  })

  it('raw-string refuses them instead of writing U+FFFD, and keeps surrogate pairs', () => {
    for (const text of ['a\uD800', '\uDC00', long])
      expect(() => rawStringEncoder.encode(text)).toThrow(TypeError)
    expect(rawStringEncoder.encode('\uD83D\uDE00')).toBe('\uD83D\uDE00')
  })
})

describe('richJsonEncoder specifics', () => {
  it('stores plain data as plain JSON other clients can read', () => {
    const value = { a: [1, 'b', null, true], c: { d: 'e' } }
    expect(richJsonEncoder.encode(value).toString()).toBe(JSON.stringify(value))
    expect(richJsonEncoder.decode(Buffer.from('{"written":"by python","n":[1,2]}'))).toEqual({
      written: 'by python',
      n: [1, 2],
    })
  })

  it('round-trips other typed arrays and ArrayBuffers', () => {
    const value = {
      f64: new Float64Array([1.5, -0, Number.NaN]),
      i16: new Int16Array([-1, 2]),
      bi: new BigInt64Array([-5n]),
      ab: new Uint8Array([1, 2, 3]).buffer,
      odd: new Uint8Array(new Uint8Array([0, 1, 2, 3, 4]).buffer, 1, 3),
    }
    expectSame(roundTrip(richJsonEncoder, value), { ...value, odd: new Uint8Array([1, 2, 3]) })
  })

  it('refuses bytes that are not UTF-8 instead of reading U+FFFD', () => {
    for (const bytes of [
      [0x22, 0xff, 0x22],
      [0x22, 0xed, 0xa0, 0x80, 0x22],
      [0x22, 0xc3, 0x22],
      [0x5b, 0x22, 0xe6, 0x97, 0x22, 0x5d],
    ])
      expect(() => richJsonEncoder.decode(Buffer.from(bytes))).toThrow(TypeError)
    expect(richJsonEncoder.decode(Buffer.from('"\uFFFD \\ud800"'))).toBe('\uFFFD \uD800')
  })

  it('throws on RegExp, Error and DataView rather than storing {}', () => {
    for (const bad of [/x/, new Error('e'), new DataView(new ArrayBuffer(1))])
      expect(() => richJsonEncoder.encode({ bad })).toThrow()
  })

  it.each([
    '{"$ks":"?","v":1}',
    '{"$ks":"D","v":"yesterday"}',
    '{"$ks":"N","v":"1.5"}',
    '{"$ks":"M","v":[[1]]}',
    '{"$ks":"T","t":"Proxy","v":""}',
    '{"$ks":"T","t":"Float64Array","v":"AAE="}',
    '{"$ks":"F","v":"1"}',
    '{"$ks":"O","v":[1]}',
  ])('refuses the malformed tag %s', (text) => {
    expect(() => richJsonEncoder.decode(Buffer.from(text))).toThrow()
  })
})

describe('msgpackEncoder specifics', () => {
  it('writes standard MessagePack for plain data', () => {
    // {"a":1} as a map16 with one fixstr key and a positive fixint: no msgpackr record extension.
    expect(msgpackEncoder.encode({ a: 1 })).toEqual(Buffer.from([0xde, 0x00, 0x01, 0xa1, 0x61, 0x01]))
    expect(msgpackEncoder.decode(Buffer.from([0x81, 0xa1, 0x61, 0x01]))).toEqual({ a: 1 })
  })

  it('keeps undefined inside objects, and Error and RegExp through msgpackr extensions', () => {
    const out = roundTrip(msgpackEncoder, { u: undefined, re: /a+b/gi }) as Record<string, unknown>
    expect(Object.hasOwn(out, 'u')).toBe(true)
    expect(out.re).toEqual(/a+b/gi)
  })

  it('keeps an own "__proto__" key in its place, beside a "__proto_" key, at any depth', () => {
    const text = '{"a":0,"__proto__":{"x":[1]},"__proto_":2,"$ks":"y"}'
    const value = { top: JSON.parse(text), list: [JSON.parse(text)], map: new Map([[1, JSON.parse(text)]]) }
    const out = roundTrip(msgpackEncoder, value) as typeof value
    for (const object of [out.top, out.list[0], out.map.get(1)]) {
      expect(Object.getPrototypeOf(object)).toBe(Object.prototype)
      expect(Object.keys(object)).toEqual(['a', '__proto__', '__proto_', '$ks'])
      expect(Object.entries(object)).toEqual([
        ['a', 0],
        ['__proto__', { x: [1] }],
        ['__proto_', 2],
        ['$ks', 'y'],
      ])
    }
    expect(({} as Record<string, unknown>).x).toBeUndefined()
  })

  it('never lets a "__proto__" entry set a prototype, and refuses malformed entries', () => {
    const fixstr = (text: string) => [0xa0 + text.length, ...Buffer.from(text)]
    // {"$ks":"P","v":[entries]} as another writer could forge it.
    const tagged = (...entries: number[]) =>
      Buffer.from([0x82, ...fixstr('$ks'), ...fixstr('P'), ...fixstr('v'), ...entries])
    const forged = tagged(0x91, 0x92, ...fixstr('__proto__'), 0x81, ...fixstr('polluted'), 0xc3)
    const out = msgpackEncoder.decode(forged) as Record<string, unknown>
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
    expect(Object.keys(out)).toEqual(['__proto__'])
    expect(out.polluted).toBeUndefined()
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    for (const bad of [tagged(0x91, 0x92, 0x01, 0x02), tagged(0x91, 0x91, ...fixstr('a')), tagged(0x01)])
      expect(() => msgpackEncoder.decode(bad)).toThrow(/Malformed|tag/)
  })

  it('refuses strings that are not UTF-8 instead of reading U+FFFD', () => {
    const str8 = (bytes: number[]) => [0xd9, bytes.length, ...bytes]
    const ascii = (n: number) => Array.from({ length: n }, () => 0x61)
    for (const bytes of [
      [0xa1, 0xff],
      [0xa3, 0xed, 0xa0, 0x80],
      [0x92, 0x01, 0xa1, 0xc3],
      [0x81, 0xa1, 0xc3, 0x01],
      str8([...ascii(40), 0xff]),
      [0xda, 0x01, 0x00, ...ascii(255), 0xe6],
      [0xd4, 0x73, 0x00, 0x91, 0xa1, 0xff], // a Set
      [0xd4, 0x65, 0x00, 0x93, 0xa5, ...Buffer.from('Error'), 0xa1, 0xff, 0xc0], // an Error
    ]) {
      expect(() => msgpackEncoder.decode(Buffer.from(bytes)), Buffer.from(bytes).toString('hex')).toThrow(
        /UTF-8/,
      )
    }
  })

  it('reads strings of every length and writing system next to binary data that is not UTF-8', () => {
    const value = {
      short: 'é',
      cjk: '日本語',
      emoji: '\uD83D\uDE00',
      str8: 'é'.repeat(100),
      str16: '世'.repeat(1000),
      str32: 'ü'.repeat(40_000),
      [`key ${'é'.repeat(30)}`]: 1,
      bin: Buffer.alloc(300, 0xff),
      f64: new Float64Array(40).fill(-Number.MAX_VALUE),
      big: -(2n ** 100n),
      when: new Date(-1),
      set: new Set(['ñ']),
      error: new Error('ошибка'),
    }
    const out = roundTrip(msgpackEncoder, value) as typeof value
    expectSame(out, value)
    expect(out.error.message).toBe('ошибка')
  })

  it('refuses trailing bytes (e.g. JSON read as MessagePack)', () => {
    expect(() => msgpackEncoder.decode(Buffer.from('{"a":1}'))).toThrow()
  })

  it('returns a buffer that owns its bytes', () => {
    const first = msgpackEncoder.encode('first value')
    const copy = Buffer.from(first)
    for (let i = 0; i < 2000; i++) msgpackEncoder.encode({ i, filler: 'x'.repeat(50) })
    expect(first).toEqual(copy)
  })
})

describe('raw encoders', () => {
  it('stores strings as their exact UTF-8 bytes', () => {
    for (const text of ['', 'hello, wörld', '\u0000KS\u0001', '🎉', '"quoted"']) {
      expect(bytesOf(rawStringEncoder.encode(text))).toEqual(Buffer.from(text, 'utf8'))
      expect(rawStringEncoder.decode(Buffer.from(text, 'utf8'))).toBe(text)
    }
  })

  it('refuses non-strings, and bytes that are not UTF-8', () => {
    for (const bad of [1, null, undefined, Buffer.from('x'), { a: 1 }])
      expect(() => rawStringEncoder.encode(bad)).toThrow(TypeError)
    expect(() => rawStringEncoder.decode(Buffer.from([0xff, 0xfe]))).toThrow()
  })

  it('stores Buffers and Uint8Arrays as their exact bytes and reads Buffers', () => {
    const bytes = Buffer.from([0, 200, 13])
    expect(rawBufferEncoder.encode(bytes)).toEqual(bytes)
    const view = new Uint8Array(new Uint8Array([7, 1, 2, 3, 7]).buffer, 1, 3)
    expect(rawBufferEncoder.encode(view)).toEqual(Buffer.from([1, 2, 3]))
    const out = rawBufferEncoder.decode(Buffer.from([1, 2]))
    expect(Buffer.isBuffer(out)).toBe(true)
    for (const bad of ['text', 1, null, [1, 2], new Uint16Array(2)])
      expect(() => rawBufferEncoder.encode(bad)).toThrow(TypeError)
  })

  it('copies raw bytes both ways, so later mutation cannot reach a stored value', () => {
    const mine = Buffer.from([1, 2, 3])
    const stored = rawBufferEncoder.encode(mine)
    mine[0] = 99
    expect(stored).toEqual(Buffer.from([1, 2, 3]))
    const read = rawBufferEncoder.decode(bytesOf(stored)) as Buffer
    read[1] = 99
    expect(stored).toEqual(Buffer.from([1, 2, 3]))
  })
})

describe('compression', () => {
  const text = Buffer.from('compressible '.repeat(200))

  it.each(['gzip', 'brotli'] as const)(
    '%s compresses above the threshold and reverts exactly',
    (algorithm) => {
      const t = compression({ algorithm, threshold: 100 })
      expect(t.name).toBe(algorithm)
      const out = t.apply(text)
      expect(out).not.toBeNull()
      expect((out as Buffer).length).toBeLessThan(text.length)
      expect(t.revert(out as Buffer)).toEqual(text)
    },
  )

  it('leaves values below the threshold alone', () => {
    expect(compression({ threshold: 1024 }).apply(Buffer.from('x'.repeat(1023)))).toBeNull()
    expect(compression({ threshold: 1024 }).apply(Buffer.from('x'.repeat(1024)))).not.toBeNull()
    expect(compression().apply(Buffer.from('x'.repeat(1000)))).toBeNull()
  })

  it('leaves values alone when compressing would not shrink them', () => {
    for (const algorithm of ['gzip', 'brotli'] as const) {
      expect(compression({ algorithm, threshold: 0 }).apply(randomBytes(4096))).toBeNull()
    }
  })

  it.each([
    [{ threshold: -1 }, 'threshold'],
    [{ threshold: 1.5 }, 'threshold'],
    [{ algorithm: 'zstd' as never }, 'algorithm'],
    [{ algorithm: 'constructor' as never }, 'algorithm'],
    [{ algorithm: 'gzip' as const, level: 10 }, 'level'],
    [{ algorithm: 'brotli' as const, level: 12 }, 'level'],
  ])('refuses %o with ERR_CONFIG naming the option', (options, option) => {
    let error: unknown
    try {
      compression(options)
    } catch (e) {
      error = e
    }
    expect(isKeyshardError(error, 'ERR_CONFIG')).toBe(true)
    expect((error as KeyshardError).details.option).toBe(`compression.${option}`)
  })

  it('throws when reverting bytes that are not compressed', () => {
    expect(() => compression({ algorithm: 'gzip' }).revert(Buffer.from('plain'))).toThrow()
  })
})
