import { type BenchEnv, TOPOLOGIES, type Topology } from '../env.js'
import { compare, type LoadResult } from '../harness.js'
import { comparisonLoad, isolationNote, notRun, startAll } from '../isolated.js'
import { fmtCpu, fmtMs, fmtOps, fmtPairedRatio, fmtRatio, type Section, verdict } from '../report.js'
import { KEYS, MANY, sandboxes } from './keyv-sandboxes.js'

const MANY_CONCURRENCY = 10
const SANDBOXES = new URL('./keyv-sandboxes.ts', import.meta.url).href
const OPS = ['get', 'set', `getMany(${MANY})`] as const

type Op = (typeof OPS)[number]

export interface KeyvRow {
  topology: Topology
  op: Op
  name: string
  result: LoadResult
}

/** Issue 5: Keyv get/set/getMany through @keyshard/keyv vs @keyv/redis and @keyv/valkey, same server. */
export async function keyvBench(env: BenchEnv): Promise<{ section: Section; rows: KeyvRow[] }> {
  const rows: KeyvRow[] = []
  for (const topology of TOPOLOGIES) {
    const { live, failed } = await startAll(SANDBOXES, Object.keys(sandboxes), env, topology)
    for (const [name, error] of failed)
      for (const op of OPS) rows.push({ topology, op, name, result: notRun(error) })
    try {
      for (const op of OPS) {
        const results = await compare(
          live.map((c) => c.contender(op)),
          comparisonLoad(env, op === 'get' || op === 'set' ? {} : { concurrency: MANY_CONCURRENCY }),
        )
        for (const c of live)
          rows.push({ topology, op, name: c.name, result: results.get(c.name) as LoadResult })
      }
    } finally {
      await Promise.all(live.map((c) => c.close()))
    }
  }
  const targets: Record<string, number> = { get: 1.2, set: 1.2 }
  const table: string[][] = []
  for (const topology of TOPOLOGIES) {
    for (const op of OPS) {
      const here = rows.filter((r) => r.topology === topology && r.op === op)
      const peer = here
        .filter((r) => r.name !== '@keyshard/keyv' && r.result.error === undefined)
        .sort((a, b) => b.result.opsPerSec - a.result.opsPerSec)[0]
      const target = op.startsWith('getMany') ? (topology === 'cluster' ? 3 : undefined) : targets[op]
      for (const r of here) {
        const mine = r.name === '@keyshard/keyv'
        table.push([
          topology,
          op,
          r.name,
          fmtOps(r.result),
          fmtMs(r.result.p50Ms),
          fmtMs(r.result.p99Ms),
          fmtCpu(r.result),
          fmtRatio(r.result.opsPerSec, peer?.result.opsPerSec),
          mine ? fmtPairedRatio(r.result, peer?.result) : '',
          mine && target !== undefined
            ? peer === undefined
              ? r.result.error === undefined
                ? 'met (no peer works)'
                : '**missed**'
              : `${verdict(r.result.opsPerSec / peer.result.opsPerSec >= target)} (≥ ${target}×)`
            : '',
        ])
      }
    }
  }
  return {
    rows,
    section: {
      title: 'Keyv stores: @keyshard/keyv vs @keyv/redis and @keyv/valkey (issue 5)',
      notes: [
        `${isolationNote(env)} Keyv 5 on top, namespace \`bench-keyv\`, 1 KiB JSON values, ttl 10 min, ${KEYS.toLocaleString('en-US')} keys pre-filled. get/set: ${env.load.concurrency} concurrent callers; getMany(${MANY} keys): ${MANY_CONCURRENCY} concurrent callers. ${env.load.warmupMs} ms warm-up, ${env.load.durationMs} ms measured.`,
        'Config: @keyshard/keyv over a Keyshard cache (default `autoPipelining`: one coalesced write per node per tick, per event-loop turn for single-key get/set on a cluster); @keyv/redis 5 (node-redis; cluster via its `createCluster`); @keyv/valkey 1 (iovalkey, `useRedisSets: false`; cluster via an iovalkey `Cluster`). "fails" = the operation rejected on that topology (message shown).',
        'Ratio is against the fastest working peer (our median round over its median round). Per round: the same ratio for each round pair (round r of every store ran back to back), median and range; it shows how far the machine moved the ratio. Targets, judged on the ratio of the median rounds: ≥ 1.2× on get/set; ≥ 3× on getMany over the cluster.',
      ],
      header: [
        'topology',
        'op',
        'store',
        'ops/s',
        'p50 ms',
        'p99 ms',
        'CPU µs/op',
        'vs fastest peer',
        'per round',
        'target',
      ],
      rows: table,
    },
  }
}
