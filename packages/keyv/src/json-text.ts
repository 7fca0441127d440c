/**
 * JSON text written with long strings copied whole: `JSON.stringify`'s exact output for the plain JSON values the
 * fast serializer checks let through (plain objects, arrays, strings, numbers, booleans, null, and the undefined
 * values, functions and symbols JSON.stringify skips in objects and writes as null in arrays).
 *
 * Why: V8's JSON.stringify (Node 20 and 22) copies a string character by character, looking each up for escaping:
 * ≈ 2.8 ns per character. A string with nothing to escape is written here as it is, found by scans of ≈ 0.6 ns per
 * character in all (see {@link needsEscaping}): the bench's 1 KiB row takes 1.6 µs against JSON.stringify's 2.2 µs
 * (Node 20) and 2.7 µs (Node 22). Each other value costs more here than in JSON.stringify (20 rows of 5 fields:
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
 * lone surrogates by isWellFormed, native scans many times faster than a regular expression, which then looks for
 * control characters only: 950 characters take ≈ 0.6 µs instead of ≈ 1.0 µs for {@link ESCAPED} (Node 20 and 22).
 */
function needsEscaping(text: string): boolean {
  if (text.length < LONG_TEXT) return ESCAPED.test(text)
  return text.indexOf('"') !== -1 || text.indexOf('\\') !== -1 || !text.isWellFormed() || CONTROL.test(text)
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
