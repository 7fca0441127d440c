import { describe, expect, it, vi } from 'vitest'
import { isKeyshardError, KeyshardError } from '../../src/errors.js'
import { withTimeout } from '../../src/store/with-timeout.js'
import { describeConnectError, toKeyshardError } from '../../src/store/wire-errors.js'

describe('withTimeout', () => {
  it('rejects with ERR_TIMEOUT when the deadline passes and clears its timer when the promise wins', async () => {
    vi.useFakeTimers()
    try {
      const never = new Promise<never>(() => {})
      const late = withTimeout(never, 100, 'GET')
      const caught = late.catch((e: unknown) => e)
      await vi.advanceTimersByTimeAsync(100)
      const error = await caught
      expect(isKeyshardError(error, 'ERR_TIMEOUT')).toBe(true)
      expect((error as KeyshardError).message).toContain('GET timed out after 100ms')

      expect(await withTimeout(Promise.resolve(7), 100, 'GET')).toBe(7)
      expect(vi.getTimerCount()).toBe(0)
      await expect(withTimeout(Promise.reject(new Error('boom')), 100, 'GET')).rejects.toThrow('boom')
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('error mapping', () => {
  it('maps server replies to ERR_COMMAND and link failures to ERR_CONNECT', () => {
    const reply = Object.assign(new Error('WRONGTYPE Operation against a key'), { name: 'ReplyError' })
    expect(toKeyshardError(reply, 'GET').code).toBe('ERR_COMMAND')
    expect(toKeyshardError(reply, 'GET').cause).toBe(reply)
    const down = Object.assign(new Error('CLUSTERDOWN The cluster is down'), { name: 'ReplyError' })
    expect(toKeyshardError(down, 'GET').code).toBe('ERR_CONNECT')
    expect(toKeyshardError(new Error('Connection is closed.'), 'GET').code).toBe('ERR_CONNECT')
    const retries = Object.assign(new Error('Reached the max retries per request limit'), {
      name: 'MaxRetriesPerRequestError',
    })
    expect(toKeyshardError(retries, 'GET').code).toBe('ERR_CONNECT')
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
    expect(toKeyshardError(refused, 'GET').code).toBe('ERR_CONNECT')
    const own = new KeyshardError('ERR_TIMEOUT', 'x')
    expect(toKeyshardError(own, 'GET')).toBe(own)
  })

  it('maps an error raised before the wire (a bug, a bad argument) to ERR_COMMAND, not to an outage', () => {
    const bug = toKeyshardError(new RangeError('Maximum call stack size exceeded'), 'MGET')
    expect(bug.code).toBe('ERR_COMMAND')
    expect(bug.message).toContain('Maximum call stack size exceeded')
  })

  it('names the reason of a connection failure', () => {
    expect(
      describeConnectError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    ).toMatch(/^connection refused/)
    expect(describeConnectError(new Error('WRONGPASS invalid username-password pair'))).toMatch(
      /^authentication/,
    )
    expect(
      describeConnectError(
        Object.assign(new Error('self-signed certificate'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }),
      ),
    ).toMatch(/^TLS error/)
  })
})
