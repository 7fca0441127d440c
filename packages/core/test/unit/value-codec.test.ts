import { describe, expect, it } from 'vitest'
import { compression } from '../../src/encoders/compression.js'
import { msgpackEncoder } from '../../src/encoders/msgpack.js'
import { rawBufferEncoder, rawStringEncoder } from '../../src/encoders/raw.js'
import { richJsonEncoder } from '../../src/encoders/rich-json.js'
import { ENVELOPE_VERSION, readEnvelope, writeEnvelope } from '../../src/envelope.js'
import { isKeyshardError, type KeyshardError } from '../../src/errors.js'
import type { Encoder, Transformer } from '../../src/types.js'
import { ValueCodec } from '../../src/value-codec.js'

const MAGIC = Buffer.from([0x00, 0x4b, 0x53])
const codecOf = (
  encoder: Encoder = richJsonEncoder,
  transformers: Transformer[] = [],
  maxValueBytes = 1 << 20,
) => new ValueCodec({ encoder, transformers, maxValueBytes })

function errorOf(fn: () => unknown): KeyshardError {
  try {
    fn()
  } catch (error) {
    expect(isKeyshardError(error), String(error)).toBe(true)
    return error as KeyshardError
  }
  throw new Error('expected a KeyshardError')
}

const tags = [
  { tag: 'user:1', epoch: 'AbCdEfGhIjKl' },
  { tag: 'tëam 世界', epoch: 'x' },
]

describe('ValueCodec: bare values', () => {
  it('stores the encoder bytes as they are when there is no metadata', () => {
    expect(codecOf().encode({ a: 1 }, { tags: [] }).toString()).toBe('{"a":1}')
    expect(codecOf(rawStringEncoder).encode('hello', { tags: [] })).toEqual(Buffer.from('hello'))
    expect(codecOf(rawBufferEncoder).encode(Buffer.from([0, 200, 13]), { tags: [] })).toEqual(
      Buffer.from([0, 200, 13]),
    )
    expect(codecOf(msgpackEncoder).encode(0, { tags: [] })).toEqual(Buffer.from([0x00]))
  })

  it('decodes bare bytes written by other clients', () => {
    expect(codecOf().decode(Buffer.from('[1,"two"]'))).toEqual({
      value: [1, 'two'],
      tags: [],
      expiresAt: 0,
      staleUntil: 0,
    })
    expect(codecOf(rawStringEncoder).decode(Buffer.from('written elsewhere')).value).toBe('written elsewhere')
  })

  it('stores null as a value, not as a miss', () => {
    const codec = codecOf()
    expect(codec.decode(codec.encode(null, { tags: [] })).value).toBeNull()
  })
})

describe('ValueCodec: envelopes', () => {
  it('round-trips tags, expiry and compression together', () => {
    const value = { text: 'x'.repeat(5000), when: new Date(7), big: 1n }
    for (const encoder of [richJsonEncoder, msgpackEncoder]) {
      const codec = codecOf(encoder, [compression({ threshold: 100 })])
      const bytes = codec.encode(value, { tags, expiresAt: 1_800_000_000_000, staleUntil: 1_800_000_060_000 })
      expect(bytes.subarray(0, 3)).toEqual(MAGIC)
      expect(bytes[3]).toBe(ENVELOPE_VERSION)
      expect(bytes.length).toBeLessThan(1000)
      expect(codec.decode(bytes)).toEqual({
        value,
        tags,
        expiresAt: 1_800_000_000_000,
        staleUntil: 1_800_000_060_000,
      })
    }
  })

  it('records only the transformers that changed the bytes', () => {
    const codec = codecOf(richJsonEncoder, [compression({ threshold: 1024 })])
    expect(codec.encode('short', { tags: [] }).toString()).toBe('"short"')
    const long = codec.encode('y'.repeat(4000), { tags: [] })
    expect(readEnvelope(long).transformers).toEqual(['brotli'])
    expect(codec.decode(long).value).toBe('y'.repeat(4000))
  })

  it('applies transformers in order and reverts them in reverse order', () => {
    const xor = (name: string, key: number): Transformer => ({
      name,
      apply: (b) => Buffer.from(b.map((x) => x ^ key)),
      revert: (b) => Buffer.from(b.map((x) => x ^ key)),
    })
    const reverse: Transformer = {
      name: 'rev',
      apply: (b) => Buffer.from(b).reverse(),
      revert: (b) => Buffer.from(b).reverse(),
    }
    const codec = codecOf(richJsonEncoder, [
      xor('x1', 0x55),
      reverse,
      compression({ threshold: 0, algorithm: 'gzip' }),
    ])
    const bytes = codec.encode({ many: 'z'.repeat(300) }, { tags: [] })
    expect(readEnvelope(bytes).transformers).toEqual(['x1', 'rev', 'gzip'])
    expect(codec.decode(bytes).value).toEqual({ many: 'z'.repeat(300) })
  })

  it('reads entries compressed with other settings or without the transformer configured', () => {
    const writer = codecOf(richJsonEncoder, [compression({ algorithm: 'gzip', threshold: 10, level: 9 })])
    const reader = codecOf(richJsonEncoder, [compression({ algorithm: 'brotli', threshold: 5000 })])
    const plainReader = codecOf()
    const bytes = writer.encode({ a: 'b'.repeat(100) }, { tags: [] })
    expect(reader.decode(bytes).value).toEqual({ a: 'b'.repeat(100) })
    expect(plainReader.decode(bytes).value).toEqual({ a: 'b'.repeat(100) })
  })

  it('wraps a raw value that starts with the magic bytes, so it reads back exactly', () => {
    const tricky = [
      Buffer.from([0x00, 0x4b, 0x53]),
      Buffer.from([0x00, 0x4b, 0x53, 0x01]),
      Buffer.from([0x00, 0x4b, 0x53, 0x01, 0x00, 0x04, 0x6a, 0x73, 0x6f, 0x6e, 0x31]),
      Buffer.from([0x00, 0x4b, 0x53, 0x01, 0xff, 0xff]),
    ]
    const codec = codecOf(rawBufferEncoder)
    for (const value of tricky) {
      const stored = codec.encode(value, { tags: [] })
      expect(stored.length).toBeGreaterThan(value.length)
      expect(codec.decode(stored).value).toEqual(value)
    }
    const text = codecOf(rawStringEncoder)
    expect(text.decode(text.encode('\u0000KS\u0001{}', { tags: [] })).value).toBe('\u0000KS\u0001{}')
  })

  it('reads bytes another client wrote that merely look like an envelope as a raw value', () => {
    const foreign = Buffer.from([0x00, 0x4b, 0x53, 0x09, 0x01, 0x02])
    expect(codecOf(rawBufferEncoder).decode(foreign).value).toEqual(foreign)
  })

  it('stores raw values with tags in an envelope and reads them back', () => {
    const codec = codecOf(rawStringEncoder)
    const bytes = codec.encode('tagged', { tags })
    expect(bytes.subarray(0, 3)).toEqual(MAGIC)
    expect(codec.decode(bytes)).toEqual({ value: 'tagged', tags, expiresAt: 0, staleUntil: 0 })
  })
})

describe('ValueCodec: corrupt and foreign bytes are ERR_DECODE', () => {
  const codec = codecOf(richJsonEncoder, [compression({ threshold: 10, algorithm: 'gzip' })])
  const good = codec.encode({ a: 'b'.repeat(100) }, { tags, expiresAt: 5 })

  it.each([
    ['the contract test bytes (unknown flags)', Buffer.from([0x00, 0x4b, 0x53, 0x01, 0xff, 0xff])],
    ['an unknown version', Buffer.from([0x00, 0x4b, 0x53, 0x02, 0x00, 0x04, 0x6a, 0x73, 0x6f, 0x6e, 0x31])],
    ['only the magic', MAGIC],
    ['bad JSON', Buffer.from('{not json')],
    ['JSON text that is not UTF-8', Buffer.from([0x22, 0xff, 0x22])],
    ['a truncated envelope header', good.subarray(0, 12)],
    ['a truncated compressed payload', good.subarray(0, good.length - 5)],
    [
      'a corrupted compressed payload',
      Buffer.concat([good.subarray(0, good.length - 8), Buffer.alloc(8, 0xaa)]),
    ],
  ])('%s', (_, bytes) => {
    const error = errorOf(() => codec.decode(bytes))
    expect(error.code).toBe('ERR_DECODE')
  })

  it.each(['gzip', 'brotli'] as const)(
    'stops inflating a %s payload past maxValueBytes (a compression bomb) instead of allocating it',
    (algorithm) => {
      const writer = codecOf(richJsonEncoder, [compression({ algorithm })], 64 << 20)
      const bomb = writer.encode('x'.repeat(4 << 20), { tags: [] })
      expect(bomb.length).toBeLessThan(64 << 10)
      const reader = codecOf(richJsonEncoder, [], 1 << 20)
      expect(errorOf(() => reader.decode(bomb)).code).toBe('ERR_DECODE')
      expect(writer.decode(bomb).value).toHaveLength(4 << 20)
    },
  )

  it('every truncation of an envelope is an error or the intact value, never garbage', () => {
    for (let n = 0; n < good.length; n++) {
      try {
        codec.decode(good.subarray(0, n))
        throw new Error(`a ${n}-byte prefix decoded`)
      } catch (error) {
        expect(isKeyshardError(error, 'ERR_DECODE'), String(error)).toBe(true)
      }
    }
  })

  it('refuses an entry written with a different encoder', () => {
    const msgpack = codecOf(msgpackEncoder)
    const error = errorOf(() => codecOf().decode(msgpack.encode({ a: 1 }, { tags })))
    expect(error.code).toBe('ERR_DECODE')
    expect(error.message).toMatch(/msgpack/)
    // Bare values carry no encoder name; the encoders themselves refuse each other's bytes.
    expect(errorOf(() => codecOf().decode(msgpack.encode({ a: 1 }, { tags: [] }))).code).toBe('ERR_DECODE')
    expect(errorOf(() => msgpack.decode(codecOf().encode({ a: 1 }, { tags: [] }))).code).toBe('ERR_DECODE')
  })

  it('refuses an unknown transformer by name', () => {
    const custom: Transformer = {
      name: 'rot',
      apply: (b) => Buffer.from(b).reverse(),
      revert: (b) => Buffer.from(b).reverse(),
    }
    const bytes = codecOf(richJsonEncoder, [custom]).encode([1, 2], { tags: [] })
    const error = errorOf(() => codecOf().decode(bytes))
    expect(error.code).toBe('ERR_DECODE')
    expect(error.message).toMatch(/"rot"/)
  })
})

describe('ValueCodec: encoding errors', () => {
  it('prepare() and encode() throw ERR_ENCODE with the cause for unencodable values', () => {
    const circular: Record<string, unknown> = {}
    circular.self = circular
    for (const bad of [() => 1, Symbol('s'), circular, undefined]) {
      const codec = codecOf()
      const checkError = errorOf(() => codec.prepare(bad))
      expect(checkError.code).toBe('ERR_ENCODE')
      expect(checkError.cause).toBeInstanceOf(Error)
      expect(errorOf(() => codec.encode(bad, { tags })).code).toBe('ERR_ENCODE')
    }
    expect(errorOf(() => codecOf(rawStringEncoder).prepare(42)).code).toBe('ERR_ENCODE')
    for (const encoder of [rawStringEncoder, msgpackEncoder])
      expect(errorOf(() => codecOf(encoder).prepare('a\uD800')).code).toBe('ERR_ENCODE')
  })

  it('refuses values over maxValueBytes, naming the limit and the size', () => {
    const codec = codecOf(richJsonEncoder, [], 1024)
    const error = errorOf(() => codec.prepare('x'.repeat(2000)))
    expect(error.code).toBe('ERR_VALUE_TOO_LARGE')
    expect(error.message).toMatch(/1024/)
    expect(error.message).toMatch(/2002/)
    expect(errorOf(() => codec.encode('x'.repeat(2000), { tags: [] })).code).toBe('ERR_VALUE_TOO_LARGE')
    expect(codec.encode('x'.repeat(1000), { tags: [] }).length).toBe(1002)
  })

  it('reports a failing transformer as ERR_ENCODE', () => {
    const broken: Transformer = {
      name: 'broken',
      apply: () => {
        throw new Error('boom')
      },
      revert: (b) => b,
    }
    expect(errorOf(() => codecOf(richJsonEncoder, [broken]).encode(1, { tags: [] })).code).toBe('ERR_ENCODE')
  })

  it('seals the bytes prepared at the call, whatever happens to the value afterwards', () => {
    let calls = 0
    const counting: Encoder = {
      name: 'counting',
      encode: (v) => {
        calls++
        return richJsonEncoder.encode(v)
      },
      decode: (b) => richJsonEncoder.decode(b),
    }
    const codec = codecOf(counting)
    const value = { n: 1 }
    const prepared = codec.prepare(value)
    value.n = 2
    const epochs = [{ tag: 't', epoch: 'e1' }]
    const tagged = codec.seal(prepared, { tags: epochs })
    expect(Buffer.isBuffer(tagged)).toBe(true)
    expect(codec.decode(tagged as Buffer)).toMatchObject({ value: { n: 1 }, tags: epochs })
    // Bare JSON goes to the store as the text itself (written as UTF-8), with no Buffer in between.
    const bare = codec.seal(prepared, { tags: [] })
    expect(bare).toBe('{"n":1}')
    expect(codec.decode(Buffer.from(bare as string, 'utf8')).value).toEqual({ n: 1 })
    expect(calls).toBe(1)
  })

  it('refuses an encoder that returns neither a Buffer nor a string', () => {
    const broken: Encoder = { name: 'broken', encode: () => 42 as never, decode: () => null }
    const error = errorOf(() => codecOf(broken).prepare({ a: 1 }))
    expect(error.code).toBe('ERR_ENCODE')
    expect(error.message).toMatch(/returned number, not a Buffer or a string/)
  })

  it('counts the UTF-8 bytes of text against maxValueBytes and wraps text that looks like an envelope', () => {
    const codec = codecOf(rawStringEncoder, [], 10)
    expect(codec.prepare('abcdefghij').body).toBe('abcdefghij')
    // Ten characters, but twenty UTF-8 bytes.
    expect(errorOf(() => codec.prepare('éééééééééé')).code).toBe('ERR_VALUE_TOO_LARGE')
    const lookalike = '\u0000KSx'
    const sealed = codec.seal(codec.prepare(lookalike), { tags: [] })
    expect(Buffer.isBuffer(sealed)).toBe(true)
    expect(codec.decode(sealed as Buffer).value).toBe(lookalike)
  })
})

describe('envelope format', () => {
  it('round-trips every field, including empty and long tags', () => {
    const envelope = {
      encoder: 'json',
      tags: [
        { tag: 't'.repeat(1024), epoch: 'e'.repeat(200) },
        { tag: 'a', epoch: '' },
      ],
      expiresAt: 1_700_000_000_123,
      staleUntil: 1_700_000_000_456,
      transformers: ['gzip', 'x'],
      payload: Buffer.from('payload'),
    }
    const out = readEnvelope(writeEnvelope(envelope))
    expect({ ...out, payload: Buffer.from(out.payload) }).toEqual(envelope)
  })

  it('costs a few bytes for a small tagged entry', () => {
    const bytes = writeEnvelope({
      encoder: 'json',
      tags: [{ tag: 'user:1', epoch: 'AbCdEfGhIjKl' }],
      expiresAt: 0,
      staleUntil: 0,
      transformers: [],
      payload: Buffer.from('1'),
    })
    // magic+version 4, flags 1, encoder 1+4, count 2, tag 2+6, epoch 1+12, payload 1
    expect(bytes.length).toBe(34)
  })
})
