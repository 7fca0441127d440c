import { addresses, type BenchEnv, TOPOLOGIES } from '../env.js'
import { compare, type LoadResult } from '../harness.js'
import { comparisonLoad, isolationNote, notRun, startAll } from '../isolated.js'
import { fmtCpu, fmtMs, fmtOps, fmtRatio, type Section, verdict } from '../report.js'
import { KEYS, MANY, sandboxes } from './core-sandboxes.js'

const TARGET = 0.9
const MANY_CONCURRENCY = 10
const SANDBOXES = new URL('./core-sandboxes.ts', import.meta.url).href
const OPS = ['get', 'set', `getMany(${MANY})`] as const
type Op = (typeof OPS)[number]

export interface CoreVsRawRow {
  topology: string
  op: Op
  keyshard: LoadResult
  raw: LoadResult
  /** Context only: node-redis 5 (the client under @keyv/redis), same commands as the raw iovalkey baseline. */
  nodeRedis: LoadResult
  ratio: number
}

/** Issue 3: Keyshard namespace get/set vs raw iovalkey GET / SET PX with JSON, same server, same concurrency. */
export async function coreVsRaw(env: BenchEnv): Promise<{ section: Section; rows: CoreVsRawRow[] }> {
  const rows: CoreVsRawRow[] = []
  for (const topology of TOPOLOGIES) {
    const { live, failed } = await startAll(SANDBOXES, Object.keys(sandboxes), env, topology)
    try {
      for (const op of OPS) {
        const results = await compare(
          live.map((c) => c.contender(op)),
          comparisonLoad(env, op === 'get' || op === 'set' ? {} : { concurrency: MANY_CONCURRENCY }),
        )
        const result = (name: string): LoadResult =>
          results.get(name) ?? notRun(failed.get(name) ?? 'did not run')
        const ks = result('keyshard')
        const rw = result('raw')
        rows.push({
          topology,
          op,
          keyshard: ks,
          raw: rw,
          nodeRedis: result('node-redis'),
          ratio: rw.opsPerSec > 0 ? ks.opsPerSec / rw.opsPerSec : 0,
        })
      }
    } finally {
      await Promise.all(live.map((c) => c.close()))
    }
  }
  return {
    rows,
    section: {
      title: 'Core vs raw iovalkey — get/set, 1 KiB JSON (issue 3)',
      notes: [
        `${isolationNote(env)} ${env.load.concurrency} concurrent callers, ${env.load.warmupMs} ms warm-up, ${env.load.durationMs} ms measured.`,
        `Keyshard: \`namespace.get/set\` (rich-JSON encoder + envelope, ttl 10 min), default \`autoPipelining\` (Keyshard coalesces each tick's commands, and on a cluster each turn's single-key get/set, into one socket write per node). Raw: iovalkey \`GET\` + \`JSON.parse\` / \`SET … PX\` + \`JSON.stringify\`, auto-pipelining on. Context column: the same commands through node-redis 5 (the client under @keyv/redis), not part of the target. ${KEYS.toLocaleString('en-US')} keys, all hits. Target: Keyshard ≥ ${TARGET}× raw on get and set.`,
        `getMany(${MANY}) (${MANY_CONCURRENCY} callers, no target in issue 3; DESIGN asks for one round trip per node rather than per key): Keyshard \`namespace.getMany\` vs the fewest commands a plain client can do it with — one \`MGET\` on a standalone server, one \`MGET\` per hash slot on the cluster (random keys: ≈ one per key), sent concurrently, each value \`JSON.parse\`d. Keyshard sends one read per slot too (a \`GET\` where the slot holds one of the keys, an \`MGET\` where it holds more), each master's as one batch (one write, one object settling all its replies).`,
        `Servers: standalone ${addresses(env, 'standalone').join(', ')}; cluster 3 masters × 1 replica.`,
      ],
      header: [
        'topology',
        'op',
        'Keyshard ops/s',
        'p50 ms',
        'p99 ms',
        'CPU µs/op',
        'raw ops/s',
        'p50 ms',
        'p99 ms',
        'CPU µs/op',
        'ratio',
        `target ≥ ${TARGET}×`,
        'node-redis ops/s (context)',
        'p50 ms',
        'CPU µs/op',
      ],
      rows: rows.map((r) => [
        r.topology,
        r.op,
        fmtOps(r.keyshard),
        fmtMs(r.keyshard.p50Ms),
        fmtMs(r.keyshard.p99Ms),
        fmtCpu(r.keyshard),
        fmtOps(r.raw),
        fmtMs(r.raw.p50Ms),
        fmtMs(r.raw.p99Ms),
        fmtCpu(r.raw),
        fmtRatio(r.keyshard.opsPerSec, r.raw.opsPerSec),
        r.op === 'get' || r.op === 'set' ? verdict(r.ratio > 0 ? r.ratio >= TARGET : undefined) : '',
        fmtOps(r.nodeRedis),
        fmtMs(r.nodeRedis.p50Ms),
        fmtCpu(r.nodeRedis),
      ]),
    },
  }
}
