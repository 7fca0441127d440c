/**
 * Valkey's glob dialect (`stringmatchlen`) as SCAN MATCH applies it: `*`, `?`, `[abc]`, `[^a]`, `[a-z]` and `\`
 * escapes, matched over the UTF-8 bytes of pattern and key, because that is what the server compares: `?` is one
 * byte, so it does not match `é` (two bytes) while `??` does. Compiled patterns are cached because callers (scan
 * pages, deleteMatching) reuse the same pattern many times.
 */
export type GlobMatcher = (subject: string) => boolean

/** `*` in the compiled form; any other number is a literal byte. */
const STAR = -1
/** A class (and `?`) is a table of the 256 byte values it accepts, negation already applied. */
type Token = number | Uint8Array

const ANY_BYTE = new Uint8Array(256).fill(1)

/**
 * The server gives up (no match) once matching recurses through more than this many `*`, which every successful
 * match does once per star run that is not at the end of the pattern.
 */
const MAX_STAR_NESTING = 1000

const cache = new Map<string, GlobMatcher>()
const CACHE_LIMIT = 1_000

/** The server compares range bounds as C `char`, which is signed: bytes 0x80–0xFF sort below 0x00. */
const signed = (byte: number): number => (byte < 0x80 ? byte : byte - 0x100)

/** Parses the class whose bytes start at `start` (just after `[`); returns its table and the index after it. */
function parseClass(pattern: Uint8Array, start: number): { table: Uint8Array; end: number } {
  let i = start
  const negate = pattern[i] === 0x5e // ^
  if (negate) i++
  // A negated class starts full and its members are cleared.
  const member = negate ? 0 : 1
  const table = new Uint8Array(256).fill(1 - member)
  // An unterminated class runs to the end of the pattern.
  while (i < pattern.length && pattern[i] !== 0x5d /* ] */) {
    const byte = pattern[i] as number
    if (byte === 0x5c /* \ */ && i + 1 < pattern.length) {
      table[pattern[i + 1] as number] = member
      i += 2
    } else if (i + 2 < pattern.length && pattern[i + 1] === 0x2d /* - */) {
      // The end of a range may be `]` or `\`, taken literally: `[a-]x` is the range `]`..`a` plus `x`.
      let lo = signed(byte)
      let hi = signed(pattern[i + 2] as number)
      if (lo > hi) [lo, hi] = [hi, lo]
      for (let b = 0; b < 256; b++) if (signed(b) >= lo && signed(b) <= hi) table[b] = member
      i += 3
    } else {
      table[byte] = member
      i++
    }
  }
  return { table, end: i + 1 }
}

function tokenize(pattern: Uint8Array): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < pattern.length) {
    const byte = pattern[i] as number
    if (byte === 0x2a /* * */) {
      if (tokens[tokens.length - 1] !== STAR) tokens.push(STAR)
      i++
    } else if (byte === 0x3f /* ? */) {
      tokens.push(ANY_BYTE)
      i++
    } else if (byte === 0x5b /* [ */) {
      const { table, end } = parseClass(pattern, i + 1)
      tokens.push(table)
      i = end
    } else if (byte === 0x5c /* \ */ && i + 1 < pattern.length) {
      tokens.push(pattern[i + 1] as number)
      i += 2
    } else {
      // A trailing `\` is a literal backslash.
      tokens.push(byte)
      i++
    }
  }
  return tokens
}

/**
 * Greedy match with one backtrack point: `*` absorbs one more byte each time the rest of the pattern fails. A
 * string subject must be ASCII, so that its char codes are its bytes.
 */
function matchTokens(tokens: readonly Token[], subject: string | Uint8Array): boolean {
  const ascii = typeof subject === 'string'
  let t = 0
  let s = 0
  let starToken = -1
  let starSubject = 0
  while (s < subject.length) {
    const token = tokens[t]
    if (token === STAR) {
      starToken = t++
      starSubject = s
      continue
    }
    const byte = ascii ? subject.charCodeAt(s) : (subject[s] as number)
    if (token !== undefined && (typeof token === 'number' ? token === byte : token[byte] === 1)) {
      t++
      s++
    } else if (starToken >= 0) {
      t = starToken + 1
      s = ++starSubject
    } else {
      return false
    }
  }
  while (tokens[t] === STAR) t++
  return t === tokens.length
}

function compile(pattern: string): GlobMatcher {
  // SCAN skips matching altogether for exactly `*`, so it lists even the empty key, which `**` does not match.
  if (pattern === '*') return () => true
  const tokens = tokenize(Buffer.from(pattern, 'utf8'))
  const trailingStar = tokens[tokens.length - 1] === STAR ? 1 : 0
  const starRuns = tokens.filter((token) => token === STAR).length - trailingStar
  if (starRuns > MAX_STAR_NESTING) return () => false
  return (subject) => {
    // The server compares nothing for an empty key: only the empty pattern matches it (`**` does not).
    if (subject.length === 0) return tokens.length === 0
    // Byte length equals string length only for pure ASCII, which can be read as char codes without encoding.
    if (Buffer.byteLength(subject, 'utf8') === subject.length) return matchTokens(tokens, subject)
    return matchTokens(tokens, Buffer.from(subject, 'utf8'))
  }
}

/** The cached matcher of a SCAN MATCH pattern. */
export function globMatcher(pattern: string): GlobMatcher {
  let matcher = cache.get(pattern)
  if (matcher === undefined) {
    matcher = compile(pattern)
    if (cache.size >= CACHE_LIMIT) cache.clear()
    cache.set(pattern, matcher)
  }
  return matcher
}
