import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeCommands, type WireCommand } from '../../src/store/resp.js'

/** RESP as the protocol defines it: an array header, then per argument its byte count, its UTF-8 bytes, CRLF. */
function resp(commands: readonly WireCommand[]): Buffer {
  const parts: Buffer[] = []
  for (const command of commands) {
    parts.push(Buffer.from(`*${command.length}\r\n`))
    for (const arg of command) {
      const bytes = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : arg
      parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'))
    }
  }
  return Buffer.concat(parts)
}

/** What reaches the socket, as latin1 text (one character per byte, compared in one step): text goes out as UTF-8. */
function sent(commands: readonly WireCommand[]): string {
  const wire = encodeCommands(commands)
  return (typeof wire === 'string' ? Buffer.from(wire, 'utf8') : wire).toString('latin1')
}

describe('encodeCommands', () => {
  it('writes a command as RESP bytes', () => {
    expect(sent([['get', 'k']])).toBe('*2\r\n$3\r\nget\r\n$1\r\nk\r\n')
    expect(sent([['set', 'ab', Buffer.from([0, 13, 10, 255]), 'px', '600000']])).toBe(
      Buffer.concat([
        Buffer.from('*5\r\n$3\r\nset\r\n$2\r\nab\r\n$4\r\n'),
        Buffer.from([0, 13, 10, 255]),
        Buffer.from('\r\n$2\r\npx\r\n$6\r\n600000\r\n'),
      ]).toString('latin1'),
    )
  })

  it.each([
    ['empty text', ''],
    ['an empty Buffer', Buffer.alloc(0)],
    ['ten units (two-digit length)', 'k'.repeat(10)],
    ['100 units (three-digit length)', 'k'.repeat(100)],
    ['the longest text written into the Buffer', 'k'.repeat(128)],
    ['the shortest text left to the socket', 'k'.repeat(129)],
    ['long text ending in a non-ASCII unit', `${'k'.repeat(200)}é`],
    ['a non-ASCII unit after ASCII ones', `${'k'.repeat(20)}é`],
    ['units that take more length digits as bytes', 'é'.repeat(5)],
    ['a surrogate pair', 'key:🎉'],
    ['long non-ASCII text', '世界'.repeat(200)],
    ['a lone surrogate (sent as U+FFFD, as a string written to a socket is)', 'a\ud800b'],
    ['a value of 100 KiB', Buffer.alloc(100 * 1024, 7)],
  ])('counts and writes the bytes of %s', (_, arg) => {
    const commands: WireCommand[] = [
      ['set', arg, arg],
      ['get', arg],
    ]
    expect(sent(commands)).toBe(resp(commands).toString('latin1'))
  })

  it('matches the protocol for any batch of text and bytes', () => {
    const unit = fc.oneof(
      fc.constantFrom('a', 'Z', '{', '\r', '\n', 'é', '✓', '\ud83c', '\udf89', '\u0000', '\u007f', '\u0080'),
      fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
    )
    const text = fc.oneof(
      fc.string({ unit, maxLength: 40 }),
      fc.string({ unit, minLength: 100, maxLength: 300 }),
    )
    const bytes = fc.uint8Array({ maxLength: 300 }).map((array) => Buffer.from(array))
    const command = fc.array(fc.oneof(text, bytes), { minLength: 1, maxLength: 6 })
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 8 }), (commands) => {
        expect(sent(commands)).toBe(resp(commands).toString('latin1'))
      }),
      { numRuns: 500 },
    )
  })
})
