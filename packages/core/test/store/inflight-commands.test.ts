import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { isKeyshardError, KeyshardError } from '../../src/errors.js'
import { InflightCommands } from '../../src/store/inflight-commands.js'

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Reads, at any later point, whether `inflight.drained()` has resolved. */
function watchDrained(inflight: InflightCommands): () => boolean {
  let drained = false
  void inflight.drained().then(() => {
    drained = true
  })
  return () => drained
}

const mapError = (error: unknown, what: string) =>
  new KeyshardError('ERR_COMMAND', `${what}: ${(error as Error).message}`, { cause: error })

describe('InflightCommands', () => {
  beforeEach(() => {
    // The deadlines are kept on the monotonic clock, so it is faked along with the timers.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('passes values through, maps errors, and leaves no timer once nothing is pending', async () => {
    const inflight = new InflightCommands()
    expect(await inflight.track(Promise.resolve(7), 100, 'GET', mapError)).toBe(7)
    const error = await inflight
      .track(Promise.reject(new Error('boom')), 100, 'GET', mapError)
      .catch((e) => e)
    expect(isKeyshardError(error, 'ERR_COMMAND')).toBe(true)
    expect((error as Error).message).toBe('GET: boom')
    expect(inflight.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('resolves with the reply mapped by mapReply, and leaves errors to mapError', async () => {
    const inflight = new InflightCommands()
    const isOk = (reply: string) => reply === 'OK'
    expect(await inflight.track(Promise.resolve('OK'), 100, 'SET', mapError, isOk)).toBe(true)
    expect(await inflight.track(Promise.resolve('nil'), 100, 'SET', mapError, isOk)).toBe(false)
    const error = await inflight
      .track(Promise.reject(new Error('OOM')), 100, 'SET', mapError, isOk)
      .catch((e: unknown) => e)
    expect((error as Error).message).toBe('SET: OOM')
    expect(inflight.size).toBe(0)
  })

  it('rejects with ERR_TIMEOUT at the deadline and keeps the command tracked until it settles', async () => {
    const inflight = new InflightCommands()
    const command = deferred<string>()
    const caught = inflight.track(command.promise, 100, 'GET', mapError).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(99)
    expect(inflight.size).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    const error = await caught
    expect(isKeyshardError(error, 'ERR_TIMEOUT')).toBe(true)
    expect((error as KeyshardError).message).toBe('GET timed out after 100ms')
    // Valkey has no cancel: close() must still wait for the late reply.
    const drained = watchDrained(inflight)
    await vi.advanceTimersByTimeAsync(1000)
    expect(drained()).toBe(false)
    command.resolve('late')
    await vi.advanceTimersByTimeAsync(0)
    expect(drained()).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('enforces a short deadline issued after a long one, and each one only once', async () => {
    const inflight = new InflightCommands()
    const long = deferred<string>()
    const short = deferred<string>()
    const longResult = inflight.track(long.promise, 10_000, 'FLUSH', mapError).catch((e: unknown) => e)
    const shortResult = inflight.track(short.promise, 50, 'GET', mapError).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(50)
    expect(isKeyshardError(await shortResult, 'ERR_TIMEOUT')).toBe(true)
    let longSettled = false
    void longResult.then(() => {
      longSettled = true
    })
    await vi.advanceTimersByTimeAsync(9_000)
    expect(longSettled).toBe(false)
    long.resolve('done')
    expect(await longResult).toBe('done')
    short.resolve('late')
    await vi.advanceTimersByTimeAsync(0)
    expect(inflight.size).toBe(0)
  })

  it('keeps every other command tracked and timed when commands settle out of order', async () => {
    const inflight = new InflightCommands()
    const commands = [deferred<number>(), deferred<number>(), deferred<number>(), deferred<number>()]
    const results = commands.map((c, i) =>
      inflight.track(c.promise, 100, `GET ${i}`, mapError).catch((e: unknown) => e),
    )
    // Middle, newest and oldest first: each unlinks from a different place in the pending list.
    commands[1]?.resolve(1)
    commands[3]?.resolve(3)
    commands[0]?.resolve(0)
    expect(await results[1]).toBe(1)
    expect(await results[3]).toBe(3)
    expect(await results[0]).toBe(0)
    expect(inflight.size).toBe(1)
    await vi.advanceTimersByTimeAsync(100)
    const error = await results[2]
    expect(isKeyshardError(error, 'ERR_TIMEOUT')).toBe(true)
    expect((error as Error).message).toBe('GET 2 timed out after 100ms')
    const drained = watchDrained(inflight)
    await vi.advanceTimersByTimeAsync(0)
    expect(drained()).toBe(false)
    commands[2]?.resolve(2)
    await vi.advanceTimersByTimeAsync(0)
    expect(drained()).toBe(true)
    expect(inflight.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('does not time out commands given no deadline', async () => {
    const inflight = new InflightCommands()
    const command = deferred<number>()
    const result = inflight.track(command.promise, 0, 'PUBLISH', mapError)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(vi.getTimerCount()).toBe(0)
    command.resolve(1)
    expect(await result).toBe(1)
  })
})
