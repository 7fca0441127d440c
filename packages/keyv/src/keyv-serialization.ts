import { types } from 'node:util'
import { KeyshardError } from '@keyshard/core'
import { defaultDeserialize, defaultSerialize } from '@keyv/serialize'
import { LONG_TEXT, stringifyJson, writesFasterWhole } from './json-text.js'

// Keyv's formats write Buffers as ":base64:…" strings and escape strings that start with ":" by doubling the colon,
// so only values with such strings (or with things the formats treat unlike JSON) need Keyv's own code. Everything
// else is plain JSON, which V8's native JSON.parse / JSON.stringify handle faster than Keyv's reviver (called for
// every value) and its recursive string builder.

const COLON = 58
/**
 * Past this depth the fast check hands the value to Keyv's own code: real values are far shallower, and a circular
 * value then fails inside Keyv's code, as it would without Keyshard (a RangeError, not JSON.stringify's TypeError).
 */
const MAX_DEPTH = 100
const isRawJSON = (JSON as { isRawJSON?: (value: unknown) => boolean }).isRawJSON
const { isBoxedPrimitive } = types
type MaybeToJSON = { toJSON?: unknown }

/**
 * Keyv 5's serializer: byte for byte the string `defaultSerialize` of `@keyv/serialize` 1.x writes, so values stay
 * readable and writable by any Keyv app or store using Keyv's default format. Values made only of plain objects,
 * arrays, numbers, booleans, null and strings not starting with `:` are written as `JSON.stringify` writes them (by it,
 * or, where long strings outweigh the rest, by json-text.ts, which copies them whole); anything else
 * (Buffers, Dates and other objects with `toJSON`, class instances, strings starting with `:`, BigInts, symbols,
 * functions or holes in arrays…) by `defaultSerialize` itself, so errors (BigInt, circular values) are Keyv's too.
 *
 * @example new Keyv({ store: new KeyshardStore(cache), serialize: keyvSerialize, deserialize: keyvDeserialize })
 */
export function keyvSerialize(data: unknown): string {
  if (data !== undefined && primitivesHaveNoToJSON() && checked(isJsonAsKeyv5, data)) {
    try {
      return stringifyChecked(data) as string
    } catch {
      // A getter that throws only now: Keyv's own code decides what happens.
    }
  }
  return defaultSerialize(data)
}

/**
 * Keyv 5's deserializer: the value `defaultDeserialize` of `@keyv/serialize` 1.x returns (`:base64:` strings
 * become Buffers, a leading `::` loses one colon). Text in which no string value can start with `:` is read by
 * plain `JSON.parse`, without Keyv's reviver.
 */
export function keyvDeserialize<Value = any>(data: string): Value {
  return parseUnlessColonStrings(data, defaultDeserialize) as Value
}

/** Keyv 6's `serialization` adapter (`stringify` / `parse`), declared here so that Keyv 5 users need not have it. */
export interface KeyvSerializationAdapter {
  stringify(object: unknown): string
  parse<Value = any>(data: string): Value
}

/**
 * Keyv 6's serialization adapter with {@link keyvSerialize}'s and {@link keyvDeserialize}'s fast paths in front of
 * `base`, Keyv 6's default `KeyvJsonSerializer` (6.1): the same strings and values, with `base` writing and reading
 * whatever is not plain JSON. Keyv 6 also tags BigInts (`:bigint:`) and writes every `Uint8Array` as `:base64:`, so
 * values with those go to `base` too. `createKeyv` installs it over a Keyv 6 instance's default serializer.
 *
 * @example
 * import { Keyv, KeyvJsonSerializer } from 'keyv'
 * new Keyv({ store: new KeyshardStoreV6(cache), serialization: fastKeyv6Serialization(new KeyvJsonSerializer()) })
 */
export function fastKeyv6Serialization(base: KeyvSerializationAdapter): KeyvSerializationAdapter {
  // Checked now: a missing base would otherwise fail only on the first value that needs it, deep in a write.
  if (typeof base?.stringify !== 'function' || typeof base?.parse !== 'function') {
    throw new KeyshardError(
      'ERR_CONFIG',
      'fastKeyv6Serialization needs the serializer it speeds up, e.g. fastKeyv6Serialization(new KeyvJsonSerializer())',
      { details: { option: 'base' } },
    )
  }
  return {
    stringify(object: unknown): string {
      if (checked(isJsonAsKeyv6, object)) {
        try {
          return stringifyChecked(object) as string
        } catch {
          // As in keyvSerialize.
        }
      }
      return base.stringify(object)
    },
    parse<Value = any>(data: string): Value {
      return parseUnlessColonStrings(data, (text) => base.parse<Value>(text)) as Value
    },
  }
}

/**
 * `JSON.parse(data)` when that is what `parse` returns: the parsed value has no string starting with `:`. Anything
 * else, text JSON.parse refuses included, is `parse`'s to read (and to fail on).
 */
function parseUnlessColonStrings(data: string, parse: (text: string) => unknown): unknown {
  if (typeof data !== 'string') return parse(data)
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    return parse(data)
  }
  const holds = itemHoldsColonString(value, -1)
  return holds === false || (holds === undefined && !mayHoldColonString(data)) ? value : parse(data)
}

/** Past this length an array of numbers is left to {@link mayHoldColonString}, which skips numbers faster. */
const LONG_ARRAY = 64

/**
 * Whether a parsed JSON object or array holds a string starting with `:`, the only values Keyv's revivers change
 * (keys are never renamed); `undefined` when it holds a long array of numbers or is nested deeper than the
 * serializer's fast check goes, for the text search (no recursion) to tell. The parsed value is checked first
 * because objects are the usual values: its escapes are already decoded, and each of its keys is one step here
 * where the text search must look behind every key's closing `":`.
 */
function containerHoldsColonString(value: object, depth: number): boolean | undefined {
  if (depth > MAX_DEPTH) return undefined
  if (Array.isArray(value)) {
    if (value.length > LONG_ARRAY && typeof value[0] === 'number') return undefined
    for (let i = 0; i < value.length; i++) {
      const holds = itemHoldsColonString(value[i], depth)
      if (holds !== false) return holds
    }
    return false
  }
  for (const key in value) {
    const holds = itemHoldsColonString((value as Record<string, unknown>)[key], depth)
    if (holds !== false) return holds
  }
  return false
}

/** {@link containerHoldsColonString} for one item of a container at `depth`. */
function itemHoldsColonString(item: unknown, depth: number): boolean | undefined {
  if (typeof item === 'string') return item.charCodeAt(0) === COLON
  return typeof item === 'object' && item !== null ? containerHoldsColonString(item, depth + 1) : false
}

/**
 * Whether a JSON text may hold a string value starting with `:`, the only values Keyv's revivers change (keys are
 * never renamed). Such a value's opening quote is followed by `:` (or an escape that decodes to it) and preceded,
 * whitespace aside, by `:`, `,`, `[` or nothing. A quote preceded by anything else ends a key or is escaped inside a
 * string, so it can be skipped; a key after `,` or a string's own text can only make this answer yes needlessly.
 */
function mayHoldColonString(text: string): boolean {
  // \u003a is ":"; any \u003_ escape, wherever it is, takes Keyv's path.
  if (text.includes('\\u003')) return true
  let at = text.indexOf('":')
  while (at !== -1) {
    let i = at - 1
    let c = text.charCodeAt(i)
    while (c === 32 || c === 10 || c === 13 || c === 9) c = text.charCodeAt(--i)
    // NaN: nothing before the quote, the text is one string.
    if (c === COLON || c === 44 || c === 91 || Number.isNaN(c)) return true
    at = text.indexOf('":', at + 2)
  }
  return false
}

/**
 * What the last check walked: its values, and the characters of its strings of at least LONG_TEXT, which choose how
 * {@link stringifyChecked} writes the value. A getter serializing another value during the walk leaves them wrong,
 * which only costs speed: both writers give the same text.
 */
let checkedValues = 0
let longTextChars = 0

function checked(check: (value: unknown, depth: number) => boolean, value: unknown): boolean {
  checkedValues = 0
  longTextChars = 0
  return check(value, 0)
}

/** JSON.stringify's text for a value that passed {@link checked}. */
function stringifyChecked(value: unknown): string | undefined {
  return writesFasterWhole(checkedValues, longTextChars) ? stringifyJson(value) : JSON.stringify(value)
}

/** Counts a value of the check's walk. */
function count(value: unknown): void {
  checkedValues++
  if (typeof value === 'string' && value.length >= LONG_TEXT) longTextChars += value.length
}

/**
 * JSON.stringify calls `toJSON` on objects only, Keyv 5 also on numbers and booleans: once their prototypes (or
 * Object.prototype) have one, the two differ on every value.
 */
function primitivesHaveNoToJSON(): boolean {
  return (
    (Number.prototype as MaybeToJSON).toJSON === undefined &&
    (Boolean.prototype as MaybeToJSON).toJSON === undefined
  )
}

/**
 * Objects both formats write as JSON.stringify does: a plain prototype rules out Buffers, typed arrays, Dates, Maps
 * and class instances; boxed primitives and JSON.rawJSON objects are written differently by JSON.stringify itself.
 */
function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value)
  if (proto === Object.prototype) return !isBoxedPrimitive(value)
  return proto === null && !isBoxedPrimitive(value) && isRawJSON?.(value) !== true
}

/**
 * Whether `JSON.stringify(value)` is exactly Keyv 5's string. `for…in` may also visit inherited keys JSON skips;
 * checking their values too only sends more values to Keyv's path.
 */
function isJsonAsKeyv5(value: unknown, depth: number): boolean {
  count(value)
  switch (typeof value) {
    case 'string':
      return value.charCodeAt(0) !== COLON
    case 'number':
    case 'boolean':
    case 'undefined':
      return true
    case 'object':
      break
    default:
      // BigInt: Keyv throws or calls its toJSON; symbols: Keyv writes `undefined`; functions: skipped from arrays
      // by Keyv, null in JSON (both skip them in objects, checked there).
      return false
  }
  if (value === null) return true
  if (depth > MAX_DEPTH || (value as MaybeToJSON).toJSON !== undefined) return false
  if (Array.isArray(value)) {
    // Keyv walks arrays with for…in: holes are skipped (JSON writes null) and extra enumerable keys are written as
    // elements (JSON ignores them). Object.keys lists indices first, ascending, so n keys ending with index n - 1
    // are exactly the indices 0…n-1, each own and enumerable.
    const n = value.length
    const keys = Object.keys(value)
    if (keys.length !== n || (n > 0 && keys[n - 1] !== String(n - 1))) return false
    for (let i = 0; i < n; i++) if (!isJsonAsKeyv5(value[i], depth + 1)) return false
    return true
  }
  if (!isPlainObject(value)) return false
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key]
    if (typeof item !== 'function' && !isJsonAsKeyv5(item, depth + 1)) return false
  }
  return true
}

/** Whether `JSON.stringify(value)` is exactly Keyv 6's string (its `prepare` step would change nothing). */
function isJsonAsKeyv6(value: unknown, depth: number): boolean {
  count(value)
  switch (typeof value) {
    case 'string':
      return value.charCodeAt(0) !== COLON
    case 'object':
      break
    case 'bigint':
      return false
    default:
      // Numbers, booleans, undefined, and functions and symbols, which Keyv 6 hands to JSON.stringify as they are.
      return true
  }
  if (value === null) return true
  if (depth > MAX_DEPTH || (value as MaybeToJSON).toJSON !== undefined) return false
  if (Array.isArray(value)) {
    // Keyv 6 copies arrays with `map`, which a subclass (or an own `constructor`) may replace.
    if (value.constructor !== Array) return false
    for (let i = 0; i < value.length; i++) if (!isJsonAsKeyv6(value[i], depth + 1)) return false
    return true
  }
  if (!isPlainObject(value)) return false
  for (const key in value)
    if (!isJsonAsKeyv6((value as Record<string, unknown>)[key], depth + 1)) return false
  return true
}
