import { afterEach, describe, expect, it, vi } from 'vitest'
import { createCache } from '../../src/cache.js'
import { KeyshardError } from '../../src/errors.js'
import { announcedAfter } from '../../src/l1/announced-after.js'
import { MemoryStore } from '../../src/store/memory-store.js'

/** Resolves after `ms` of (fake) time. */
const elapse = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

describe('announcedAfter: one deadline for the mutation and its announcement', () => {
  afterEach(() => {
    vi.useRealTimers()
    vi.restoreAllMocks()
  })

  it('hands the announcement only what the mutation left of the timeout', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const given: number[] = []
    const done = announcedAfter(
      1000,
      async () => {
        await elapse(800)
        return 'ok'
      },
      async (left) => {
        given.push(left)
      },
    )
    await vi.advanceTimersByTimeAsync(800)
    expect(await done).toBe('ok')
    expect(given).toEqual([200])
  })

  it('gives later steps of the mutation the time left, never 0 (which would mean no deadline)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const lefts: number[] = []
    const done = announcedAfter(
      1000,
      async (left) => {
        await elapse(300)
        lefts.push(left())
        await elapse(900)
        lefts.push(left())
      },
      async () => {},
    )
    await vi.advanceTimersByTimeAsync(1200)
    await done
    expect(lefts).toEqual([700, 1])
  })

  it('still hands the announcement 1 ms once the deadline has passed, so it is reported, never skipped', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const given: number[] = []
    const done = announcedAfter(
      1000,
      () => elapse(1000),
      (left) => {
        given.push(left)
        return elapse(left) // as the real one: given up (and reported) when its time is out
      },
    )
    await vi.advanceTimersByTimeAsync(1001)
    await done
    expect(given).toEqual([1])
  })

  it('sends the announcement after a failed mutation within the whole timeout, without waiting for it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const given: number[] = []
    const done = announcedAfter(
      1000,
      async () => {
        await elapse(400)
        throw new Error('flush failed')
      },
      (left) => {
        given.push(left)
        return new Promise<void>(() => {}) // a PUBLISH that never answers: the caller must not wait for it
      },
    )
    const settled = done.then(
      () => 'resolved',
      (e: Error) => e.message,
    )
    await vi.advanceTimersByTimeAsync(400)
    expect(await settled).toBe('flush failed')
    expect(given).toEqual([1000])
  })

  it('waits for the announcement without a deadline when the call has none (timeout 0)', async () => {
    const given: number[] = []
    const lefts: number[] = []
    await announcedAfter(
      0,
      async (left) => {
        lefts.push(left())
      },
      async (left) => {
        given.push(left)
      },
    )
    expect({ lefts, given }).toEqual({ lefts: [0], given: [0] })
  })

  it('clear() gives its second deleteMatching only what the first left of flushMs', async () => {
    const store = new MemoryStore()
    const cache = await createCache({ store, timeouts: { flush: '1s' } })
    try {
      const timeouts: number[] = []
      const real = store.deleteMatching.bind(store)
      vi.spyOn(store, 'deleteMatching').mockImplementation(async (match, o) => {
        timeouts.push(o.timeoutMs)
        if (timeouts.length === 1) await new Promise((r) => setTimeout(r, 100))
        return real(match, o)
      })
      await cache.namespace('c').clear()
      expect(timeouts).toHaveLength(2)
      expect(timeouts[0]).toBe(1000)
      expect(timeouts[1]).toBeLessThanOrEqual(910)
      expect(timeouts[1]).toBeGreaterThan(0)
    } finally {
      await cache.close()
    }
  })

  it('clear() resolves with the entries deleted when only its tag-epoch pass fails, and reports that pass', async () => {
    const store = new MemoryStore()
    const cache = await createCache({ store })
    try {
      const ns = cache.namespace<string>('c')
      await ns.set('k', 'v', { tags: ['t'] })
      const errors: Array<{ operation: string; code?: string }> = []
      cache.on('error', (e) => errors.push({ operation: e.operation, code: e.error.code }))
      const real = store.deleteMatching.bind(store)
      let calls = 0
      vi.spyOn(store, 'deleteMatching').mockImplementation(async (match, o) => {
        calls++
        if (calls === 2) throw new KeyshardError('ERR_TIMEOUT', 'delete matching timed out')
        return real(match, o)
      })
      expect(await ns.clear()).toBe(1)
      expect(await ns.get('k')).toBeUndefined()
      expect(errors).toEqual([{ operation: 'clear', code: 'ERR_TIMEOUT' }])
    } finally {
      await cache.close()
    }
  })
})
