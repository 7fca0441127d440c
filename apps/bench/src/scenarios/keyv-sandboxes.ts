import type { Keyv } from 'keyv'
import { type BenchEnv, hostPort, jsonValue, keyshard, type Topology } from '../env.js'
import { describeError } from '../harness.js'
import type { Sandbox, SandboxFactory } from '../sandbox.js'
import { keySequence } from './key-sequence.js'

export const KEYS = 10_000
export const MANY = 100
const TTL_MS = 600_000

/** The three ops of the scenario over one Keyv, after filling it through its own store. */
async function keyvSandbox(keyv: Keyv, close: () => Promise<void>): Promise<Sandbox> {
  const value = jsonValue(1024)
  // Keyv reports store failures as 'error' events (and a resolved false/undefined), so listen for them.
  let fillError: string | undefined
  keyv.on('error', (error: unknown) => {
    fillError ??= describeError(error)
  })
  // One awaited call first: @keyv/redis connects its cluster client lazily, and a burst of concurrent first
  // calls races that connect (they fail with "Cannot read properties of undefined (reading 'master')").
  await keyv.get('warm-up').catch(() => undefined)
  // Tolerates failures: a store that cannot write here is reported as failing in the measured ops.
  for (let i = 0; i < KEYS; i += 500) {
    const settled = await Promise.allSettled(
      Array.from({ length: 500 }, (_, j) => keyv.set(`k${i + j}`, value, TTL_MS)),
    )
    const failed = settled.find((r) => r.status === 'rejected')
    if (failed !== undefined) fillError ??= describeError(failed.reason)
  }
  const fillNote = (): string => (fillError === undefined ? '' : ` (fill failed: ${fillError})`)
  const { key, list: manyKeys } = keySequence('k', KEYS, MANY)
  return {
    ops: {
      get: async (i) => {
        if ((await keyv.get(key(i))) === undefined) throw new Error(`get missed a filled key${fillNote()}`)
      },
      set: (i) => keyv.set(key(i), value, TTL_MS),
      [`getMany(${MANY})`]: async (i) => {
        const got = await keyv.getMany(manyKeys(i))
        if (got.length !== MANY || got.some((v) => v === undefined))
          throw new Error(`getMany missed filled keys${fillNote()}`)
      },
    },
    close: async () => {
      await keyv.clear().catch(() => undefined)
      await close()
    },
  }
}

/** Each Keyv store of the scenario, namespace `bench-keyv`, as its users would set it up. */
export const sandboxes: Record<string, SandboxFactory> = {
  '@keyshard/keyv': async (env: BenchEnv, topology: Topology) => {
    const { createKeyv } = await import('@keyshard/keyv')
    const cache = await keyshard(env, topology)
    const keyv = (await createKeyv(cache, { keyv: { namespace: 'bench-keyv' } })) as unknown as Keyv
    return keyvSandbox(keyv, async () => {
      await keyv.disconnect()
      await cache.close()
    })
  },
  '@keyv/redis': async (env, topology) => {
    const [{ default: KeyvRedis, createCluster }, { Keyv }] = await Promise.all([
      import('@keyv/redis'),
      import('keyv'),
    ])
    const store =
      topology === 'standalone'
        ? new KeyvRedis(`redis://${env.standalone}`)
        : new KeyvRedis(
            createCluster({ rootNodes: env.cluster.map((a) => ({ url: `redis://${a}` })) }) as never,
          )
    const keyv = new Keyv({ store, namespace: 'bench-keyv' })
    return keyvSandbox(keyv, () => keyv.disconnect())
  },
  '@keyv/valkey': async (env, topology) => {
    const [{ default: KeyvValkey }, { Cluster }, { Keyv }] = await Promise.all([
      import('@keyv/valkey'),
      import('iovalkey'),
      import('keyv'),
    ])
    // useRedisSets: false — the default (true) adds a SADD to an ever-growing namespace set in a MULTI on every write.
    const store =
      topology === 'standalone'
        ? new KeyvValkey(`redis://${env.standalone}`, { useRedisSets: false })
        : new KeyvValkey(new Cluster(env.cluster.map(hostPort)) as never, { useRedisSets: false })
    const keyv = new Keyv({ store, namespace: 'bench-keyv' })
    return keyvSandbox(keyv, () => keyv.disconnect())
  },
}
