import { describe, expect, it } from 'vitest'
import { isKeyshardError, type KeyshardError } from '../../src/errors.js'
import {
  escapeGlob,
  keyPrefix,
  MAX_KEY_BYTES,
  namespacePattern,
  userKeyFrom,
  validateKey,
  validateNamespace,
  validatePrefix,
} from '../../src/keys.js'
import { globMatcher } from '../../src/store/glob.js'

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    expect(isKeyshardError(error)).toBe(true)
    return (error as KeyshardError).code
  }
  return undefined
}

// The memory store's matcher, which the glob tests in test/store/memory-store.test.ts hold to the server's answers.
const globMatch = (pattern: string, text: string): boolean => globMatcher(pattern)(text)

describe('validateKey', () => {
  it('accepts ordinary keys, hash tags and keys at the byte limit', () => {
    for (const key of [
      'a',
      '{user:1}:profile',
      'héllo 世界',
      '\uD83D\uDE00',
      '\uFFFD',
      'x'.repeat(MAX_KEY_BYTES),
    ])
      expect(codeOf(() => validateKey(key))).toBeUndefined()
  })

  it.each([
    ['empty', ''],
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['an object', {}],
    ['over 64 KiB', 'x'.repeat(MAX_KEY_BYTES + 1)],
    ['over 64 KiB of UTF-8 though fewer characters', 'é'.repeat(MAX_KEY_BYTES / 2 + 1)],
    ['a lone high surrogate', 'a\uD800'],
    ['a lone low surrogate', '\uDC00b'],
    ['a surrogate pair in the wrong order', '\uDE00\uD83D'],
    ['a lone surrogate after 5000 characters', `${'x'.repeat(5000)}\uD800`],
  ])('refuses %s with ERR_KEY', (_, key) => {
    expect(codeOf(() => validateKey(key))).toBe('ERR_KEY')
  })
})

describe('validateNamespace', () => {
  it('accepts ordinary names, including glob characters and single underscores', () => {
    for (const name of ['users', 'user*', 'a?b', '[x]', '_private', 'a__b', 'a.b', 'a/b', 'ü\uD83D\uDE00']) {
      expect(codeOf(() => validateNamespace(name))).toBeUndefined()
    }
  })

  it.each([
    ['{users}'],
    ['a{b'],
    ['a}b'],
    ['a:b'],
    ['users:'],
    ['__t'],
    ['__'],
    [''],
    [42],
    [null],
    ['x'.repeat(257)],
    ['a\uD800'],
    ['\uDC00'],
  ])('refuses %j with ERR_CONFIG', (name) => {
    expect(codeOf(() => validateNamespace(name))).toBe('ERR_CONFIG')
  })
})

describe('validatePrefix', () => {
  it('accepts an empty prefix and ordinary ones', () => {
    for (const prefix of ['', 'ks:', 'app:v2:', 'a*b:'])
      expect(codeOf(() => validatePrefix(prefix))).toBeUndefined()
  })

  it.each([['app{1}:'], ['{'], ['}'], [1], [null], ['x'.repeat(257)], ['app\uD800:'], ['\uDC00']])(
    'refuses %j with ERR_CONFIG',
    (prefix) => {
      expect(codeOf(() => validatePrefix(prefix))).toBe('ERR_CONFIG')
    },
  )
})

describe('full keys and patterns', () => {
  it('joins prefix, namespace and key, and strips them back off', () => {
    expect(keyPrefix('ks:', 'users') + '42').toBe('ks:users:42')
    expect(userKeyFrom('ks:users:42', 'ks:', 'users')).toBe('42')
    expect(userKeyFrom('ks:users:a:b', 'ks:', 'users')).toBe('a:b')
    expect(codeOf(() => userKeyFrom('ks:other:42', 'ks:', 'users'))).toBe('ERR_KEY')
  })

  it('escapes exactly the glob metacharacters', () => {
    expect(escapeGlob('plain-text_1:2^3')).toBe('plain-text_1:2^3')
    expect(escapeGlob('a*b?c[d]e\\f')).toBe('a\\*b\\?c\\[d\\]e\\\\f')
  })

  const literals = [
    'users',
    'user*',
    'a?b',
    '[abc]',
    '[^a]',
    'a\\',
    '\\*',
    'x[a-z]y',
    '*',
    '?',
    ']',
    'a]b[',
    '^-',
  ]
  it.each(literals)('an escaped %j matches itself and nothing else', (literal) => {
    const pattern = escapeGlob(literal)
    expect(globMatch(pattern, literal)).toBe(true)
    for (const other of [
      ...literals,
      'userX',
      'axb',
      'a',
      'b',
      'x',
      '',
      'xby',
      `${literal}x`,
      `x${literal}`,
    ]) {
      if (other !== literal) expect(globMatch(pattern, other), `${pattern} vs ${other}`).toBe(false)
    }
  })

  it('namespace patterns never reach into a namespace whose name extends a glob', () => {
    const prefix = 'app*'
    const keysOf = (ns: string) => ['1', 'a', 'x:y'].map((k) => keyPrefix(prefix, ns) + k)
    const names = ['user', 'users', 'user*', 'use?', 'u[s]er', 'a*b', 'ab']
    for (const ns of names) {
      const pattern = namespacePattern(prefix, ns, '*')
      for (const other of names) {
        for (const key of keysOf(other))
          expect(globMatch(pattern, key), `${pattern} vs ${key}`).toBe(other === ns)
      }
      // Keys with another prefix that the raw prefix glob would have matched.
      expect(globMatch(pattern, `${keyPrefix('appX', ns)}1`)).toBe(false)
    }
  })

  it('refuses a user glob with a lone surrogate with ERR_KEY (the server would match U+FFFD)', () => {
    expect(codeOf(() => namespacePattern('ks:', 'users', 'a\uD800*'))).toBe('ERR_KEY')
    expect(codeOf(() => namespacePattern('ks:', 'users', '[\uDC00]'))).toBe('ERR_KEY')
    expect(namespacePattern('ks:', 'users', '\uD83D\uDE00*')).toBe('ks:users:\uD83D\uDE00*')
  })

  it('keeps the user glob unescaped', () => {
    const pattern = namespacePattern('ks:', 'users', 'a*')
    expect(pattern).toBe('ks:users:a*')
    expect(globMatch(pattern, 'ks:users:abc')).toBe(true)
    expect(globMatch(pattern, 'ks:users:b')).toBe(false)
  })
})
