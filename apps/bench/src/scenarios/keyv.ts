import KeyvRedis, { createCluster } from '@keyv/redis'
import KeyvValkey from '@keyv/valkey'
import { createKeyv } from '@keyshard/keyv'
import { Cluster } from 'iovalkey'
import { Keyv } from 'keyv'
import { type BenchEnv, hostPort, jsonValue, keyshard, TOPOLOGIES, type Topology } from '../env.js'
import { compare, describeError, type LoadResult } from '../harness.js'
import { fmtCpu, fmtMs, fmtOps, fmtRatio, type Section, verdict } from '../report.js'

const KEYS = 10_000
const TTL_MS = 600_000
const MANY = 100
const MANY_CONCURRENCY = 10

type Op = 'get' | 'set' | `getMany(${typeof MANY})`

export interface KeyvRow {
  topology: Topology
  op: Op
  name: string
  result: LoadResult
}

interface Contender {
  name: string
  keyv?: Keyv
  error?: string
  close(): Promise<void>
}

async function contenders(env: BenchEnv, topology: Topology): Promise<Contender[]> {
  const out: Contender[] = []
  const add = async (
    name: string,
    make: () => Promise<{ keyv: Keyv; close(): Promise<void> }>,
  ): Promise<void> => {
    try {
      const made = await make()
      out.push({ name, keyv: made.keyv, close: made.close })
    } catch (error) {
      out.push({ name, error: describeError(error), close: async () => undefined })
    }
  }
  await add('@keyshard/keyv', async () => {
    const cache = await keyshard(env, topology)
    const keyv = (await createKeyv(cache, { keyv: { namespace: 'bench-keyv' } })) as unknown as Keyv
    return {
      keyv,
      close: async () => {
        await keyv.disconnect()
        await cache.close()
      },
    }
  })
  await add('@keyv/redis', async () => {
    const store =
      topology === 'standalone'
        ? new KeyvRedis(`redis://${env.standalone}`)
        : new KeyvRedis(
            createCluster({ rootNodes: env.cluster.map((a) => ({ url: `redis://${a}` })) }) as never,
          )
    const keyv = new Keyv({ store, namespace: 'bench-keyv' })
    return { keyv, close: () => keyv.disconnect() }
  })
  await add('@keyv/valkey', async () => {
    // useRedisSets: false — the default (true) adds a SADD to an ever-growing namespace set in a MULTI on every write.
    const store =
      topology === 'standalone'
        ? new KeyvValkey(`redis://${env.standalone}`, { useRedisSets: false })
        : new KeyvValkey(new Cluster(env.cluster.map(hostPort)) as never, { useRedisSets: false })
    const keyv = new Keyv({ store, namespace: 'bench-keyv' })
    return { keyv, close: () => keyv.disconnect() }
  })
  return out
}

/** Issue 5: Keyv get/set/getMany through @keyshard/keyv vs @keyv/redis and @keyv/valkey, same server. */
export async function keyvBench(env: BenchEnv): Promise<{ section: Section; rows: KeyvRow[] }> {
  const value = jsonValue(1024)
  const rows: KeyvRow[] = []
  for (const topology of TOPOLOGIES) {
    const list = await contenders(env, topology)
    try {
      const live = list.filter((c): c is Contender & { keyv: Keyv } => c.keyv !== undefined)
      for (const c of list.filter((x) => x.error !== undefined)) {
        for (const op of ['get', 'set', `getMany(${MANY})`] as const) {
          rows.push({
            topology,
            op,
            name: c.name,
            result: {
              ops: 0,
              opsPerSec: 0,
              p50Ms: Number.NaN,
              p99Ms: Number.NaN,
              cpuUsPerOp: Number.NaN,
              error: c.error as string,
            },
          })
        }
      }
      // Fill through each store (its own prefixing and serialisation), tolerating failures: a store that cannot
      // write here is reported as failing in the measured ops below.
      const fillErrors = new Map<string, string>()
      for (const c of live) {
        // Keyv reports store failures as 'error' events (and a resolved false/undefined), so listen for them.
        c.keyv.on('error', (error: unknown) => {
          if (!fillErrors.has(c.name)) fillErrors.set(c.name, describeError(error))
        })
        // One awaited call first: @keyv/redis connects its cluster client lazily, and a burst of concurrent
        // first calls races that connect (they fail with "Cannot read properties of undefined (reading 'master')").
        await c.keyv.get('warm-up').catch(() => undefined)
        for (let i = 0; i < KEYS; i += 500) {
          const settled = await Promise.allSettled(
            Array.from({ length: 500 }, (_, j) => c.keyv.set(`k${i + j}`, value, TTL_MS)),
          )
          const failed = settled.find((r) => r.status === 'rejected')
          if (failed !== undefined && !fillErrors.has(c.name))
            fillErrors.set(c.name, describeError(failed.reason))
        }
      }
      const fillNote = (name: string): string =>
        fillErrors.has(name) ? ` (fill failed: ${fillErrors.get(name)})` : ''
      const key = (i: number): string => `k${(i * 7919) % KEYS}`
      const manyKeys = (i: number): string[] => Array.from({ length: MANY }, (_, j) => key(i * MANY + j))
      for (const op of ['get', 'set', `getMany(${MANY})`] as const) {
        const results = await compare(
          live.map((c) => ({
            name: c.name,
            op:
              op === 'get'
                ? async (i: number) => {
                    if ((await c.keyv.get(key(i))) === undefined)
                      throw new Error(`get missed a filled key${fillNote(c.name)}`)
                  }
                : op === 'set'
                  ? (i: number) => c.keyv.set(key(i), value, TTL_MS)
                  : async (i: number) => {
                      const got = await c.keyv.getMany(manyKeys(i))
                      if (got.length !== MANY || got.some((v) => v === undefined))
                        throw new Error(`getMany missed filled keys${fillNote(c.name)}`)
                    },
          })),
          op.startsWith('getMany') ? { ...env.load, concurrency: MANY_CONCURRENCY } : env.load,
        )
        for (const c of live)
          rows.push({ topology, op, name: c.name, result: results.get(c.name) as LoadResult })
      }
    } finally {
      for (const c of list) {
        await c.keyv?.clear().catch(() => undefined)
        await c.close().catch(() => undefined)
      }
    }
  }
  const targets: Record<string, number> = { get: 1.2, set: 1.2 }
  const table: string[][] = []
  for (const topology of TOPOLOGIES) {
    for (const op of ['get', 'set', `getMany(${MANY})`] as const) {
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
        `Keyv 5 on top of each store, namespace \`bench-keyv\`, 1 KiB JSON values, ttl 10 min, ${KEYS.toLocaleString('en-US')} keys pre-filled. get/set: ${env.load.concurrency} concurrent callers; getMany(${MANY} keys): ${MANY_CONCURRENCY} concurrent callers. ${env.load.warmupMs} ms warm-up, ${env.load.durationMs} ms measured, median of ${env.load.rounds} interleaved rounds.`,
        'Config: @keyshard/keyv over a Keyshard cache (default `autoPipelining`: one coalesced write per node per tick); @keyv/redis 5 (node-redis; cluster via its `createCluster`); @keyv/valkey 1 (iovalkey, `useRedisSets: false`; cluster via an iovalkey `Cluster`). "fails" = the operation rejected on that topology (message shown).',
        'Ratio is against the fastest working peer. Targets: ≥ 1.2× on get/set; ≥ 3× on getMany over the cluster.',
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
        'target',
      ],
      rows: table,
    },
  }
}
