import { C1, Packr } from 'msgpackr'
import type { Encoder } from '../types.js'
import { assertUtf8Strings } from './msgpack-utf8.js'
import { addSegment, atSegment, EncodePathError, enter, prepareMapEntries, withPath } from './rich-json.js'

const TAG_KEY = '$ks'
// `$ks` as a MessagePack fixstr: when absent from the bytes, no tagged object can be in there.
const TAG_BYTES = Buffer.from([0xa3, 0x24, 0x6b, 0x73])
const PROTO_KEY = '__proto__'

// Standard MessagePack (no record extension) so other languages can read plain data; msgpackr's own
// extensions carry Date (timestamp), Set, typed arrays, Error, RegExp; every 64-bit integer reads as a BigInt
// because JS numbers are never written as int64 (msgpackr writes them as float64).
const packr = new Packr({
  useRecords: false,
  moreTypes: true,
  structuredClone: false,
  mapsAsObjects: true,
  int64AsType: 'bigint',
  useBigIntExtension: true,
})

/**
 * MessagePack through msgpackr. Keeps Date, Buffer, Uint8Array and other typed arrays, Set, BigInt, NaN,
 * ±Infinity and `undefined`. A Map is written as `{"$ks":"M","v":[[k,v],…]}` because msgpackr cannot tell a Map
 * from an object on the wire, -0 as `{"$ks":"F","v":"-0"}`, a user object with a `$ks` key is wrapped as
 * `{"$ks":"O","v":{…}}`, and one with an own `__proto__` key as `{"$ks":"P","v":[[k,v],…]}` (msgpackr's decoder
 * renames that key to `__proto_` to keep it from setting a prototype). Functions, symbols, top-level `undefined`,
 * circular references, WeakMap/WeakSet/Promise and strings with a lone surrogate (text is UTF-8 on the wire,
 * which has no form for one) throw instead of being dropped or altered (msgpackr alone would write a function as
 * undefined, a lone surrogate as U+FFFD, and overflow the stack on a cycle). Other class instances are stored as
 * plain objects. Reading a string that is not valid UTF-8 throws rather than inventing U+FFFD.
 */
export const msgpackEncoder: Encoder = {
  name: 'msgpack',
  encode(value: unknown): Buffer {
    if (value === undefined) throw new TypeError('Cannot encode undefined; store null to cache "nothing"')
    const packed = packr.pack(withPath(() => prepare(value, [])))
    // msgpackr returns a view into a shared 8 KiB buffer; a copy keeps stored values from pinning it.
    return Buffer.from(packed)
  },
  decode(bytes: Buffer): unknown {
    const value: unknown = packr.unpack(bytes)
    // 0xc1 is the one byte MessagePack never uses; msgpackr hands it back as a marker object.
    if (value === C1) throw new TypeError('Invalid MessagePack data (0xc1)')
    assertUtf8Strings(bytes)
    return bytes.indexOf(TAG_BYTES) === -1 ? value : revive(value)
  },
}

const LONE_SURROGATE = 'Cannot encode a string with a lone surrogate (not well-formed UTF-16)'
const LONE_SURROGATE_KEY = 'Cannot encode an object key with a lone surrogate (not well-formed UTF-16)'

function prepare(value: unknown, ancestors: object[]): unknown {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw new EncodePathError(LONE_SURROGATE)
      return value
    case 'function':
    case 'symbol':
      throw new EncodePathError(`Cannot encode a ${typeof value}`)
    case 'number':
      return value === 0 && 1 / value < 0 ? { [TAG_KEY]: 'F', v: '-0' } : value
    case 'object':
      if (value === null) return null
      enter(value, ancestors)
      try {
        return prepareObject(value, ancestors)
      } finally {
        ancestors.pop()
      }
    default:
      return value
  }
}

function prepareObject(object: object, ancestors: object[]): unknown {
  if (Array.isArray(object)) {
    let copy: unknown[] | undefined
    let i = 0
    try {
      for (; i < object.length; i++) {
        const item: unknown = object[i]
        const prepared = prepare(item, ancestors)
        if (copy === undefined && prepared !== item) copy = object.slice(0, i)
        copy?.push(prepared)
      }
    } catch (error) {
      throw addSegment(error, `[${i}]`)
    }
    return copy ?? object
  }
  if (object instanceof Date || ArrayBuffer.isView(object) || object instanceof ArrayBuffer) return object
  // msgpackr writes their text itself, as [source, flags] and [name, message, cause].
  if (object instanceof RegExp) return withTexts(object, object.source)
  if (object instanceof Error) return withTexts(object, object.name, object.message, object.cause)
  if (object instanceof Map)
    return { [TAG_KEY]: 'M', v: prepareMapEntries(object, (v) => prepare(v, ancestors)) }
  if (object instanceof Set) {
    const items: unknown[] = []
    let changed = false
    let i = 0
    for (const item of object) {
      const prepared = atSegment(`.<item ${i++}>`, () => prepare(item, ancestors))
      changed ||= prepared !== item
      items.push(prepared)
    }
    return changed ? new Set(items) : object
  }
  // Boxed primitives have no own keys: copied like class instances they would silently become {}.
  if (object instanceof Number || object instanceof String || object instanceof Boolean)
    return prepare(object.valueOf(), ancestors)
  if (object instanceof WeakMap || object instanceof WeakSet || object instanceof Promise) {
    throw new EncodePathError(`Cannot encode a ${object.constructor.name}`)
  }
  const plain = isPlain(object)
  const toJSON = (object as { toJSON?: unknown }).toJSON
  if (typeof toJSON === 'function' && !plain) return prepare(toJSON.call(object, ''), ancestors)
  const source = object as Record<string, unknown>
  const keys = Object.keys(source)
  // Class instances are always copied into plain objects, so msgpackr never sees their prototypes.
  let copy: Record<string, unknown> | undefined = plain ? undefined : {}
  let hasTagKey = false
  let hasProtoKey = false
  let i = 0
  try {
    for (; i < keys.length; i++) {
      const key = keys[i] as string
      if (key === TAG_KEY) hasTagKey = true
      else if (key === PROTO_KEY) hasProtoKey = true
      else if (!key.isWellFormed()) throw new EncodePathError(LONE_SURROGATE_KEY)
      const item = source[key]
      const prepared = prepare(item, ancestors)
      if (copy === undefined && prepared !== item) {
        copy = {}
        for (let j = 0; j < i; j++) setOwn(copy, keys[j] as string, source[keys[j] as string])
      }
      if (copy !== undefined) setOwn(copy, key, prepared)
    }
  } catch (error) {
    throw addSegment(error, `.${keys[i]}`)
  }
  const result = copy ?? object
  // As entries, "__proto__" is a plain string, which msgpackr's decoder leaves alone.
  if (hasProtoKey) return { [TAG_KEY]: 'P', v: Object.entries(result) }
  return hasTagKey ? { [TAG_KEY]: 'O', v: result } : result
}

/** `owner`, once the strings msgpackr will write for it are known to have a UTF-8 form. */
function withTexts<T>(owner: T, ...texts: unknown[]): T {
  for (const text of texts)
    if (typeof text === 'string' && !text.isWellFormed()) throw new EncodePathError(LONE_SURROGATE)
  return owner
}

function isPlain(object: object): boolean {
  const proto: unknown = Object.getPrototypeOf(object)
  return proto === Object.prototype || proto === null
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
  if (value instanceof Set) {
    let changed = false
    const items = [...value].map((item) => {
      const revived = revive(item)
      changed ||= revived !== item
      return revived
    })
    return changed ? new Set(items) : value
  }
  if (!isPlain(value)) return value
  const object = value as Record<string, unknown>
  if (Object.hasOwn(object, TAG_KEY)) {
    const tag = object[TAG_KEY]
    const v = object.v
    if (tag === 'M' && Array.isArray(v)) {
      return new Map(
        v.map((entry: unknown) => {
          if (!Array.isArray(entry) || entry.length !== 2)
            throw new TypeError('Malformed Map entry in MessagePack value')
          return [revive(entry[0]), revive(entry[1])] as const
        }),
      )
    }
    if (tag === 'F' && v === '-0') return -0
    if (tag === 'O' && v !== null && typeof v === 'object' && isPlain(v))
      return reviveMembers(v as Record<string, unknown>)
    if (tag === 'P' && Array.isArray(v)) return reviveEntries(v)
    throw new TypeError(`Malformed or unknown tag ${JSON.stringify(tag)} in MessagePack value`)
  }
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

/** An object written as `[key, value]` pairs; setOwn keeps a "__proto__" key as data, never as a prototype. */
function reviveEntries(entries: unknown[]): Record<string, unknown> {
  const object: Record<string, unknown> = {}
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string')
      throw new TypeError('Malformed object entry in MessagePack value')
    setOwn(object, entry[0], revive(entry[1]))
  }
  return object
}

function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true })
  else object[key] = value
}
