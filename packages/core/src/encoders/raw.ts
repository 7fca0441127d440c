import type { Encoder } from '../types.js'
import { strictUtf8 } from './strict-utf8.js'

/**
 * Marks encoders whose output is the value's bytes and nothing else. Any byte string is a valid encoding for
 * them, so the value codec treats stored bytes it cannot read as an envelope as a bare value instead of
 * reporting them as corrupt (another language's client may have written anything).
 */
export const BYTES_TRANSPARENT: unique symbol = Symbol.for('keyshard.encoder.bytesTransparent')

export interface BytesTransparentEncoder extends Encoder {
  readonly [BYTES_TRANSPARENT]: true
}

export function isBytesTransparent(encoder: Encoder): boolean {
  return (encoder as Partial<BytesTransparentEncoder>)[BYTES_TRANSPARENT] === true
}

/**
 * Strings stored as their exact UTF-8 bytes (no quotes, no header), for keys shared with clients in other
 * languages. A string with a lone surrogate is refused (it has no UTF-8 form and would be written as U+FFFD);
 * reading bytes that are not valid UTF-8 fails. Neither direction invents replacement characters.
 */
export const rawStringEncoder: BytesTransparentEncoder = {
  name: 'raw-string',
  [BYTES_TRANSPARENT]: true,
  encode(value: unknown): string {
    if (typeof value !== 'string') {
      throw new TypeError(
        `The raw-string encoder stores strings only, got ${value === null ? 'null' : typeof value}`,
      )
    }
    if (!value.isWellFormed())
      throw new TypeError('The raw-string encoder cannot store a lone surrogate (not well-formed UTF-16)')
    return value
  },
  decode(bytes: Buffer): string {
    return strictUtf8.decode(bytes)
  },
}

/**
 * Buffers or Uint8Arrays stored as their exact bytes; always read back as a Buffer. Both directions copy, so
 * neither the caller nor an in-memory store can change the other's bytes afterwards.
 */
export const rawBufferEncoder: BytesTransparentEncoder = {
  name: 'raw-buffer',
  [BYTES_TRANSPARENT]: true,
  encode(value: unknown): Buffer {
    if (value instanceof Uint8Array) return Buffer.from(value)
    throw new TypeError(
      `The raw-buffer encoder stores Buffers and Uint8Arrays only, got ${value === null ? 'null' : typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value}`,
    )
  },
  decode(bytes: Buffer): Buffer {
    return Buffer.from(bytes)
  },
}
