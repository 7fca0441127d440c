import { createClient, createCluster } from '@keyv/redis'
import calculateSlot from 'cluster-key-slot'
import { addresses, type BenchEnv, jsonValue, keyshard, rawIovalkey, TOPOLOGIES } from '../env.js'
import { compare, type LoadResult } from '../harness.js'
import { fmtCpu, fmtMs, fmtOps, fmtRatio, type Section, verdict } from '../report.js'

const KEYS = 10_000
const TTL_MS = 600_000
const TARGET = 0.9
const MANY = 100
const MANY_CONCURRENCY = 10
type Op = 'get' | 'set' | `getMany(${typeof MANY})`

/** Input indices grouped by hash slot: the fewest commands a plain MGET can read a cluster batch with. */
function bySlot(keys: readonly string[]): number[][] {
  const groups = new Map<number, number[]>()
  keys.forEach((key, i) => {
    const slot = calculateSlot(key)
    const group = groups.get(slot)
    if (group) group.push(i)
    else groups.set(slot, [i])
  })
  return [...groups.values()]
}

/** Reads `keys` with one MGET per slot group (one MGET in all on a standalone server), concurrently. */
async function mgetPerSlot(
  keys: readonly string[],
  cluster: boolean,
  mget: (keys: string[]) => Promise<Array<string | null>>,
): Promise<Array<string | null>> {
  if (!cluster) return mget([...keys])
  const out = new Array<string | null>(keys.length)
  await Promise.all(
    bySlot(keys).map(async (idx) => {
      const values = await mget(idx.map((i) => keys[i] as string))
      idx.forEach((i, j) => {
        out[i] = values[j] ?? null
      })
    }),
  )
  return out
}

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
  const value = jsonValue(1024)
  const rows: CoreVsRawRow[] = []
  for (const topology of TOPOLOGIES) {
    const cache = await keyshard(env, topology)
    const ns = cache.namespace<typeof value>('bench-core')
    const raw = await rawIovalkey(env, topology)
    const nr =
      topology === 'standalone'
        ? createClient({ url: `redis://${env.standalone}` })
        : createCluster({ rootNodes: env.cluster.map((a) => ({ url: `redis://${a}` })) })
    await nr.connect()
    try {
      // Both key spaces are filled first so every measured get is a hit.
      for (let i = 0; i < KEYS; i += 1000) {
        const batch = Array.from({ length: Math.min(1000, KEYS - i) }, (_, j) => i + j)
        await ns.setMany(batch.map((k) => ({ key: `k${k}`, value, ttl: TTL_MS })))
        await Promise.all(batch.map((k) => raw.set(`raw:k${k}`, JSON.stringify(value), 'PX', TTL_MS)))
      }
      const key = (i: number): string => `k${(i * 7919) % KEYS}`
      const manyKeys = (i: number): string[] => Array.from({ length: MANY }, (_, j) => key(i * MANY + j))
      const parseAll = (values: Array<string | null>, who: string): void => {
        for (const v of values) {
          if (v === null) throw new Error(`${who} getMany missed`)
          JSON.parse(v)
        }
      }
      const cluster = topology === 'cluster'
      for (const op of ['get', 'set', `getMany(${MANY})`] as const) {
        const results = await compare(
          op === `getMany(${MANY})`
            ? [
                {
                  name: 'keyshard',
                  op: async (i) => {
                    const values = await ns.getMany(manyKeys(i))
                    if (values.some((v) => v === undefined)) throw new Error('keyshard getMany missed')
                  },
                },
                {
                  name: 'raw',
                  op: async (i) =>
                    parseAll(
                      await mgetPerSlot(
                        manyKeys(i).map((k) => `raw:${k}`),
                        cluster,
                        (k) => raw.mget(k),
                      ),
                      'raw',
                    ),
                },
                {
                  name: 'node-redis',
                  op: async (i) =>
                    parseAll(
                      await mgetPerSlot(
                        manyKeys(i).map((k) => `raw:${k}`),
                        cluster,
                        (k) => nr.mGet(k) as Promise<Array<string | null>>,
                      ),
                      'node-redis',
                    ),
                },
              ]
            : op === 'get'
              ? [
                  {
                    name: 'keyshard',
                    op: async (i) => {
                      if ((await ns.get(key(i))) === undefined) throw new Error('keyshard get missed')
                    },
                  },
                  {
                    name: 'raw',
                    op: async (i) => {
                      const s = await raw.get(`raw:${key(i)}`)
                      if (s === null) throw new Error('raw get missed')
                      JSON.parse(s)
                    },
                  },
                  {
                    name: 'node-redis',
                    op: async (i) => {
                      const s = await nr.get(`raw:${key(i)}`)
                      if (s === null) throw new Error('node-redis get missed')
                      JSON.parse(s as string)
                    },
                  },
                ]
              : [
                  { name: 'keyshard', op: (i) => ns.set(key(i), value, { ttl: TTL_MS }) },
                  { name: 'raw', op: (i) => raw.set(`raw:${key(i)}`, JSON.stringify(value), 'PX', TTL_MS) },
                  {
                    name: 'node-redis',
                    op: (i) => nr.set(`raw:${key(i)}`, JSON.stringify(value), { PX: TTL_MS }),
                  },
                ],
          op === 'get' || op === 'set' ? env.load : { ...env.load, concurrency: MANY_CONCURRENCY },
        )
        const ks = results.get('keyshard') as LoadResult
        const rw = results.get('raw') as LoadResult
        const nodeRedis = results.get('node-redis') as LoadResult
        rows.push({
          topology,
          op,
          keyshard: ks,
          raw: rw,
          nodeRedis,
          ratio: rw.opsPerSec > 0 ? ks.opsPerSec / rw.opsPerSec : 0,
        })
      }
    } finally {
      await ns.clear().catch(() => undefined)
      await Promise.all(Array.from({ length: KEYS }, (_, k) => raw.unlink(`raw:k${k}`))).catch(
        () => undefined,
      )
      await cache.close()
      raw.disconnect()
      await nr.close().catch(() => undefined)
    }
  }
  return {
    rows,
    section: {
      title: 'Core vs raw iovalkey — get/set, 1 KiB JSON (issue 3)',
      notes: [
        `${env.load.concurrency} concurrent callers, ${env.load.warmupMs} ms warm-up, ${env.load.durationMs} ms measured, median of ${env.load.rounds} interleaved rounds.`,
        `Keyshard: \`namespace.get/set\` (rich-JSON encoder + envelope, ttl 10 min), default \`autoPipelining\` (Keyshard coalesces each tick's commands into one socket write per node). Raw: iovalkey \`GET\` + \`JSON.parse\` / \`SET … PX\` + \`JSON.stringify\`, auto-pipelining on. Context column: the same commands through node-redis 5 (the client under @keyv/redis), not part of the target. ${KEYS.toLocaleString('en-US')} keys, all hits. Target: Keyshard ≥ ${TARGET}× raw on get and set.`,
        `getMany(${MANY}) (${MANY_CONCURRENCY} callers, no target in issue 3; DESIGN asks for one round trip per node rather than per key): Keyshard \`namespace.getMany\` vs the fewest commands a plain client can do it with — one \`MGET\` on a standalone server, one \`MGET\` per hash slot on the cluster (random keys: ≈ one per key), sent concurrently, each value \`JSON.parse\`d. Keyshard sends one cross-slot script per master instead.`,
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
