import { describe, expect, it } from 'vitest'
import type { LoadResult } from './harness.js'
import { fmtPairedRatio } from './report.js'

const rounds = (...opsPerSec: number[]): LoadResult => ({
  ops: 1,
  opsPerSec: 1,
  p50Ms: 1,
  p99Ms: 1,
  cpuUsPerOp: 1,
  roundsOpsPerSec: opsPerSec,
})

describe('fmtPairedRatio', () => {
  it('divides round r by round r and gives the median and the range of those ratios', () => {
    // Both sides slow down together in round 2: paired, its ratio is as high as the others'.
    expect(fmtPairedRatio(rounds(300, 100, 330), rounds(100, 40, 110))).toBe('3.00× (2.50–3.00×)')
  })

  it('pairs only the rounds both sides ran, and skips failed ones', () => {
    expect(fmtPairedRatio(rounds(200, 0, 300), rounds(100, 100))).toBe('2.00× (2.00–2.00×)')
    expect(fmtPairedRatio(rounds(0), rounds(100))).toBe('-')
    expect(fmtPairedRatio(rounds(100), { ...rounds(), roundsOpsPerSec: undefined })).toBe('-')
    expect(fmtPairedRatio(undefined, rounds(100))).toBe('-')
  })
})
