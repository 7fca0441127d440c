import calculateSlot from 'cluster-key-slot'
import { type BenchEnv, jsonValue, keyshard, rawIovalkey, type Topology } from '../env.js'
import type { Op } from '../harness.js'
import type { Sandbox, SandboxFactory } from '../sandbox.js'
import { keySequence } from './key-sequence.js'

export const KEYS = 10_000
export const MANY = 100
const TTL_MS = 600_000

const value = jsonValue(1024)
const { key, list: manyKeys } = keySequence('k', KEYS, MANY)
const batches = (): number[][] =>
  Array.from({ length: KEYS / 1000 }, (_, b) => Array.from({ length: 1000 }, (_, j) => b * 1000 + j))

/** Input indices grouped by hash slot: the fewest commands a plain MGET can read a cluster batch with. */
function bySlot(keys: readonly string[]): number[][] {
  const groups = new Map<number, number[]>()
  keys.forEach((k, i) => {
    const slot = calculateSlot(k)
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

/** A plain client's ops: GET + JSON.parse, SET PX + JSON.stringify, MGET per slot, each value parsed. */
function plainOps(
  who: string,
  cluster: boolean,
  client: {
    get(k: string): Promise<string | null>
    set(k: string, v: string): Promise<unknown>
    mget(ks: string[]): Promise<Array<string | null>>
  },
): Record<string, Op> {
  return {
    get: async (i) => {
      const s = await client.get(`raw:${key(i)}`)
      if (s === null) throw new Error(`${who} get missed`)
      JSON.parse(s)
    },
    set: (i) => client.set(`raw:${key(i)}`, JSON.stringify(value)),
    [`getMany(${MANY})`]: async (i) => {
      const values = await mgetPerSlot(
        manyKeys(i).map((k) => `raw:${k}`),
        cluster,
        (ks) => client.mget(ks),
      )
      for (const v of values) {
        if (v === null) throw new Error(`${who} getMany missed`)
        JSON.parse(v)
      }
    },
  }
}

/** Keyshard and the two plain clients, each filling its own keys first so every measured get is a hit. */
export const sandboxes: Record<string, SandboxFactory> = {
  keyshard: async (env: BenchEnv, topology: Topology): Promise<Sandbox> => {
    const cache = await keyshard(env, topology)
    const ns = cache.namespace<typeof value>('bench-core')
    for (const batch of batches()) await ns.setMany(batch.map((k) => ({ key: `k${k}`, value, ttl: TTL_MS })))
    return {
      ops: {
        get: async (i) => {
          if ((await ns.get(key(i))) === undefined) throw new Error('keyshard get missed')
        },
        set: (i) => ns.set(key(i), value, { ttl: TTL_MS }),
        [`getMany(${MANY})`]: async (i) => {
          const values = await ns.getMany(manyKeys(i))
          if (values.some((v) => v === undefined)) throw new Error('keyshard getMany missed')
        },
      },
      close: async () => {
        await ns.clear().catch(() => undefined)
        await cache.close()
      },
    }
  },
  raw: async (env, topology) => {
    const raw = await rawIovalkey(env, topology)
    for (const batch of batches())
      await Promise.all(batch.map((k) => raw.set(`raw:k${k}`, JSON.stringify(value), 'PX', TTL_MS)))
    return {
      ops: plainOps('raw', topology === 'cluster', {
        get: (k) => raw.get(k),
        set: (k, v) => raw.set(k, v, 'PX', TTL_MS),
        mget: (ks) => raw.mget(ks),
      }),
      close: async () => {
        await Promise.all(Array.from({ length: KEYS }, (_, k) => raw.unlink(`raw:k${k}`))).catch(
          () => undefined,
        )
        raw.disconnect()
      },
    }
  },
  'node-redis': async (env, topology) => {
    const { createClient, createCluster } = await import('@keyv/redis')
    const nr =
      topology === 'standalone'
        ? createClient({ url: `redis://${env.standalone}` })
        : createCluster({ rootNodes: env.cluster.map((a) => ({ url: `redis://${a}` })) })
    await nr.connect()
    for (const batch of batches())
      await Promise.all(batch.map((k) => nr.set(`raw:k${k}`, JSON.stringify(value), { PX: TTL_MS })))
    return {
      ops: plainOps('node-redis', topology === 'cluster', {
        get: (k) => nr.get(k) as Promise<string | null>,
        set: (k, v) => nr.set(k, v, { PX: TTL_MS }),
        mget: (ks) => nr.mGet(ks) as Promise<Array<string | null>>,
      }),
      close: () => nr.close().catch(() => undefined),
    }
  },
}
