/**
 * JSON text written with long strings copied whole: `JSON.stringify`'s exact output for the plain JSON values the
 * fast serializer checks let through (plain objects, arrays, strings, numbers, booleans, null, and the undefined
 * values, functions and symbols JSON.stringify skips in objects and writes as null in arrays).
 *
 * Why: V8's JSON.stringify (Node 20 and 22) copies a string character by character, looking each up for escaping:
 * ≈ 2.8 ns per character. A string with nothing to escape is written here as it is, found by scans of ≈ 0.3 ns per
 * character in all for Latin-1 text (see {@link needsEscaping}). The bench's 1 KiB row took 1.6 µs against
 * JSON.stringify's 2.2 µs (Node 20) and 2.7 µs (Node 22) before the scan for control characters was made ≈ 0.3 µs
 * faster. Each other value costs more here than in JSON.stringify (20 rows of 5 fields:
 * 12.9 µs against 8.1), so this writer is only chosen for values whose long strings outweigh their other values
 * (see {@link writesFasterWhole}).
 */

/** Strings at least this long count towards choosing this writer. */
export const LONG_TEXT = 64

/**
 * Whether this writer beats JSON.stringify on a value of `values` values (objects, arrays and leaves) holding
 * `longTextChars` characters in strings of at least {@link LONG_TEXT}: measured, a value costs ≈ 48 ns more here and
 * a character of long text ≈ 1.8 ns less.
 */
export function writesFasterWhole(values: number, longTextChars: number): boolean {
  return longTextChars > 32 * values
}

/** A character JSON.stringify escapes (`"`, `\`, below U+0020) or a surrogate, which it escapes when alone. */
const ESCAPED = /[^\u0020\u0021\u0023-\u005b\u005d-\ud7ff\ue000-\uffff]/
/** A character below U+0020. */
const CONTROL = /[^\u0020-\uffff]/

/**
 * Whether JSON.stringify escapes anything in `text`. A long string is searched for `"` and `\` by indexOf and for
 * lone surrogates by isWellFormed, native scans many times faster than a regular expression, and for control
 * characters by {@link mayHoldControl}, confirmed by {@link CONTROL} only where it finds a candidate.
 */
function needsEscaping(text: string): boolean {
  if (text.length < LONG_TEXT) return ESCAPED.test(text)
  return (
    text.indexOf('"') !== -1 ||
    text.indexOf('\\') !== -1 ||
    !text.isWellFormed() ||
    (mayHoldControl(text) && CONTROL.test(text))
  )
}

/** Bytes {@link mayHoldControl} copies a text into at a time; it is reused, so a longer text is copied in parts. */
const SCAN_BYTES = 16_384
const scanBytes = Buffer.allocUnsafeSlow(SCAN_BYTES)
const scanWords = new Int32Array(scanBytes.buffer, scanBytes.byteOffset, SCAN_BYTES / 4)

/**
 * Whether `text` may hold a character below U+0020: `false` means it holds none. Its Latin-1 bytes (each character's
 * low byte, written natively: a plain copy of a one-byte string) are tested four at a time: for bytes `x`,
 * `(x − 0x20…) & ~x & 0x80…` is non-zero exactly when one of them is below 0x20 (a borrow only crosses into the
 * next byte from a byte below 0x20, and a byte of 0x80 or more has its top bit cleared by `~x`). A control
 * character's low byte is itself, so none is missed; a character above U+00FF whose low byte is below 0x20 (`一` is
 * U+4E00) is a candidate that {@link CONTROL} rules out. Measured on 950 characters: ≈ 0.2–0.3 µs against the
 * regular expression's ≈ 0.55–0.6 µs for Latin-1 text (Node 20 and 22), ≈ 0.1 µs more than the expression alone
 * for other text.
 */
function mayHoldControl(text: string): boolean {
  for (let at = 0; at < text.length; at += SCAN_BYTES) {
    // A slice of the whole text is the text itself, and of a part a view of it (V8 copies neither).
    const written = scanBytes.write(text.slice(at, at + SCAN_BYTES), 0, 'latin1')
    const words = written >> 2
    for (let i = 0; i < words; i++) {
      const x = scanWords[i] as number
      if (((x - 0x20202020) & ~x & 0x80808080) !== 0) return true
    }
    for (let i = words << 2; i < written; i++) if ((scanBytes[i] as number) < 0x20) return true
  }
  return false
}

/** `JSON.stringify(value)` for a plain JSON value (see above); undefined where JSON.stringify answers undefined. */
export function stringifyJson(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return needsEscaping(value) ? JSON.stringify(value) : `"${value}"`
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null'
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object':
      break
    default:
      return undefined
  }
  if (value === null) return 'null'
  if (Array.isArray(value)) {
    let text = '['
    for (let i = 0; i < value.length; i++) {
      if (i > 0) text += ','
      text += stringifyJson(value[i]) ?? 'null'
    }
    return `${text}]`
  }
  let text = '{'
  for (const key of Object.keys(value)) {
    const item = stringifyJson((value as Record<string, unknown>)[key])
    if (item === undefined) continue
    text += `${text.length > 1 ? ',' : ''}${stringifyJson(key)}:${item}`
  }
  return `${text}}`
}
