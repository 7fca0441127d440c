import { performance } from 'node:perf_hooks'
import * as hdr from 'hdr-histogram-js'

/** One measured operation. `i` is a per-run sequence number callers can use to spread keys. */
export type Op = (i: number) => Promise<unknown>

export interface LoadOptions {
  /** Concurrent callers, each awaiting its previous op before starting the next. */
  concurrency: number
  /** Measured phase length. */
  durationMs: number
  /** Unmeasured phase before it, so JIT, connections and caches are warm. */
  warmupMs: number
}

export interface LoadResult {
  ops: number
  opsPerSec: number
  p50Ms: number
  p99Ms: number
  /**
   * Client CPU time (user + system, this process) per op in the measured phase. Steadier than ops/s on a shared
   * machine: it does not depend on how much CPU the servers and other processes left to this one.
   */
  cpuUsPerOp: number
  /** Set when the op failed; a failing op is reported as such instead of producing a number. */
  error?: string
  /** Set by {@link compare}: the ops/s of each of the contender's rounds, in the order they ran. */
  roundsOpsPerSec?: number[]
}

function newHistogram(): hdr.Histogram {
  // Microseconds, 1 µs .. 60 s, 3 significant digits. The JS implementation avoids a WASM start-up cost.
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  })
}

async function phase(
  op: Op,
  opts: LoadOptions,
  durationMs: number,
  histogram: hdr.Histogram | undefined,
): Promise<number> {
  const deadline = performance.now() + durationMs
  let seq = 0
  let done = 0
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const i = seq++
      const t0 = performance.now()
      await op(i)
      if (histogram !== undefined)
        histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)))
      done++
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency }, worker))
  return done
}

/** Runs `op` from `concurrency` callers: warm-up, then a measured phase of fixed duration. */
export async function runLoad(op: Op, opts: LoadOptions): Promise<LoadResult> {
  try {
    // Fail fast on a broken configuration (e.g. CROSSSLOT) before spending the warm-up on errors.
    await op(0)
    await phase(op, opts, opts.warmupMs, undefined)
    const histogram = newHistogram()
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    const ops = await phase(op, opts, opts.durationMs, histogram)
    const cpu = process.cpuUsage(cpu0)
    const elapsed = (performance.now() - t0) / 1000
    const result = {
      ops,
      opsPerSec: ops / elapsed,
      p50Ms: histogram.getValueAtPercentile(50) / 1000,
      p99Ms: histogram.getValueAtPercentile(99) / 1000,
      cpuUsPerOp: (cpu.user + cpu.system) / Math.max(1, ops),
    }
    histogram.destroy()
    return result
  } catch (error) {
    return {
      ops: 0,
      opsPerSec: 0,
      p50Ms: Number.NaN,
      p99Ms: Number.NaN,
      cpuUsPerOp: Number.NaN,
      error: describeError(error),
    }
  }
}

export function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.split('\n')[0]?.slice(0, 120) ?? 'error'
}

/** Percentile of a sample (nearest rank); used for small trial sets such as coherence delays. */
export function percentile(sample: readonly number[], p: number): number {
  if (sample.length === 0) return Number.NaN
  const sorted = [...sample].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank] as number
}

export function median(sample: readonly number[]): number {
  return percentile(sample, 50)
}

/** One side of a comparison: something that runs a measured load and reports it. */
export interface Contender {
  name: string
  run(opts: LoadOptions): Promise<LoadResult>
}

/** A contender whose op runs in this process (the harness tests use it; scenarios isolate theirs, see isolated.ts). */
export function inProcess(name: string, op: Op): Contender {
  return { name, run: (opts) => runLoad(op, opts) }
}

/**
 * Runs several contenders in interleaved rounds (A B C, A B C, ...) and keeps each one's median round by
 * throughput, so a burst of load from other processes on a shared machine does not land on one contender only.
 */
export async function compare(
  contenders: readonly Contender[],
  opts: LoadOptions & { rounds: number },
): Promise<Map<string, LoadResult>> {
  const rounds = new Map<string, LoadResult[]>()
  for (let r = 0; r < opts.rounds; r++) {
    for (const c of contenders) {
      const previous = rounds.get(c.name) ?? []
      if (previous[0]?.error !== undefined) continue
      previous.push(await c.run(opts))
      rounds.set(c.name, previous)
    }
  }
  const out = new Map<string, LoadResult>()
  for (const [name, results] of rounds) {
    const sorted = [...results].sort((a, b) => a.opsPerSec - b.opsPerSec)
    const median = sorted[Math.floor((sorted.length - 1) / 2)] as LoadResult
    out.set(name, { ...median, roundsOpsPerSec: results.map((r) => r.opsPerSec) })
  }
  return out
}
