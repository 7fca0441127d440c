/** How many hash slots a Valkey Cluster has. */
export const SLOT_COUNT = 16384

/** CRC16-XMODEM (polynomial 0x1021), the hash Valkey Cluster takes a key's slot from. */
const CRC16 = new Uint16Array(256)
for (let byte = 0; byte < 256; byte++) {
  let crc = byte << 8
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1
  CRC16[byte] = crc
}

/**
 * The cluster slot of `key` as the servers compute it (`CLUSTER KEYSLOT`): the CRC16 of the key's UTF-8 bytes, or
 * of its hash tag, the text between the first '{' and the first '}' after it when that text is not empty.
 *
 * Not `cluster-key-slot`, which iovalkey routes by: for a key whose first '{' is closed at once ("a{}b{c}") it
 * hashes from a later '{' where the servers hash the whole key, so a batch grouped by its slots can mix slots
 * (CROSSSLOT) and single-key commands go to the wrong master first. It also copies every key into an array of
 * bytes, which cost ≈ 6 % of the client's CPU in a cluster getMany of 100 keys (apps/bench, Keyv over Keyshard);
 * ASCII text is hashed here from its char codes, which are its UTF-8 bytes.
 */
export function keySlot(key: string): number {
  let start = 0
  let end = key.length
  // '{' and '}' are one byte in UTF-8 and never part of a longer sequence, so the braces found among UTF-16 units
  // are the ones the server finds among bytes, and the text between them is never cut inside a surrogate pair.
  const open = key.indexOf('{')
  if (open !== -1) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) {
      start = open + 1
      end = close
    }
  }
  let crc = 0
  for (let i = start; i < end; i++) {
    const code = key.charCodeAt(i)
    if (code > 0x7f) return slotOfBytes(Buffer.from(key.slice(start, end), 'utf8'))
    crc = ((crc << 8) & 0xffff) ^ (CRC16[(crc >> 8) ^ code] as number)
  }
  return crc & 0x3fff
}

/** The slot of these bytes; a lone surrogate arrives here as U+FFFD's bytes, as iovalkey writes it to the socket. */
function slotOfBytes(bytes: Uint8Array): number {
  let crc = 0
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ (CRC16[(crc >> 8) ^ byte] as number)
  return crc & 0x3fff
}
