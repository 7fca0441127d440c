import type { Duration, Ttl } from './types.js'

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
// A decimal number (no exponent, no sign) and an optional unit; a bare number means milliseconds.
const DURATION_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)?$/

/**
 * Milliseconds from a number or a string such as `'250ms'`, `'5s'`, `'1.5m'`, `'1h'`, `'2d'` (a bare numeric
 * string is milliseconds). Fractional results are rounded to the nearest millisecond; anything that would be
 * below 1 ms, negative, not finite or unparsable is a RangeError naming `what`, because a zero or negative
 * TTL would make Valkey reject or silently delete the write.
 */
export function parseDuration(input: Duration, what = 'duration'): number {
  let ms: number
  if (typeof input === 'number') {
    ms = input
  } else if (typeof input === 'string') {
    const match = DURATION_RE.exec(input.trim())
    if (match === null) {
      throw new RangeError(
        `Invalid ${what} ${JSON.stringify(input)}: use milliseconds or a number with a unit (ms, s, m, h, d), e.g. '250ms', '5m', '1h'`,
      )
    }
    ms = Number(match[1]) * UNIT_MS[(match[2] ?? 'ms') as keyof typeof UNIT_MS]
  } else {
    throw new RangeError(`Invalid ${what} ${describe(input)}: expected milliseconds or a string such as '5m'`)
  }
  if (!Number.isFinite(ms) || ms < 1) {
    throw new RangeError(`Invalid ${what} ${describe(input)}: must be a finite duration of at least 1 millisecond`)
  }
  const rounded = Math.round(ms)
  if (!Number.isSafeInteger(rounded)) {
    throw new RangeError(`Invalid ${what} ${describe(input)}: larger than the largest safe integer of milliseconds`)
  }
  return rounded
}

/** A TTL in ms: `undefined` takes the fallback, `null` means no expiry, anything else must be a valid duration. */
export function resolveTtl(ttl: Ttl | undefined, fallback: number | null): number | null {
  if (ttl === undefined) return fallback
  if (ttl === null) return null
  return parseDuration(ttl, 'ttl')
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value)
  if (value === null) return 'null'
  return `of type ${typeof value}`
}
