import { describe, expect, it } from 'vitest'
import { CircuitBreaker } from '../../src/read-through/circuit-breaker.js'
import { RateLimiter } from '../../src/read-through/rate-limiter.js'
import { SingleFlight } from '../../src/read-through/single-flight.js'

describe('SingleFlight', () => {
  it('shares one call per key while in flight, with the context it was started with, then forgets it', async () => {
    const flight = new SingleFlight<number, string>()
    let calls = 0
    let release!: (n: number) => void
    const work = () => {
      calls++
      return new Promise<number>((r) => {
        release = r
      })
    }
    const a = flight.run('k', work, 'first')
    const b = flight.run('k', work, 'second')
    const other = flight.run('other', async () => 7, 'other')
    expect(flight.size).toBe(2)
    expect(b.context).toBe('first')
    expect(flight.get('k')?.context).toBe('first')
    release(1)
    expect(await Promise.all([a.result, b.result, other.result])).toEqual([1, 1, 7])
    expect(calls).toBe(1)
    expect(flight.size).toBe(0)
    expect(flight.get('k')).toBeUndefined()
    await flight.run('k', async () => 2, 'again').result
  })

  it('shares a rejection too, and a later call starts afresh', async () => {
    const flight = new SingleFlight<number>()
    const err = new Error('x')
    const a = flight.run('k', () => Promise.reject(err), undefined)
    const b = flight.run('k', async () => 1, undefined)
    await expect(a.result).rejects.toBe(err)
    await expect(b.result).rejects.toBe(err)
    expect(await flight.run('k', async () => 2, undefined).result).toBe(2)
  })
})

describe('CircuitBreaker (injected clock)', () => {
  it('opens after consecutive failures, lets one probe through when half-open, and closes on success', () => {
    let now = 0
    const cb = new CircuitBreaker({ failureThreshold: 3, openMs: 1000 }, () => now)
    cb.onFailure()
    cb.onSuccess() // a success resets the count
    cb.onFailure()
    cb.onFailure()
    expect(cb.state).toBe('closed')
    cb.onFailure()
    expect(cb.state).toBe('open')
    expect(cb.tryAcquire()).toBe(false)
    now = 999
    expect(cb.tryAcquire()).toBe(false)
    now = 1000
    expect(cb.state).toBe('half-open')
    expect(cb.tryAcquire()).toBe(true)
    expect(cb.tryAcquire()).toBe(false) // only one probe
    cb.onFailure()
    expect(cb.state).toBe('open') // a failed probe re-opens at once
    now = 2000
    expect(cb.tryAcquire()).toBe(true)
    cb.onSuccess()
    expect(cb.state).toBe('closed')
    expect(cb.tryAcquire()).toBe(true)
  })

  it('lets a new probe through when the previous one has not settled within openMs', () => {
    let now = 0
    const cb = new CircuitBreaker({ failureThreshold: 1, openMs: 1000 }, () => now)
    cb.onFailure()
    now = 1000
    expect(cb.tryAcquire()).toBe(true) // this probe's loader never returns
    now = 1999
    expect(cb.tryAcquire()).toBe(false)
    now = 2000
    expect(cb.tryAcquire()).toBe(true)
    expect(cb.tryAcquire()).toBe(false)
    cb.onSuccess()
    expect(cb.state).toBe('closed')
  })

  it('rejects nonsense settings', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(RangeError)
    expect(() => new CircuitBreaker({ openMs: -1 })).toThrow(RangeError)
  })
})

describe('RateLimiter (injected clock)', () => {
  it('allows a burst, then refills at the sustained rate', () => {
    let now = 0
    const rl = new RateLimiter({ perSecond: 10, burst: 3 }, () => now)
    expect([rl.tryAcquire(), rl.tryAcquire(), rl.tryAcquire(), rl.tryAcquire()]).toEqual([
      true,
      true,
      true,
      false,
    ])
    now = 99
    expect(rl.tryAcquire()).toBe(false)
    now = 100
    expect(rl.tryAcquire()).toBe(true)
    now = 10_000
    expect([rl.tryAcquire(), rl.tryAcquire(), rl.tryAcquire(), rl.tryAcquire()]).toEqual([
      true,
      true,
      true,
      false,
    ])
  })

  it('allows one call at a time below one call per second when no burst is given', () => {
    let now = 0
    const rl = new RateLimiter({ perSecond: 0.5 }, () => now)
    expect([rl.tryAcquire(), rl.tryAcquire()]).toEqual([true, false])
    now = 1999
    expect(rl.tryAcquire()).toBe(false)
    now = 2000
    expect(rl.tryAcquire()).toBe(true)
  })

  it('rejects nonsense settings', () => {
    expect(() => new RateLimiter({ perSecond: 0 })).toThrow(RangeError)
    expect(() => new RateLimiter({ perSecond: 1, burst: 0.5 })).toThrow(RangeError)
  })
})
