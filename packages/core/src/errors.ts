/** Stable machine-readable codes. Match on `code`, never on `message`. */
export type KeyshardErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_CONNECT'
  | 'ERR_TIMEOUT'
  | 'ERR_ENCODE'
  | 'ERR_DECODE'
  | 'ERR_VALUE_TOO_LARGE'
  | 'ERR_KEY'
  | 'ERR_UNSAFE_FLUSH'
  | 'ERR_LOCK'
  | 'ERR_LOADER'
  | 'ERR_CONFLICT'
  | 'ERR_CLOSED'
  | 'ERR_OFFLINE_QUEUE_FULL'
  | 'ERR_COMMAND'

export interface KeyshardErrorOptions {
  cause?: unknown
  /** Extra structured context (addresses tried, variable name, key …) for logs and adapters. */
  details?: Record<string, unknown>
}

/**
 * Registered symbol, so the ESM and CJS builds loaded in one process (two copies of this class) recognise each
 * other's errors, where a plain prototype check would not.
 */
const BRAND = Symbol.for('keyshard.error')

/** The one base class for every error Keyshard raises on purpose. */
export class KeyshardError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
  }

  override readonly name: string = 'KeyshardError'
  readonly code: KeyshardErrorCode
  readonly details: Record<string, unknown>

  constructor(code: KeyshardErrorCode, message: string, options: KeyshardErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.details = options.details ?? {}
    Object.defineProperty(this, BRAND, { value: true })
  }
}

export function isKeyshardError(error: unknown, code?: KeyshardErrorCode): error is KeyshardError {
  return error instanceof KeyshardError && (code === undefined || error.code === code)
}

/** `error` itself when it is a KeyshardError, else wrapped with `code` (the original kept as the cause). */
export function asKeyshardError(error: unknown, code: KeyshardErrorCode): KeyshardError {
  if (error instanceof KeyshardError) return error
  return new KeyshardError(code, error instanceof Error ? error.message : String(error), { cause: error })
}
