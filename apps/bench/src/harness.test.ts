import { describe, expect, it } from 'vitest'
import { compare, inProcess, median, percentile, runLoad } from './harness.js'

describe('percentile', () => {
  it('uses nearest rank on a sorted copy', () => {
    const sample = [5, 1, 4, 2, 3]
    expect(percentile(sample, 50)).toBe(3)
    expect(percentile(sample, 99)).toBe(5)
    expect(percentile(sample, 1)).toBe(1)
    expect(median([10, 30, 20, 40])).toBe(20)
    expect(sample).toEqual([5, 1, 4, 2, 3])
    expect(percentile([], 50)).toBeNaN()
  })
})

describe('runLoad', () => {
  it('runs every caller concurrently and records each op', async () => {
    let inFlight = 0
    let maxInFlight = 0
    const result = await runLoad(
      async () => {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        await new Promise((resolve) => setTimeout(resolve, 2))
        inFlight--
      },
      { concurrency: 8, durationMs: 100, warmupMs: 10 },
    )
    expect(maxInFlight).toBe(8)
    expect(result.error).toBeUndefined()
    expect(result.ops).toBeGreaterThan(8)
    expect(result.opsPerSec).toBeGreaterThan(0)
    expect(result.p50Ms).toBeGreaterThanOrEqual(1.5)
    expect(result.p99Ms).toBeGreaterThanOrEqual(result.p50Ms)
  })

  it('reports a failing op as an error instead of a number', async () => {
    const result = await runLoad(
      async () => {
        throw new Error('CROSSSLOT Keys in request do not hash to the same slot\nsecond line')
      },
      { concurrency: 4, durationMs: 50, warmupMs: 10 },
    )
    expect(result.error).toBe('CROSSSLOT Keys in request do not hash to the same slot')
    expect(result.opsPerSec).toBe(0)
  })
})

describe('compare', () => {
  it('keeps the median round per contender and stops re-running one that failed', async () => {
    let failingCalls = 0
    const results = await compare(
      [
        inProcess('ok', async () => undefined),
        inProcess('broken', async () => {
          failingCalls++
          throw new Error('nope')
        }),
      ],
      { concurrency: 2, durationMs: 20, warmupMs: 5, rounds: 3 },
    )
    expect(results.get('ok')?.error).toBeUndefined()
    expect(results.get('ok')?.ops).toBeGreaterThan(0)
    expect(results.get('broken')?.error).toBe('nope')
    expect(failingCalls).toBe(1)
  })

  it("records every round's ops/s in running order, the median one among them", async () => {
    const runs: number[] = [30, 10, 20]
    let round = 0
    const contender = {
      name: 'scripted',
      run: async () => {
        const opsPerSec = runs[round++] as number
        return { ops: opsPerSec, opsPerSec, p50Ms: 1, p99Ms: 1, cpuUsPerOp: 1 }
      },
    }
    const results = await compare([contender], { concurrency: 1, durationMs: 1, warmupMs: 0, rounds: 3 })
    expect(results.get('scripted')?.roundsOpsPerSec).toEqual([30, 10, 20])
    expect(results.get('scripted')?.opsPerSec).toBe(20)
  })
})
