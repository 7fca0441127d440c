import { type StartClusterOptions, startCluster, type TestCluster } from '@keyshard/testkit'
import { Cluster, type ClusterOptions } from 'iovalkey'
import { afterAll, beforeAll } from 'vitest'
import type { Subscriber } from '../../src/store/subscriber.js'
import { defineScripts, ValkeyStore, type ValkeyStoreOptions } from '../../src/store/valkey-store.js'

/** Options for a ValkeyStore built straight on a client in a test: primary reads, no coalescing, no subscriber. */
export const BARE_STORE_OPTIONS: ValkeyStoreOptions = {
  offlineQueueLimit: 1000,
  readFrom: 'primary',
  autoPipelining: false,
  makeSubscriber: () => ({}) as Subscriber,
  pingAddress: async () => 0,
}

export interface PrivateClusterStore {
  cluster: TestCluster
  /** The iovalkey client the store runs on, for arranging keys and watching its view of the nodes. */
  client: Cluster
  store: ValkeyStore
  stop(): Promise<void>
}

/**
 * A cluster of the test's own (for tests that kill nodes or leave slots half moved, which would disturb every
 * other test on the shared one) and a ValkeyStore built straight on an iovalkey client the test can observe.
 */
export async function privateClusterStore(
  options: StartClusterOptions,
  clientOptions: ClusterOptions = {},
): Promise<PrivateClusterStore> {
  const cluster = await startCluster(options)
  const client = new Cluster(
    cluster.seeds.map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) })),
    { enableAutoPipelining: false, ...clientOptions },
  )
  client.on('error', () => {})
  client.on('node error', () => {})
  // As connect.ts does: the single-key atomics are scripts.
  defineScripts(client)
  const store = new ValkeyStore(client, BARE_STORE_OPTIONS)
  await new Promise<void>((resolve) => client.once('ready', () => resolve()))
  return {
    cluster,
    client,
    store,
    async stop() {
      client.disconnect()
      await cluster.stop()
    },
  }
}

/**
 * A privateClusterStore for one test file: started before its tests and stopped after them. The fields are set
 * once the file's beforeAll has run, so read them inside the tests.
 */
export function privateClusterStoreForFile(
  options: StartClusterOptions,
  clientOptions: ClusterOptions = {},
): PrivateClusterStore {
  const own = {} as PrivateClusterStore
  beforeAll(async () => {
    Object.assign(own, await privateClusterStore(options, clientOptions))
  }, 60_000)
  afterAll(() => own.stop?.())
  return own
}
