import type { Duration, Ttl } from './types.js'

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const NUMBER = String.raw`(?:\d+(?:\.\d+)?|\.\d+)`
const UNIT = '(?:ms|s|m|h|d)'
// A bare decimal number (milliseconds), or one or more number+unit parts as in Go ('1h30m'); no signs, no
// exponents, lower-case units only ('M' could be read as months).
const BARE_RE = new RegExp(`^${NUMBER}$`)
const COMPOUND_RE = new RegExp(`^(?:${NUMBER}\\s*${UNIT})+$`)
const PART_RE = new RegExp(`(${NUMBER})\\s*(${UNIT})`, 'g')

/**
 * Milliseconds from a number or a string such as `'250ms'`, `'5s'`, `'1.5m'`, `'1h'`, `'2d'` or `'1h30m'` (a
 * bare numeric string is milliseconds). Fractional results are rounded to the nearest millisecond; anything that would be
 * below 1 ms, negative, not finite or unparsable is a RangeError naming `what`, because a zero or negative
 * TTL would make Valkey reject or silently delete the write.
 */
export function parseDuration(input: Duration, what = 'duration'): number {
  let ms: number
  if (typeof input === 'number') {
    ms = input
  } else if (typeof input === 'string') {
    const text = input.trim()
    if (BARE_RE.test(text)) {
      ms = Number(text)
    } else if (COMPOUND_RE.test(text)) {
      ms = 0
      for (const part of text.matchAll(PART_RE))
        ms += Number(part[1]) * UNIT_MS[part[2] as keyof typeof UNIT_MS]
    } else {
      throw new RangeError(
        `Invalid ${what} ${JSON.stringify(input)}: use milliseconds or a number with a unit (ms, s, m, h, d), e.g. '250ms', '5m', '1h'`,
      )
    }
  } else {
    throw new RangeError(`Invalid ${what} ${describe(input)}: expected milliseconds or a string such as '5m'`)
  }
  if (!Number.isFinite(ms) || ms < 1) {
    throw new RangeError(
      `Invalid ${what} ${describe(input)}: must be a finite duration of at least 1 millisecond`,
    )
  }
  const rounded = Math.round(ms)
  if (!Number.isSafeInteger(rounded)) {
    throw new RangeError(
      `Invalid ${what} ${describe(input)}: larger than the largest safe integer of milliseconds`,
    )
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
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value)
  if (value === null) return 'null'
  return `of type ${typeof value}`
}
