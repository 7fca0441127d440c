/**
 * Valkey's `stringmatchlen` glob dialect compiled to a RegExp: `*`, `?`, `[abc]`, `[^a]`, `[a-z]` and `\` escapes.
 * Compiled patterns are cached because callers (scan pages, deleteMatching) reuse the same pattern many times.
 */
const cache = new Map<string, RegExp>()
const CACHE_LIMIT = 1_000

// With the `u` flag `\-` is only legal inside a class, so `-` is escaped there and nowhere else.
function escapeRegExpChar(ch: string, inClass = false): string {
  if (ch === '-') return inClass ? '\\-' : ch
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? `\\${ch}` : ch
}

function compile(pattern: string): string {
  let out = ''
  let i = 0
  while (i < pattern.length) {
    const ch = pattern[i] as string
    if (ch === '*') {
      out += '[\\s\\S]*'
      i++
    } else if (ch === '?') {
      out += '[\\s\\S]'
      i++
    } else if (ch === '\\' && i + 1 < pattern.length) {
      out += escapeRegExpChar(pattern[i + 1] as string)
      i += 2
    } else if (ch === '[') {
      i++
      let negate = false
      if (pattern[i] === '^') {
        negate = true
        i++
      }
      let cls = ''
      // Like Valkey, an unterminated class runs to the end of the pattern.
      while (i < pattern.length && pattern[i] !== ']') {
        let c = pattern[i] as string
        if (c === '\\' && i + 1 < pattern.length) {
          i++
          c = pattern[i] as string
          cls += escapeRegExpChar(c, true)
          i++
        } else if (pattern[i + 1] === '-' && i + 2 < pattern.length && pattern[i + 2] !== ']') {
          let lo = c
          let hi = pattern[i + 2] as string
          // Valkey accepts reversed ranges such as [z-a].
          if (lo > hi) [lo, hi] = [hi, lo]
          cls += `${escapeRegExpChar(lo, true)}-${escapeRegExpChar(hi, true)}`
          i += 3
        } else {
          cls += escapeRegExpChar(c, true)
          i++
        }
      }
      i++ // skip ']'
      if (cls === '') out += negate ? '[\\s\\S]' : '(?!)'
      else out += negate ? `[^${cls}]` : `[${cls}]`
    } else {
      out += escapeRegExpChar(ch)
      i++
    }
  }
  return out
}

export function globToRegExp(pattern: string): RegExp {
  let re = cache.get(pattern)
  if (re === undefined) {
    re = new RegExp(`^${compile(pattern)}$`, 'u')
    if (cache.size >= CACHE_LIMIT) cache.clear()
    cache.set(pattern, re)
  }
  return re
}

export function globMatch(pattern: string, subject: string): boolean {
  return globToRegExp(pattern).test(subject)
}
