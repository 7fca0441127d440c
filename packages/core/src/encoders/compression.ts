import { brotliCompressSync, brotliDecompressSync, constants, gunzipSync, gzipSync } from 'node:zlib'
import { KeyshardError } from '../errors.js'
import type { Transformer } from '../types.js'

export type CompressionAlgorithm = 'gzip' | 'brotli'

export interface CompressionOptions {
  /** Values whose encoded size is below this many bytes are stored uncompressed. @default 1024 */
  threshold?: number
  /** @default 'brotli' */
  algorithm?: CompressionAlgorithm
  /**
   * gzip: 1–9 (default 6). brotli: quality 0–11 (default 4: close to gzip's ratio at a fraction of the CPU of
   * brotli's own default of 11, which is too slow for a synchronous hot path).
   */
  level?: number
}

const LEVELS: Record<CompressionAlgorithm, { min: number; max: number; fallback: number }> = {
  gzip: { min: 1, max: 9, fallback: 6 },
  brotli: { min: 0, max: 11, fallback: 4 },
}

/**
 * A transformer that compresses encoded values at or above `threshold` bytes, and stores them unchanged when
 * compression would not make them smaller. The algorithm name is recorded with each entry, so entries stay
 * readable after the threshold, level or even algorithm changes.
 */
export function compression(options: CompressionOptions = {}): Transformer {
  const threshold = options.threshold ?? 1024
  const algorithm = options.algorithm ?? 'brotli'
  if (!Number.isInteger(threshold) || threshold < 0) {
    throw optionError('threshold', `must be a non-negative integer, got ${threshold}`)
  }
  if (!Object.hasOwn(LEVELS, algorithm)) {
    throw optionError('algorithm', `must be 'gzip' or 'brotli', got ${JSON.stringify(algorithm)}`)
  }
  const bounds = LEVELS[algorithm]
  const level = options.level ?? bounds.fallback
  if (!Number.isInteger(level) || level < bounds.min || level > bounds.max) {
    throw optionError(
      'level',
      `for ${algorithm} must be an integer from ${bounds.min} to ${bounds.max}, got ${level}`,
    )
  }
  const compress =
    algorithm === 'gzip'
      ? (bytes: Buffer) => gzipSync(bytes, { level })
      : (bytes: Buffer) =>
          brotliCompressSync(bytes, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: level,
              [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
            },
          })
  return {
    name: algorithm,
    apply(bytes: Buffer): Buffer | null {
      if (bytes.length < threshold) return null
      const compressed = compress(bytes)
      return compressed.length < bytes.length ? compressed : null
    },
    revert: decompressor(algorithm),
  }
}

function optionError(option: string, problem: string): KeyshardError {
  return new KeyshardError('ERR_CONFIG', `compression({ ${option} }) ${problem}`, {
    details: { option: `compression.${option}` },
  })
}

/**
 * Decompression by recorded name, so the codec can read entries written with any compression settings.
 * `maxOutputLength` bounds what a corrupt or hostile entry can inflate to (zlib throws past it).
 */
export function decompressor(
  algorithm: CompressionAlgorithm,
  maxOutputLength?: number,
): (bytes: Buffer) => Buffer {
  const options = maxOutputLength === undefined ? {} : { maxOutputLength }
  return algorithm === 'gzip'
    ? (bytes) => gunzipSync(bytes, options)
    : (bytes) => brotliDecompressSync(bytes, options)
}

/** The built-in decompressors, bounded by the namespace's maxValueBytes (what any valid entry decodes to). */
export function builtInDecompressors(maxOutputLength: number): Map<string, (bytes: Buffer) => Buffer> {
  return new Map([
    ['gzip', decompressor('gzip', maxOutputLength)],
    ['brotli', decompressor('brotli', maxOutputLength)],
  ])
}
