import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis'
import KeyvRedis from '@keyv/redis'
import { createCache as createCacheManager } from 'cache-manager'
import { Keyv } from 'keyv'
import { type BenchEnv, hostPort, jsonValue, keyshard, rawIoredis, type Topology } from '../env.js'
import { compare, type LoadResult, type Op } from '../harness.js'
import { fmtCpu, fmtMs, fmtOps, fmtRatio, type Section, verdict } from '../report.js'

const KEYS = 1_000
const TTL_MS = 600_000
const L1_TARGET = 1.5
const L2_TARGET = 1

/** The read-through surface this scenario uses; typed locally so the bench states exactly what it relies on. */
interface ReadThrough<T> {
  getOrSet(key: string, loader: () => Promise<T>, options: { ttl: number }): Promise<T>
  setMany(entries: Array<{ key: string; value: T; ttl: number }>): Promise<void>
  clear(): Promise<number>
}

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
  const value = jsonValue(1024)
  const key = (i: number): string => `g${(i * 7919) % KEYS}`
  let loaderCalls = 0
  const loader = async (): Promise<typeof value> => {
    loaderCalls++
    return value
  }
  const keyshardL2 = await keyshard(env, topology)
  const keyshardL1 = await keyshard(env, topology, {
    l1: { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024, ttl: TTL_MS },
  })
  const ksL2 = keyshardL2.namespace('bench-gos') as unknown as ReadThrough<typeof value>
  const ksL1 = keyshardL1.namespace('bench-gos') as unknown as ReadThrough<typeof value>

  const bentoConn = await rawIoredis(env, topology)
  const bentoL2 = new BentoCache({
    default: 'c',
    prefix: 'bento-l2',
    stores: { c: bentostore().useL2Layer(redisDriver({ connection: bentoConn })) },
  })
  const { host, port } = hostPort(env.standalone)
  const bentoTiered = new BentoCache({
    default: 'c',
    prefix: 'bento-tiered',
    stores: {
      c: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 10_000, maxSize: 64 * 1024 * 1024 }))
        .useL2Layer(redisDriver({ connection: bentoConn }))
        .useBus(redisBusDriver({ connection: { host, port } })),
    },
  })
  const cmRedis = new Keyv({ store: new KeyvRedis(`redis://${env.standalone}`), namespace: 'bench-cm' })
  const cm = createCacheManager({ stores: [cmRedis] })
  // cache-manager's own tiering: an in-process Keyv (Map) in front of the same Redis store. No cross-instance coherence.
  const cmTiered = createCacheManager({
    stores: [
      new Keyv({ namespace: 'bench-cmt' }),
      new Keyv({ store: new KeyvRedis(`redis://${env.standalone}`), namespace: 'bench-cmt' }),
    ],
  })
  const rows: GetOrSetRow[] = []
  try {
    const contenders: Array<{ name: string; path: 'L2' | 'L1'; op: Op }> = [
      { name: 'Keyshard (L2 only)', path: 'L2', op: (i) => ksL2.getOrSet(key(i), loader, { ttl: TTL_MS }) },
      {
        name: 'BentoCache (redis L2 only)',
        path: 'L2',
        op: (i) => bentoL2.getOrSet({ key: key(i), factory: loader, ttl: TTL_MS }),
      },
      { name: 'cache-manager wrap (@keyv/redis)', path: 'L2', op: (i) => cm.wrap(key(i), loader, TTL_MS) },
      { name: 'Keyshard (L1 + L2)', path: 'L1', op: (i) => ksL1.getOrSet(key(i), loader, { ttl: TTL_MS }) },
      {
        name: 'BentoCache (memory L1 + redis L2 + bus)',
        path: 'L1',
        op: (i) => bentoTiered.getOrSet({ key: key(i), factory: loader, ttl: TTL_MS }),
      },
      {
        name: 'cache-manager wrap (Keyv Map + @keyv/redis)',
        path: 'L1',
        op: (i) => cmTiered.wrap(key(i), loader, TTL_MS),
      },
    ]
    // Fill every cache through its own API so each holds its own format, then the measured phase is hits only.
    for (const c of contenders) for (let k = 0; k < KEYS; k++) await c.op(k * 1)
    // The fill used key(k) for k < KEYS, which covers every key since 7919 is coprime with KEYS.
    const loaderCallsAfterFill = loaderCalls
    const results = await compare(contenders, env.load)
    for (const c of contenders) {
      rows.push({
        topology,
        path: c.path,
        name: c.name,
        result: results.get(c.name) as LoadResult,
        loaderCalls: 0,
      })
    }
    const extraLoads = loaderCalls - loaderCallsAfterFill
    if (extraLoads > 0) for (const r of rows) r.loaderCalls = extraLoads
  } finally {
    await ksL2.clear().catch(() => undefined)
    await keyshardL1.close()
    await keyshardL2.close()
    await bentoL2.clear().catch(() => undefined)
    await bentoTiered.clear().catch(() => undefined)
    await bentoTiered.disconnect().catch(() => undefined)
    await bentoL2.disconnect().catch(() => undefined)
    await cm.clear().catch(() => undefined)
    await cmTiered.clear().catch(() => undefined)
    await cm.disconnect().catch(() => undefined)
    await cmTiered.disconnect().catch(() => undefined)
    bentoConn.disconnect()
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
  const extra = rows[0]?.loaderCalls ?? 0
  return {
    rows,
    section: {
      title: 'getOrSet hit path vs BentoCache and cache-manager (issue 4)',
      notes: [
        `Standalone server, 1 KiB JSON values, ${KEYS.toLocaleString('en-US')} keys pre-filled through each library's own getOrSet/wrap, then hits only. ${env.load.concurrency} concurrent callers, ${env.load.warmupMs} ms warm-up, ${env.load.durationMs} ms measured, median of ${env.load.rounds} interleaved rounds.`,
        'Config: Keyshard L1 `{ maxEntries: 10000, maxBytes: 64 MiB }`; BentoCache 1.6 `redisDriver` on an ioredis 5 connection (auto-pipelining on), tiered = `memoryDriver({ maxItems: 10000 })` + the same L2 + `redisBusDriver`; cache-manager 7 `wrap` over Keyv 5 + `@keyv/redis` 5 (node-redis), tiered = in-process Keyv Map + the same Redis store (no coherence between instances).',
        `Ratio is against the fastest peer on the same path. Targets: Keyshard L1 ≥ ${L1_TARGET}× on the L1-hit path, Keyshard L2 ≥ ${L2_TARGET}× on the L2 path.${extra > 0 ? ` Note: ${extra} loader calls happened during the measured phase (expected 0).` : ' Loader calls during the measured phase: 0.'}`,
      ],
      header: ['path', 'library', 'ops/s', 'p50 ms', 'p99 ms', 'CPU µs/op', 'vs fastest peer', 'target'],
      rows: table,
    },
  }
}
