import { isUtf8 } from 'node:buffer'

/** Strings up to this many bytes are checked for ASCII in JS first; longer ones go straight to `isUtf8`. */
const SHORT_STRING_BYTES = 24

/**
 * Throws unless every MessagePack str in `bytes` is valid UTF-8: msgpackr decodes invalid bytes to U+FFFD
 * without complaint, which would turn a corrupt entry into a wrong value instead of a miss. For bytes msgpackr
 * has already unpacked in full, so every length read here is in bounds.
 *
 * The walk is flat: an array or map is only a header followed by its items, and msgpackr's Set, Error and RegExp
 * extensions are a fixext header followed by an ordinary item, so walking item headers in order meets every str.
 * The payloads of bin and ext items are bytes, not text, and are skipped.
 */
export function assertUtf8Strings(bytes: Buffer): void {
  let at = 0
  while (at < bytes.length) {
    const type = bytes[at] as number
    // Positive and negative fixint, fixmap, fixarray: one byte.
    if (type < 0xa0 || type >= 0xe0) at++
    else if (type < 0xc0) at = checkString(bytes, at + 1, type & 0x1f)
    else at = afterItem(bytes, at, type)
  }
}

/** Where the item at `at` (first byte 0xc0-0xdf) ends, checking it on the way when it is a str. */
function afterItem(bytes: Buffer, at: number, type: number): number {
  switch (type) {
    case 0xd9: // str 8
      return checkString(bytes, at + 2, bytes[at + 1] as number)
    case 0xda: // str 16
      return checkString(bytes, at + 3, bytes.readUInt16BE(at + 1))
    case 0xdb: // str 32
      return checkString(bytes, at + 5, bytes.readUInt32BE(at + 1))
    case 0xc4: // bin 8, 16, 32
      return at + 2 + (bytes[at + 1] as number)
    case 0xc5:
      return at + 3 + bytes.readUInt16BE(at + 1)
    case 0xc6:
      return at + 5 + bytes.readUInt32BE(at + 1)
    case 0xc7: // ext 8, 16, 32: length, type byte, data
      return at + 3 + (bytes[at + 1] as number)
    case 0xc8:
      return at + 4 + bytes.readUInt16BE(at + 1)
    case 0xc9:
      return at + 6 + bytes.readUInt32BE(at + 1)
    case 0xcc: // uint 8, int 8
    case 0xd0:
      return at + 2
    case 0xcd: // uint 16, int 16, array 16, map 16, fixext 1 (type byte, one data byte)
    case 0xd1:
    case 0xdc:
    case 0xde:
    case 0xd4:
      return at + 3
    case 0xd5: // fixext 2
      return at + 4
    case 0xca: // float 32, uint 32, int 32, array 32, map 32
    case 0xce:
    case 0xd2:
    case 0xdd:
    case 0xdf:
      return at + 5
    case 0xd6: // fixext 4
      return at + 6
    case 0xcb: // float 64, uint 64, int 64
    case 0xcf:
    case 0xd3:
      return at + 9
    case 0xd7: // fixext 8
      return at + 10
    case 0xd8: // fixext 16
      return at + 18
    default: // nil, never used (0xc1), false, true
      return at + 1
  }
}

function checkString(bytes: Buffer, start: number, length: number): number {
  const end = start + length
  if (length > SHORT_STRING_BYTES) {
    if (!isUtf8(bytes.subarray(start, end))) throw invalidString()
    return end
  }
  for (let i = start; i < end; i++) {
    if ((bytes[i] as number) >= 0x80) {
      if (!isUtf8(bytes.subarray(start, end))) throw invalidString()
      break
    }
  }
  return end
}

function invalidString(): TypeError {
  return new TypeError('Invalid MessagePack data: a string is not valid UTF-8')
}
