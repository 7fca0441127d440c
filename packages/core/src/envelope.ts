import type { TagEpoch } from './tag-epochs.js'

/**
 * Entry envelope, version 1. Written only when an entry carries metadata (tags, logical expiry, a transformer),
 * or when the encoder's bare bytes happen to start with the magic; otherwise the encoder's bytes are stored as
 * they are, so plain JSON, MessagePack and raw values stay readable by other clients.
 *
 *   0      4 bytes  magic: 0x00 'K' 'S' then the version (0x01)
 *   4      1 byte   flags: 1 tags, 2 expiresAt, 4 staleUntil, 8 transformers (any other bit: unreadable)
 *   5      1 byte   encoder name length, then the name (UTF-8)
 *   [tags]          u16 count, then per tag: u16 length + UTF-8 tag, u8 length + UTF-8 epoch
 *   [expiresAt]     f64 big-endian, ms since epoch
 *   [staleUntil]    f64 big-endian, ms since epoch
 *   [transformers]  u8 count, then per transformer: u8 length + name, in the order they were applied
 *   rest            payload
 *
 * Neither JSON text nor a MessagePack document can start with 0x00 'K' 'S' (MessagePack 0x00 is the whole
 * document `0`), so for those encoders a bare value is never mistaken for an envelope.
 */
export const ENVELOPE_VERSION = 1
const MAGIC0 = 0x00
const MAGIC1 = 0x4b // K
const MAGIC2 = 0x53 // S
const MAGIC_TEXT = String.fromCharCode(MAGIC0, MAGIC1, MAGIC2)

const FLAG_TAGS = 1
const FLAG_EXPIRES = 2
const FLAG_STALE = 4
const FLAG_TRANSFORMERS = 8
const KNOWN_FLAGS = FLAG_TAGS | FLAG_EXPIRES | FLAG_STALE | FLAG_TRANSFORMERS

export interface Envelope {
  encoder: string
  tags: TagEpoch[]
  /** 0 when absent. */
  expiresAt: number
  /** 0 when absent. */
  staleUntil: number
  /** Names in the order they were applied; revert in reverse. */
  transformers: readonly string[]
  payload: Buffer
}

/**
 * Whether stored bytes claim to be an envelope (any version). Also for text on its way to the store: the magic
 * is ASCII, so its UTF-8 bytes are the leading characters.
 */
export function hasEnvelopeMagic(bytes: Buffer | string): boolean {
  if (typeof bytes === 'string') return bytes.charCodeAt(0) === MAGIC0 && bytes.startsWith(MAGIC_TEXT)
  return bytes.length >= 3 && bytes[0] === MAGIC0 && bytes[1] === MAGIC1 && bytes[2] === MAGIC2
}

export function writeEnvelope(envelope: Envelope): Buffer {
  const encoderName = Buffer.from(envelope.encoder, 'utf8')
  const tags = envelope.tags.map((t) => [Buffer.from(t.tag, 'utf8'), Buffer.from(t.epoch, 'utf8')] as const)
  const transformers = envelope.transformers.map((name) => Buffer.from(name, 'utf8'))
  if (encoderName.length > 255) throw new RangeError('Encoder names are limited to 255 bytes')
  if (tags.length > 0xffff) throw new RangeError('An entry can carry at most 65535 tags')
  if (transformers.length > 255) throw new RangeError('An entry can go through at most 255 transformers')

  let flags = 0
  let size = 4 + 1 + 1 + encoderName.length
  if (tags.length > 0) {
    flags |= FLAG_TAGS
    size += 2
    for (const [tag, epoch] of tags) {
      if (tag.length > 0xffff) throw new RangeError('A tag is limited to 65535 bytes')
      if (epoch.length > 255) throw new RangeError('A tag epoch is limited to 255 bytes')
      size += 2 + tag.length + 1 + epoch.length
    }
  }
  if (envelope.expiresAt !== 0) {
    flags |= FLAG_EXPIRES
    size += 8
  }
  if (envelope.staleUntil !== 0) {
    flags |= FLAG_STALE
    size += 8
  }
  if (transformers.length > 0) {
    flags |= FLAG_TRANSFORMERS
    size += 1
    for (const name of transformers) {
      if (name.length > 255) throw new RangeError('Transformer names are limited to 255 bytes')
      size += 1 + name.length
    }
  }
  size += envelope.payload.length

  const out = Buffer.allocUnsafe(size)
  out[0] = MAGIC0
  out[1] = MAGIC1
  out[2] = MAGIC2
  out[3] = ENVELOPE_VERSION
  out[4] = flags
  out[5] = encoderName.length
  let at = 6 + encoderName.copy(out, 6)
  if (flags & FLAG_TAGS) {
    at = out.writeUInt16BE(tags.length, at)
    for (const [tag, epoch] of tags) {
      at = out.writeUInt16BE(tag.length, at)
      at += tag.copy(out, at)
      out[at++] = epoch.length
      at += epoch.copy(out, at)
    }
  }
  if (flags & FLAG_EXPIRES) at = out.writeDoubleBE(envelope.expiresAt, at)
  if (flags & FLAG_STALE) at = out.writeDoubleBE(envelope.staleUntil, at)
  if (flags & FLAG_TRANSFORMERS) {
    out[at++] = transformers.length
    for (const name of transformers) {
      out[at++] = name.length
      at += name.copy(out, at)
    }
  }
  envelope.payload.copy(out, at)
  return out
}

/** Parses an envelope; throws a plain Error describing what is wrong when the bytes are not a valid one. */
export function readEnvelope(bytes: Buffer): Envelope {
  if (!hasEnvelopeMagic(bytes)) throw new Error('Not a Keyshard envelope (missing magic bytes)')
  const reader = new Reader(bytes, 3)
  const version = reader.u8()
  if (version !== ENVELOPE_VERSION) {
    throw new Error(
      `Unsupported envelope version ${version}; this Keyshard reads version ${ENVELOPE_VERSION}`,
    )
  }
  const flags = reader.u8()
  if ((flags & ~KNOWN_FLAGS) !== 0) throw new Error(`Unknown envelope flags 0x${flags.toString(16)}`)
  const encoder = reader.string(reader.u8())
  const tags: TagEpoch[] = []
  if (flags & FLAG_TAGS) {
    const count = reader.u16()
    for (let i = 0; i < count; i++) {
      const tag = reader.string(reader.u16())
      const epoch = reader.string(reader.u8())
      tags.push({ tag, epoch })
    }
  }
  const expiresAt = flags & FLAG_EXPIRES ? reader.f64() : 0
  const staleUntil = flags & FLAG_STALE ? reader.f64() : 0
  const transformers: string[] = []
  if (flags & FLAG_TRANSFORMERS) {
    const count = reader.u8()
    for (let i = 0; i < count; i++) transformers.push(reader.string(reader.u8()))
  }
  return { encoder, tags, expiresAt, staleUntil, transformers, payload: bytes.subarray(reader.at) }
}

class Reader {
  constructor(
    readonly bytes: Buffer,
    public at: number,
  ) {}

  #need(n: number): void {
    if (this.at + n > this.bytes.length) throw new Error('Truncated envelope')
  }

  u8(): number {
    this.#need(1)
    return this.bytes[this.at++] as number
  }

  u16(): number {
    this.#need(2)
    const value = this.bytes.readUInt16BE(this.at)
    this.at += 2
    return value
  }

  f64(): number {
    this.#need(8)
    const value = this.bytes.readDoubleBE(this.at)
    this.at += 8
    if (!Number.isFinite(value) || value < 0) throw new Error('Corrupt envelope timestamp')
    return value
  }

  string(length: number): string {
    this.#need(length)
    const value = this.bytes.toString('utf8', this.at, this.at + length)
    this.at += length
    return value
  }
}
