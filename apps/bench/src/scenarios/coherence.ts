import { performance } from 'node:perf_hooks'
import type { CacheTier } from '@keyshard/core'
import { type BenchEnv, keyshard, nextMacrotask, TOPOLOGIES, type Topology } from '../env.js'
import { percentile } from '../harness.js'
import { fmtMs, type Section } from '../report.js'

const GIVE_UP_MS = 2_000

export interface CoherenceRow {
  topology: Topology
  op: 'set' | 'delete'
  trials: number
  /** From the start of A's write until B first returns the new state. */
  fromStart: number[]
  /** From A's write resolving until B first returns the new state (0 when B already saw it). */
  fromAck: number[]
  timedOut: number
  /** Trials where B's read of the old value just before the write was served by its L1 (it must be, to test L1). */
  oldFromL1: number
}

/**
 * Issue 4: two caches with L1 on separate connections. B holds the old value in its L1; A writes or deletes; B's
 * get is polled (yielding to I/O between polls so the invalidation message can arrive) until it returns the new state.
 */
export async function l1Coherence(env: BenchEnv): Promise<{ section: Section; rows: CoherenceRow[] }> {
  const trials = env.quick ? 50 : 200
  const rows: CoherenceRow[] = []
  for (const topology of TOPOLOGIES) {
    const l1 = { l1: { maxEntries: 10_000, ttl: 600_000 } }
    const a = await keyshard(env, topology, l1)
    const b = await keyshard(env, topology, l1)
    const nsA = a.namespace<string>('bench-coherence')
    const nsB = b.namespace<string>('bench-coherence')
    let lastTierB: CacheTier | undefined
    b.on('hit', (e) => {
      lastTierB = e.tier
    })
    try {
      for (const op of ['set', 'delete'] as const) {
        const row: CoherenceRow = {
          topology,
          op,
          trials,
          fromStart: [],
          fromAck: [],
          timedOut: 0,
          oldFromL1: 0,
        }
        for (let t = 0; t < trials; t++) {
          const key = `c${t % 20}`
          const old = `old-${op}-${t}`
          await nsA.set(key, old, { ttl: 600_000 })
          // Make sure B has the old value in its L1 before the measured write.
          // A's own write of the old value also sends an invalidation that may reach B after B filled its L1
          // from L2, so keep reading until B serves the old value from L1 (or give up and record that it did not).
          const deadline0 = performance.now() + GIVE_UP_MS
          for (;;) {
            lastTierB = undefined
            const seenOld = await nsB.get(key)
            if ((seenOld === old && lastTierB === 'l1') || performance.now() > deadline0) break
            await nextMacrotask()
          }
          if (lastTierB === 'l1') row.oldFromL1++
          const expected = op === 'set' ? `new-${t}` : undefined
          const t0 = performance.now()
          const write = op === 'set' ? nsA.set(key, expected as string, { ttl: 600_000 }) : nsA.delete(key)
          let ack = Number.NaN
          void write.then(() => {
            ack = performance.now()
          })
          let seen = Number.NaN
          while (performance.now() - t0 < GIVE_UP_MS) {
            if ((await nsB.get(key)) === expected) {
              seen = performance.now()
              break
            }
            await nextMacrotask()
          }
          await write
          if (Number.isNaN(ack)) ack = performance.now()
          if (Number.isNaN(seen)) {
            row.timedOut++
            continue
          }
          row.fromStart.push(seen - t0)
          row.fromAck.push(Math.max(0, seen - ack))
        }
        rows.push(row)
      }
    } finally {
      await nsA.clear().catch(() => undefined)
      await a.close()
      await b.close()
    }
  }
  return {
    rows,
    section: {
      title: 'L1 coherence delay across instances (issue 4)',
      notes: [
        `Two Keyshard caches with L1 (\`{ maxEntries: 10000 }\`), each on its own connection(s). Per trial: B holds the old value in L1, A sets a new value (or deletes), B polls \`get\` (one macrotask between polls) until it sees the new state; ${trials} trials per row, give-up after ${GIVE_UP_MS} ms. "from write start" includes A's own round trip; "after A's ack" is the staleness window a caller can observe once A's write has resolved.`,
      ],
      header: [
        'topology',
        'op',
        'trials',
        'p50 ms from write start',
        'p99 ms',
        'p50 ms after A ack',
        'p99 ms after A ack',
        'never converged',
        "B's old value came from L1",
      ],
      rows: rows.map((r) => [
        r.topology,
        r.op,
        String(r.trials),
        fmtMs(percentile(r.fromStart, 50)),
        fmtMs(percentile(r.fromStart, 99)),
        fmtMs(percentile(r.fromAck, 50)),
        fmtMs(percentile(r.fromAck, 99)),
        String(r.timedOut),
        `${r.oldFromL1} / ${r.trials}`,
      ]),
    },
  }
}
