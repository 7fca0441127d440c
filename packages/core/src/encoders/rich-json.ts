import type { Encoder } from '../types.js'
import { strictUtf8 } from './strict-utf8.js'

/**
 * The key that marks a tagged value, e.g. `{"$ks":"D","v":1767322445678}` for a Date. A user object that has
 * a `$ks` key of its own is wrapped as `{"$ks":"O","v":{...}}`, so user data can never be mistaken for a tag.
 */
export const TAG_KEY = '$ks'
const TAG_IN_TEXT = `"${TAG_KEY}"`

const TYPED_ARRAYS = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const
type TypedArrayName = keyof typeof TYPED_ARRAYS

/** Types that have no faithful JSON form and must not silently become `{}`. */
const UNSUPPORTED: ReadonlyArray<abstract new (...args: never[]) => unknown> = [
  RegExp,
  Error,
  WeakMap,
  WeakSet,
  Promise,
  DataView,
]

const UNDEFINED_TAG = Object.freeze({ [TAG_KEY]: 'u' })

/**
 * Cycle detection without a Set per encode: plain data is shallow, so the ancestor stack is only searched
 * once it is deeper than this; a cycle still fails within one lap past it.
 */
const CYCLE_CHECK_DEPTH = 32

/** Collects the path to a bad value on the way out, so the hot path never builds path strings. */
export class EncodePathError extends TypeError {
  readonly segments: string[] = []
}

export function enter(object: object, ancestors: object[]): void {
  if (ancestors.length >= CYCLE_CHECK_DEPTH && ancestors.includes(object)) {
    throw new EncodePathError('Cannot encode a circular reference')
  }
  ancestors.push(object)
}

export function addSegment(error: unknown, segment: string): unknown {
  if (error instanceof EncodePathError) error.segments.push(segment)
  return error
}

export function atSegment<T>(segment: string, fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    throw addSegment(error, segment)
  }
}

/** A Map as `[key, value]` pairs, each side prepared, so a bad value's path names the entry it sits in. */
export function prepareMapEntries(
  map: Map<unknown, unknown>,
  prepare: (value: unknown) => unknown,
): unknown[] {
  const entries: unknown[] = []
  let i = 0
  for (const [k, v] of map) {
    entries.push([atSegment(`.<key ${i}>`, () => prepare(k)), atSegment(`.get(${i})`, () => prepare(v))])
    i++
  }
  return entries
}

/** Runs an encode and turns a path error into a TypeError whose message says where the bad value is. */
export function withPath<T>(fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    if (!(error instanceof EncodePathError)) throw error
    const path = `$${error.segments.reverse().join('')}`
    throw new TypeError(`${error.message} at ${path}`)
  }
}

/**
 * JSON that round-trips Date, Buffer, Uint8Array (and every other typed array), ArrayBuffer, Map, Set, BigInt,
 * NaN, ±Infinity, -0 and `undefined` inside arrays, maps and sets, while staying plain JSON (readable by any
 * client) for plain data.
 *
 * - Throws on functions, symbols, top-level `undefined`, circular references, RegExp, Error, WeakMap/WeakSet,
 *   Promise and DataView, instead of silently dropping them as JSON.stringify would.
 * - `undefined` object properties are omitted, as in JSON.
 * - Other class instances are stored as plain objects (their `toJSON()` result when they have one, else their
 *   own enumerable properties) and read back as plain objects.
 * - Cost for plain data: one walk to check it plus JSON.stringify; decoding is a bare JSON.parse unless the text
 *   contains the tag key.
 */
export const richJsonEncoder: Encoder = {
  name: 'json',
  // The JSON text itself: the store writes it as UTF-8 without an intermediate Buffer.
  encode(value: unknown): string {
    if (value === undefined) throw new TypeError('Cannot encode undefined; store null to cache "nothing"')
    return JSON.stringify(withPath(() => prepare(value, [])))
  },
  decode(bytes: Buffer): unknown {
    const text = strictUtf8.decode(bytes)
    const parsed: unknown = JSON.parse(text)
    return text.includes(TAG_IN_TEXT) ? revive(parsed) : parsed
  },
}

function prepare(value: unknown, ancestors: object[]): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      if (!Number.isFinite(value)) return { [TAG_KEY]: 'F', v: String(value) }
      return value === 0 && 1 / value < 0 ? { [TAG_KEY]: 'F', v: '-0' } : value
    case 'bigint':
      return { [TAG_KEY]: 'N', v: value.toString() }
    case 'undefined':
      return UNDEFINED_TAG
    case 'object':
      return value === null ? null : prepareObject(value, ancestors)
    default:
      throw new EncodePathError(`Cannot encode a ${typeof value}`)
  }
}

function prepareObject(object: object, ancestors: object[]): unknown {
  enter(object, ancestors)
  try {
    return prepareEntered(object, ancestors)
  } finally {
    ancestors.pop()
  }
}

function prepareEntered(object: object, ancestors: object[]): unknown {
  if (Array.isArray(object)) return prepareArray(object, ancestors)
  const proto: unknown = Object.getPrototypeOf(object)
  if (proto === Object.prototype || proto === null)
    return preparePlain(object as Record<string, unknown>, ancestors)
  if (object instanceof Date) {
    const time = object.getTime()
    return { [TAG_KEY]: 'D', v: Number.isNaN(time) ? null : time }
  }
  if (Buffer.isBuffer(object)) return { [TAG_KEY]: 'B', v: object.toString('base64') }
  if (ArrayBuffer.isView(object) && !(object instanceof DataView)) {
    const name = object.constructor.name
    if (!(name in TYPED_ARRAYS)) throw new EncodePathError(`Cannot encode a ${name}`)
    return { [TAG_KEY]: 'T', t: name, v: bytesOf(object).toString('base64') }
  }
  if (object instanceof ArrayBuffer) return { [TAG_KEY]: 'A', v: Buffer.from(object).toString('base64') }
  if (object instanceof Map)
    return { [TAG_KEY]: 'M', v: prepareMapEntries(object, (v) => prepare(v, ancestors)) }
  if (object instanceof Set) {
    const items: unknown[] = []
    let i = 0
    for (const item of object) items.push(atSegment(`.<item ${i++}>`, () => prepare(item, ancestors)))
    return { [TAG_KEY]: 'S', v: items }
  }
  if (object instanceof Number || object instanceof String || object instanceof Boolean) {
    return prepare(object.valueOf(), ancestors)
  }
  for (const type of UNSUPPORTED) {
    if (object instanceof type) throw new EncodePathError(`Cannot encode a ${type.name}`)
  }
  const toJSON = (object as { toJSON?: unknown }).toJSON
  if (typeof toJSON === 'function') return prepare(toJSON.call(object, ''), ancestors)
  return preparePlain(object as Record<string, unknown>, ancestors)
}

function prepareArray(array: unknown[], ancestors: object[]): unknown[] {
  let copy: unknown[] | undefined
  let i = 0
  try {
    for (; i < array.length; i++) {
      const item = array[i]
      const prepared = prepare(item, ancestors)
      if (copy === undefined && prepared !== item) copy = array.slice(0, i)
      copy?.push(prepared)
    }
  } catch (error) {
    throw addSegment(error, `[${i}]`)
  }
  return copy ?? array
}

/** Copy-on-write: plain data is returned as is, so JSON.stringify sees the caller's own objects. */
function preparePlain(object: Record<string, unknown>, ancestors: object[]): unknown {
  const keys = Object.keys(object)
  let copy: Record<string, unknown> | undefined
  let hasTagKey = false
  let i = 0
  try {
    for (; i < keys.length; i++) {
      const key = keys[i] as string
      if (key === TAG_KEY) hasTagKey = true
      const item = object[key]
      // Undefined properties are left for JSON.stringify to omit, as plain JSON would.
      const prepared = item === undefined ? item : prepare(item, ancestors)
      if (copy === undefined && prepared !== item) {
        copy = {}
        for (let j = 0; j < i; j++) setOwn(copy, keys[j] as string, object[keys[j] as string])
      }
      if (copy !== undefined) setOwn(copy, key, prepared)
    }
  } catch (error) {
    throw addSegment(error, `.${keys[i]}`)
  }
  const result = copy ?? object
  return hasTagKey ? { [TAG_KEY]: 'O', v: result } : result
}

function revive(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      const revived = revive(item)
      if (revived !== item) value[i] = revived
    }
    return value
  }
  const object = value as Record<string, unknown>
  if (Object.hasOwn(object, TAG_KEY)) return reviveTagged(object)
  return reviveMembers(object)
}

function reviveMembers(object: Record<string, unknown>): Record<string, unknown> {
  for (const key of Object.keys(object)) {
    const item = object[key]
    const revived = revive(item)
    if (revived !== item) setOwn(object, key, revived)
  }
  return object
}

function reviveTagged(tagged: Record<string, unknown>): unknown {
  const tag = tagged[TAG_KEY]
  const v = tagged.v
  switch (tag) {
    case 'D':
      if (v !== null && typeof v !== 'number') break
      return new Date(v ?? Number.NaN)
    case 'B':
      if (typeof v !== 'string') break
      return Buffer.from(v, 'base64')
    case 'T': {
      const name = tagged.t
      if (typeof v !== 'string' || typeof name !== 'string' || !Object.hasOwn(TYPED_ARRAYS, name)) break
      const Type = TYPED_ARRAYS[name as TypedArrayName]
      const bytes = Buffer.from(v, 'base64')
      if (bytes.length % Type.BYTES_PER_ELEMENT !== 0) break
      // Copy into a fresh, aligned ArrayBuffer: Buffer pools do not guarantee alignment.
      const buffer = new ArrayBuffer(bytes.length)
      new Uint8Array(buffer).set(bytes)
      return new Type(buffer)
    }
    case 'A': {
      if (typeof v !== 'string') break
      const bytes = Buffer.from(v, 'base64')
      const buffer = new ArrayBuffer(bytes.length)
      new Uint8Array(buffer).set(bytes)
      return buffer
    }
    case 'M':
      if (!Array.isArray(v)) break
      return new Map(
        v.map((entry: unknown) => {
          if (!Array.isArray(entry) || entry.length !== 2)
            throw new TypeError('Malformed Map entry in rich JSON')
          return [revive(entry[0]), revive(entry[1])] as const
        }),
      )
    case 'S':
      if (!Array.isArray(v)) break
      return new Set(v.map(revive))
    case 'N':
      if (typeof v !== 'string' || !/^-?\d+$/.test(v)) break
      return BigInt(v)
    case 'F':
      if (v === '-0') return -0
      if (v === 'NaN') return Number.NaN
      if (v === 'Infinity') return Number.POSITIVE_INFINITY
      if (v === '-Infinity') return Number.NEGATIVE_INFINITY
      break
    case 'u':
      return undefined
    case 'O':
      if (v === null || typeof v !== 'object' || Array.isArray(v)) break
      return reviveMembers(v as Record<string, unknown>)
  }
  throw new TypeError(`Malformed or unknown rich JSON tag ${JSON.stringify(tag)}`)
}

function bytesOf(view: ArrayBufferView): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength)
}

/** Plain assignment of `__proto__` would change the prototype instead of creating the property. */
function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true })
  else object[key] = value
}
