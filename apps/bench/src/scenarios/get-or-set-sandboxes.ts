import type { BentoCache } from 'bentocache'
import { type BenchEnv, hostPort, jsonValue, keyshard, rawIoredis } from '../env.js'
import type { Op } from '../harness.js'
import type { Sandbox, SandboxFactory } from '../sandbox.js'
import { keySequence } from './key-sequence.js'

export const KEYS = 1_000
const TTL_MS = 600_000

/** The read-through surface this scenario uses; typed locally so the bench states exactly what it relies on. */
interface ReadThrough<T> {
  getOrSet(key: string, loader: () => Promise<T>, options: { ttl: number }): Promise<T>
  clear(): Promise<number>
}

const value = jsonValue(1024)
const { key } = keySequence('g', KEYS)

/**
 * One library's getOrSet, filled through itself (so it holds its own format) before the measured phase, which is
 * then hits only. The fill uses key(k) for k < KEYS, which is every key once (see keySequence);
 * `loaderCalls` counts the loads after it (expected 0).
 */
async function readThrough(
  make: (loader: () => Promise<typeof value>) => Op,
  close: () => Promise<void>,
): Promise<Sandbox> {
  let loads = 0
  const op = make(async () => {
    loads++
    return value
  })
  for (let k = 0; k < KEYS; k++) await op(k)
  const afterFill = loads
  return { ops: { getOrSet: op }, counters: () => ({ loaderCalls: loads - afterFill }), close }
}

async function keyshardSandbox(env: BenchEnv, l1: boolean): Promise<Sandbox> {
  const cache = await keyshard(
    env,
    'standalone',
    l1 ? { l1: { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024, ttl: TTL_MS } } : {},
  )
  const ns = cache.namespace('bench-gos') as unknown as ReadThrough<typeof value>
  return readThrough(
    (loader) => (i) => ns.getOrSet(key(i), loader, { ttl: TTL_MS }),
    async () => {
      await ns.clear().catch(() => undefined)
      await cache.close()
    },
  )
}

/** BentoCache and its drivers, loaded by the BentoCache sandboxes only (see `SandboxFactory`). */
async function loadBentoCache() {
  const [{ BentoCache, bentostore }, { memoryDriver }, { redisBusDriver, redisDriver }] = await Promise.all([
    import('bentocache'),
    import('bentocache/drivers/memory'),
    import('bentocache/drivers/redis'),
  ])
  return { BentoCache, bentostore, memoryDriver, redisBusDriver, redisDriver }
}

/** cache-manager over Keyv and `@keyv/redis`, loaded by the cache-manager sandboxes only. */
async function loadCacheManager() {
  const [{ createCache }, { Keyv }, { default: KeyvRedis }] = await Promise.all([
    import('cache-manager'),
    import('keyv'),
    import('@keyv/redis'),
  ])
  return { createCache, Keyv, KeyvRedis }
}

/** BentoCache's getOrSet; closing also drops the ioredis connection its redis driver was given. */
function bentoSandbox(bento: BentoCache<any>, conn: { disconnect(): void }): Promise<Sandbox> {
  return readThrough(
    (loader) => (i) => bento.getOrSet({ key: key(i), factory: loader, ttl: TTL_MS }),
    async () => {
      await bento.clear().catch(() => undefined)
      await bento.disconnect().catch(() => undefined)
      conn.disconnect()
    },
  )
}

export type Path = 'L1' | 'L2'

/** Which path each contender is measured on, in the table's order. */
export const PATHS: Record<string, Path> = {
  'Keyshard (L2 only)': 'L2',
  'BentoCache (redis L2 only)': 'L2',
  'cache-manager wrap (@keyv/redis)': 'L2',
  'Keyshard (L1 + L2)': 'L1',
  'BentoCache (memory L1 + redis L2 + bus)': 'L1',
  'cache-manager wrap (Keyv Map + @keyv/redis)': 'L1',
}

export const sandboxes: Record<string, SandboxFactory> = {
  'Keyshard (L2 only)': (env) => keyshardSandbox(env, false),
  'BentoCache (redis L2 only)': async (env) => {
    const { BentoCache, bentostore, redisDriver } = await loadBentoCache()
    const conn = await rawIoredis(env, 'standalone')
    const bento = new BentoCache({
      default: 'c',
      prefix: 'bento-l2',
      stores: { c: bentostore().useL2Layer(redisDriver({ connection: conn })) },
    })
    return bentoSandbox(bento, conn)
  },
  'cache-manager wrap (@keyv/redis)': async (env) => {
    const { createCache, Keyv, KeyvRedis } = await loadCacheManager()
    const cm = createCache({
      stores: [new Keyv({ store: new KeyvRedis(`redis://${env.standalone}`), namespace: 'bench-cm' })],
    })
    return readThrough(
      (loader) => (i) => cm.wrap(key(i), loader, TTL_MS),
      async () => {
        await cm.clear().catch(() => undefined)
        await cm.disconnect().catch(() => undefined)
      },
    )
  },
  'Keyshard (L1 + L2)': (env) => keyshardSandbox(env, true),
  'BentoCache (memory L1 + redis L2 + bus)': async (env) => {
    const { BentoCache, bentostore, memoryDriver, redisBusDriver, redisDriver } = await loadBentoCache()
    const conn = await rawIoredis(env, 'standalone')
    const { host, port } = hostPort(env.standalone)
    const bento = new BentoCache({
      default: 'c',
      prefix: 'bento-tiered',
      stores: {
        c: bentostore()
          .useL1Layer(memoryDriver({ maxItems: 10_000, maxSize: 64 * 1024 * 1024 }))
          .useL2Layer(redisDriver({ connection: conn }))
          .useBus(redisBusDriver({ connection: { host, port } })),
      },
    })
    return bentoSandbox(bento, conn)
  },
  'cache-manager wrap (Keyv Map + @keyv/redis)': async (env) => {
    // cache-manager's own tiering: an in-process Keyv (Map) in front of the same Redis store. No cross-instance coherence.
    const { createCache, Keyv, KeyvRedis } = await loadCacheManager()
    const cm = createCache({
      stores: [
        new Keyv({ namespace: 'bench-cmt' }),
        new Keyv({ store: new KeyvRedis(`redis://${env.standalone}`), namespace: 'bench-cmt' }),
      ],
    })
    return readThrough(
      (loader) => (i) => cm.wrap(key(i), loader, TTL_MS),
      async () => {
        await cm.clear().catch(() => undefined)
        await cm.disconnect().catch(() => undefined)
      },
    )
  },
}
