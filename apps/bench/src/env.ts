import type { Cache, CacheOptions } from '@keyshard/core'
import type { Cluster as IoRedisCluster, Redis as IoRedis } from 'ioredis'
import type { Cluster, Redis } from 'iovalkey'
import type { LoadOptions } from './harness.js'

// Clients are imported inside the helpers, never here: every contender process loads this module, and it must
// load only the library it measures (see `SandboxFactory`).

export type Topology = 'standalone' | 'cluster'
export const TOPOLOGIES: readonly Topology[] = ['standalone', 'cluster']

export interface BenchEnv {
  standalone: string
  cluster: string[]
  quick: boolean
  /** Rounds each contender process is measured in. */
  load: LoadOptions & { rounds: number }
  /** Processes each isolated contender runs in (see `ContenderGroup`). */
  processes: number
}

export function addresses(env: BenchEnv, topology: Topology): string[] {
  return topology === 'standalone' ? [env.standalone] : env.cluster
}

export function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':')
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) }
}

/** A Keyshard cache on the bench servers; extra options (e.g. `l1`) are passed through as-is. */
export async function keyshard(
  env: BenchEnv,
  topology: Topology,
  extra: Record<string, unknown> = {},
): Promise<Cache> {
  const { createCache } = await import('@keyshard/core')
  const options: CacheOptions = {
    fromEnv: false,
    mode: topology === 'standalone' ? 'single' : 'cluster',
    addresses: addresses(env, topology),
    autoPipelining: true,
    ...extra,
  }
  return createCache(options)
}

/** The raw-client baseline: iovalkey with its own auto-pipelining, as issue 3 defines the target. */
export async function rawIovalkey(env: BenchEnv, topology: Topology): Promise<Redis | Cluster> {
  const { Cluster, Redis } = await import('iovalkey')
  const client =
    topology === 'standalone'
      ? new Redis({ ...hostPort(env.standalone), enableAutoPipelining: true, lazyConnect: true })
      : new Cluster(env.cluster.map(hostPort), { enableAutoPipelining: true, lazyConnect: true })
  await client.connect()
  return client
}

/** ioredis for BentoCache's redis driver and bus (its only supported client), auto-pipelining on for parity. */
export async function rawIoredis(env: BenchEnv, topology: Topology): Promise<IoRedis | IoRedisCluster> {
  const { Cluster: IoRedisCluster, Redis: IoRedis } = await import('ioredis')
  const client =
    topology === 'standalone'
      ? new IoRedis({ ...hostPort(env.standalone), enableAutoPipelining: true, lazyConnect: true })
      : new IoRedisCluster(env.cluster.map(hostPort), { enableAutoPipelining: true, lazyConnect: true })
  await client.connect()
  return client
}

/** A JSON-friendly object whose JSON.stringify is exactly `bytes` long. */
export function jsonValue(
  bytes: number,
  seed = 0,
): { id: number; name: string; tags: string[]; body: string } {
  const base = { id: seed, name: `item-${seed}`, tags: ['bench', 'json'], body: '' }
  const pad = bytes - JSON.stringify(base).length
  return { ...base, body: 'x'.repeat(Math.max(0, pad)) }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
export const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
