/**
 * JSON text written with long strings copied whole: `JSON.stringify`'s exact output for the plain JSON values the
 * fast serializer checks let through (plain objects, arrays, strings, numbers, booleans, null, and the undefined
 * values, functions and symbols JSON.stringify skips in objects and writes as null in arrays).
 *
 * Why: V8's JSON.stringify (Node 20 and 22) copies a string character by character, looking each up for escaping:
 * ≈ 2.8 ns per character, 2.7 µs of a 1 KiB row's 3.8 µs. A string with nothing to escape is written here as it is,
 * found by one regular-expression scan (≈ 1 ns per character); the row then takes 2.1 µs. Each other value costs
 * more here than in JSON.stringify (20 rows of 5 fields: 12.9 µs against 8.1), so this writer is only chosen for
 * values whose long strings outweigh their other values (see {@link writesFasterWhole}).
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

/** `JSON.stringify(value)` for a plain JSON value (see above); undefined where JSON.stringify answers undefined. */
export function stringifyJson(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return ESCAPED.test(value) ? JSON.stringify(value) : `"${value}"`
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
