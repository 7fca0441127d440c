import { performance } from 'node:perf_hooks'
import { type BenchEnv, jsonValue, keyshard, TOPOLOGIES } from '../env.js'
import { median } from '../harness.js'
import { fmtMs, type Section, verdict } from '../report.js'

const TARGET_MS = 5
const BATCH = 1000
const SAMPLE = 200

export interface TagRow {
  topology: string
  entries: number
  runs: number
  writeOpsPerSec: number
  medianMs: number
  maxMs: number
  staleAfter: number
}

/** Issue 3: cost of invalidateTag as the number of entries carrying the tag grows. */
export async function tagInvalidation(env: BenchEnv): Promise<{ section: Section; rows: TagRow[] }> {
  const counts = env.quick ? [1_000, 10_000] : [1_000, 10_000, 100_000]
  const value = jsonValue(100)
  const rows: TagRow[] = []
  for (const topology of TOPOLOGIES) {
    const cache = await keyshard(env, topology)
    const ns = cache.namespace<typeof value>('bench-tags')
    try {
      for (const entries of counts) {
        const runs = entries >= 100_000 ? 3 : 5
        const times: number[] = []
        let stale = 0
        let writeMs = 0
        for (let run = 0; run < runs; run++) {
          // Rewrite every entry before each run, so each invalidation faces `entries` live tagged entries.
          const w0 = performance.now()
          for (let i = 0; i < entries; i += BATCH) {
            const n = Math.min(BATCH, entries - i)
            await ns.setMany(
              Array.from({ length: n }, (_, j) => ({ key: `e${i + j}`, value, ttl: 600_000, tags: ['hot'] })),
            )
          }
          writeMs += performance.now() - w0
          const probe = Array.from({ length: SAMPLE }, (_, j) => `e${Math.floor((j * entries) / SAMPLE)}`)
          const before = await ns.getMany(probe)
          if (before.some((v) => v === undefined))
            throw new Error(`tag bench: entries missing before invalidation (${entries})`)
          const t0 = performance.now()
          await ns.invalidateTag('hot')
          times.push(performance.now() - t0)
          const after = await ns.getMany(probe)
          stale += after.filter((v) => v !== undefined).length
        }
        rows.push({
          topology,
          entries,
          runs,
          writeOpsPerSec: (entries * runs) / (writeMs / 1000),
          medianMs: median(times),
          maxMs: Math.max(...times),
          staleAfter: stale,
        })
        await ns.clear()
      }
    } finally {
      await ns.clear().catch(() => undefined)
      await cache.close()
    }
  }
  return {
    rows,
    section: {
      title: 'Tag invalidation cost vs tagged entry count (issue 3)',
      notes: [
        `Each run writes N entries (100 B JSON, tag \`hot\`) with \`setMany\` in batches of ${BATCH}, then times one \`invalidateTag('hot')\`; median over the runs. Afterwards ${SAMPLE} sampled keys are read with \`getMany\`: every one must miss. Target: < ${TARGET_MS} ms and flat in N.`,
      ],
      header: [
        'topology',
        'tagged entries',
        'runs',
        'invalidateTag median ms',
        'max ms',
        'reads still hitting after',
        `target < ${TARGET_MS} ms`,
        'setMany writes/s (context)',
      ],
      rows: rows.map((r) => [
        r.topology,
        r.entries.toLocaleString('en-US'),
        String(r.runs),
        fmtMs(r.medianMs),
        fmtMs(r.maxMs),
        `${r.staleAfter} / ${SAMPLE * r.runs}`,
        verdict(r.medianMs < TARGET_MS && r.staleAfter === 0),
        Math.round(r.writeOpsPerSec).toLocaleString('en-US'),
      ]),
    },
  }
}
