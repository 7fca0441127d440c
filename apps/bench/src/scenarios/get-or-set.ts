import type { BenchEnv, Topology } from '../env.js'
import { compare, type LoadResult } from '../harness.js'
import { comparisonLoad, isolationNote, notRun, startAll } from '../isolated.js'
import { fmtCpu, fmtMs, fmtOps, fmtRatio, type Section, verdict } from '../report.js'
import { KEYS, PATHS, sandboxes } from './get-or-set-sandboxes.js'

const L1_TARGET = 1.5
const L2_TARGET = 1
const SANDBOXES = new URL('./get-or-set-sandboxes.ts', import.meta.url).href

export interface GetOrSetRow {
  topology: Topology
  path: 'L2' | 'L1'
  name: string
  result: LoadResult
  loaderCalls: number
}

/** Issue 4: getOrSet on the hit path (every key already cached), Keyshard vs BentoCache vs cache-manager wrap. */
export async function getOrSetHitPath(env: BenchEnv): Promise<{ section: Section; rows: GetOrSetRow[] }> {
  const topology: Topology = 'standalone'
  const rows: GetOrSetRow[] = []
  const { live, failed } = await startAll(SANDBOXES, Object.keys(sandboxes), env, topology)
  try {
    const results = await compare(
      live.map((c) => c.contender('getOrSet')),
      comparisonLoad(env),
    )
    for (const name of Object.keys(sandboxes)) {
      const contender = live.find((c) => c.name === name)
      rows.push({
        topology,
        path: PATHS[name] as 'L1' | 'L2',
        name,
        result: results.get(name) ?? notRun(failed.get(name) ?? 'did not run'),
        loaderCalls: contender === undefined ? 0 : ((await contender.counters()).loaderCalls ?? 0),
      })
    }
  } finally {
    await Promise.all(live.map((c) => c.close()))
  }

  const fastestPeer = (path: 'L1' | 'L2'): GetOrSetRow | undefined =>
    rows
      .filter((r) => r.path === path && !r.name.startsWith('Keyshard') && r.result.error === undefined)
      .sort((a, b) => b.result.opsPerSec - a.result.opsPerSec)[0]
  const table: string[][] = []
  for (const path of ['L2', 'L1'] as const) {
    const peer = fastestPeer(path)
    const target = path === 'L1' ? L1_TARGET : L2_TARGET
    for (const r of rows.filter((x) => x.path === path)) {
      const isKeyshard = r.name.startsWith('Keyshard')
      table.push([
        path === 'L1' ? 'L1 hit' : 'L2 hit',
        r.name,
        fmtOps(r.result),
        fmtMs(r.result.p50Ms),
        fmtMs(r.result.p99Ms),
        fmtCpu(r.result),
        fmtRatio(r.result.opsPerSec, peer?.result.opsPerSec),
        isKeyshard && peer !== undefined ? verdict(r.result.opsPerSec / peer.result.opsPerSec >= target) : '',
      ])
    }
  }
  const extra = rows.filter((r) => r.loaderCalls > 0)
  return {
    rows,
    section: {
      title: 'getOrSet hit path vs BentoCache and cache-manager (issue 4)',
      notes: [
        `${isolationNote(env)} Standalone server, 1 KiB JSON values, ${KEYS.toLocaleString('en-US')} keys pre-filled through each library's own getOrSet/wrap, then hits only. ${env.load.concurrency} concurrent callers, ${env.load.warmupMs} ms warm-up, ${env.load.durationMs} ms measured.`,
        'Config: Keyshard L1 `{ maxEntries: 10000, maxBytes: 64 MiB }`; BentoCache 1.6 `redisDriver` on an ioredis 5 connection (auto-pipelining on), tiered = `memoryDriver({ maxItems: 10000 })` + the same L2 + `redisBusDriver`; cache-manager 7 `wrap` over Keyv 5 + `@keyv/redis` 5 (node-redis), tiered = in-process Keyv Map + the same Redis store (no coherence between instances).',
        `Ratio is against the fastest peer on the same path. Targets: Keyshard L1 ≥ ${L1_TARGET}× on the L1-hit path, Keyshard L2 ≥ ${L2_TARGET}× on the L2 path.${extra.length > 0 ? ` Note: loader calls during the measured phase (expected 0): ${extra.map((r) => `${r.name} ${r.loaderCalls}`).join(', ')}.` : ' Loader calls during the measured phase: 0, for every library.'}`,
      ],
      header: ['path', 'library', 'ops/s', 'p50 ms', 'p99 ms', 'CPU µs/op', 'vs fastest peer', 'target'],
      rows: table,
    },
  }
}
