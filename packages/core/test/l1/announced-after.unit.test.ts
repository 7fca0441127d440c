import { afterEach, describe, expect, it, vi } from 'vitest'
import { createCache } from '../../src/cache.js'
import { announcedAfter } from '../../src/l1/invalidation-publisher.js'
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

  it('sends the announcement without waiting for it once the deadline has passed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const given: number[] = []
    const done = announcedAfter(
      1000,
      () => elapse(1000),
      (left) => {
        given.push(left)
        return new Promise<void>(() => {}) // a PUBLISH that never answers
      },
    )
    await vi.advanceTimersByTimeAsync(1000)
    await done
    expect(given).toEqual([0])
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
})
