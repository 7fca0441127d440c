import { builtInDecompressors } from './encoders/compression.js'
import { isBytesTransparent } from './encoders/raw.js'
import { type Envelope, hasEnvelopeMagic, readEnvelope, writeEnvelope } from './envelope.js'
import { KeyshardError } from './errors.js'
import type { TagEpoch } from './tag-epochs.js'
import type { StoreValue } from './store/store.js'
import type { Encoder, Transformer } from './types.js'

export interface ValueCodecOptions {
  encoder: Encoder
  transformers?: readonly Transformer[]
  /** Largest encoder output accepted (before transformers such as compression). */
  maxValueBytes: number
}

export interface EncodeMetadata {
  tags: TagEpoch[]
  /** Logical expiry, ms since epoch (read-through grace). */
  expiresAt?: number
  /** Until when a logically expired entry may still be served stale, ms since epoch. */
  staleUntil?: number
}

export interface DecodedValue {
  value: unknown
  tags: TagEpoch[]
  /** 0 when the entry has none. */
  expiresAt: number
  /** 0 when the entry has none. */
  staleUntil: number
}

const NO_TAGS: TagEpoch[] = []
const NO_TRANSFORMERS: readonly string[] = []

/** A value encoded and transformed, waiting for its tag epochs and expiry before it is sealed into bytes. */
export interface PreparedValue {
  /** A string only when a text encoder produced it and no transformer changed it. */
  readonly body: StoreValue
  /** Names of the transformers that changed the bytes, in the order applied. */
  readonly applied: readonly string[]
}

/**
 * Turns values into stored bytes and back for one namespace: the encoder, then the transformers, then the
 * envelope when the entry needs one (see envelope.ts). Every failure is a KeyshardError: ERR_ENCODE and
 * ERR_VALUE_TOO_LARGE on the way in (before anything is written), ERR_DECODE on the way out.
 */
export class ValueCodec {
  readonly encoder: Encoder
  readonly transformers: readonly Transformer[]
  readonly maxValueBytes: number
  readonly #transparent: boolean
  readonly #reverters: ReadonlyMap<string, (bytes: Buffer) => Buffer>

  constructor(options: ValueCodecOptions) {
    this.encoder = options.encoder
    this.transformers = options.transformers ?? []
    this.maxValueBytes = options.maxValueBytes
    this.#transparent = isBytesTransparent(this.encoder)
    const reverters = builtInDecompressors(this.maxValueBytes)
    // compression()'s own transformers are served by the bounded built-ins above.
    for (const t of this.transformers)
      if (!reverters.has(t.name)) reverters.set(t.name, (bytes) => t.revert(bytes))
    this.#reverters = reverters
  }

  /**
   * Encodes and transforms `value`, throwing ERR_ENCODE / ERR_VALUE_TOO_LARGE if it cannot be stored. Callers
   * prepare before they touch any tag state, so a value that cannot be stored writes nothing at all, and the
   * bytes reflect the value as it was at the call even if the caller mutates it while the write is under way.
   */
  prepare(value: unknown): PreparedValue {
    const payload = this.#encodePayload(value)
    if (this.transformers.length === 0) return { body: payload, applied: NO_TRANSFORMERS }
    let body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload
    let applied = NO_TRANSFORMERS
    for (const transformer of this.transformers) {
      let out: Buffer | null
      try {
        out = transformer.apply(body)
      } catch (error) {
        throw new KeyshardError(
          'ERR_ENCODE',
          `Transformer "${transformer.name}" failed: ${messageOf(error)}`,
          { cause: error },
        )
      }
      if (out !== null) {
        body = out
        applied = applied === NO_TRANSFORMERS ? [transformer.name] : [...applied, transformer.name]
      }
    }
    return { body, applied }
  }

  /** The stored bytes for a prepared value: bare when nothing needs recording, else an envelope. */
  seal(prepared: PreparedValue, metadata: EncodeMetadata): StoreValue {
    const { body, applied } = prepared
    const expiresAt = metadata.expiresAt ?? 0
    const staleUntil = metadata.staleUntil ?? 0
    const bare = metadata.tags.length === 0 && expiresAt === 0 && staleUntil === 0 && applied.length === 0
    // Bare bytes that start like an envelope are wrapped anyway, so reading them back is never ambiguous.
    if (bare && !hasEnvelopeMagic(body)) return body
    try {
      return writeEnvelope({
        encoder: this.encoder.name,
        tags: metadata.tags,
        expiresAt,
        staleUntil,
        transformers: applied,
        payload: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
      })
    } catch (error) {
      throw new KeyshardError('ERR_ENCODE', `Could not write the entry envelope: ${messageOf(error)}`, {
        cause: error,
      })
    }
  }

  /** prepare + seal, as bytes (the write paths use `seal`'s output as is). */
  encode(value: unknown, metadata: EncodeMetadata): Buffer {
    const sealed = this.seal(this.prepare(value), metadata)
    return typeof sealed === 'string' ? Buffer.from(sealed, 'utf8') : sealed
  }

  decode(bytes: Buffer): DecodedValue {
    if (!hasEnvelopeMagic(bytes)) {
      return { value: this.#decodePayload(bytes), tags: NO_TAGS, expiresAt: 0, staleUntil: 0 }
    }
    let envelope: Envelope
    try {
      envelope = readEnvelope(bytes)
    } catch (error) {
      // For raw encoders every byte string is a valid value: bytes another client wrote that merely start
      // like an envelope are that client's value, not corruption.
      if (this.#transparent)
        return { value: this.#decodePayload(bytes), tags: NO_TAGS, expiresAt: 0, staleUntil: 0 }
      throw new KeyshardError('ERR_DECODE', `Stored value is not readable: ${messageOf(error)}`, {
        cause: error,
      })
    }
    if (envelope.encoder !== this.encoder.name) {
      throw new KeyshardError(
        'ERR_DECODE',
        `Stored value was written with the "${envelope.encoder}" encoder, but this namespace uses "${this.encoder.name}"`,
        { details: { stored: envelope.encoder, expected: this.encoder.name } },
      )
    }
    let payload = envelope.payload
    for (let i = envelope.transformers.length - 1; i >= 0; i--) {
      const name = envelope.transformers[i] as string
      const revert = this.#reverters.get(name)
      if (revert === undefined) {
        throw new KeyshardError(
          'ERR_DECODE',
          `Stored value went through transformer "${name}", which this namespace does not have`,
          {
            details: { transformer: name },
          },
        )
      }
      try {
        payload = revert(payload)
      } catch (error) {
        throw new KeyshardError(
          'ERR_DECODE',
          `Transformer "${name}" could not restore the stored value: ${messageOf(error)}`,
          {
            cause: error,
          },
        )
      }
    }
    return {
      value: this.#decodePayload(payload),
      tags: envelope.tags,
      expiresAt: envelope.expiresAt,
      staleUntil: envelope.staleUntil,
    }
  }

  #encodePayload(value: unknown): StoreValue {
    let bytes: StoreValue
    try {
      bytes = this.encoder.encode(value)
    } catch (error) {
      throw new KeyshardError(
        'ERR_ENCODE',
        `The "${this.encoder.name}" encoder cannot encode this value: ${messageOf(error)}`,
        {
          cause: error,
          details: { encoder: this.encoder.name },
        },
      )
    }
    let size: number
    if (typeof bytes === 'string') {
      // UTF-8 takes at most 3 bytes per UTF-16 unit, so most strings need no byte count at all.
      size = bytes.length * 3 <= this.maxValueBytes ? bytes.length : Buffer.byteLength(bytes, 'utf8')
    } else if (Buffer.isBuffer(bytes)) {
      size = bytes.length
    } else {
      throw new KeyshardError(
        'ERR_ENCODE',
        `The "${this.encoder.name}" encoder returned ${typeof bytes}, not a Buffer or a string`,
      )
    }
    if (size > this.maxValueBytes) {
      throw new KeyshardError(
        'ERR_VALUE_TOO_LARGE',
        `The encoded value is ${size} bytes, over the limit of ${this.maxValueBytes} bytes (maxValueBytes); store less or raise maxValueBytes`,
        { details: { bytes: size, maxValueBytes: this.maxValueBytes } },
      )
    }
    return bytes
  }

  #decodePayload(bytes: Buffer): unknown {
    try {
      return this.encoder.decode(bytes)
    } catch (error) {
      throw new KeyshardError(
        'ERR_DECODE',
        `The "${this.encoder.name}" encoder cannot decode the stored value: ${messageOf(error)}`,
        {
          cause: error,
          details: { encoder: this.encoder.name },
        },
      )
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
