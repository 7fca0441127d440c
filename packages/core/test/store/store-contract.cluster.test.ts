import { getTestServers, startCluster } from '@keyshard/testkit'
import { connectValkeyStore, type ValkeyConnectOptions } from '../../src/store/connect.js'
import { storeContract } from './store-contract.js'

const { cluster } = getTestServers()
const seeds = (addresses: readonly string[]) =>
  addresses.map((a) => ({
    host: a.slice(0, a.lastIndexOf(':')),
    port: Number(a.slice(a.lastIndexOf(':') + 1)),
  }))

const base: Omit<ValkeyConnectOptions, 'seeds'> = {
  mode: 'cluster',
  clientName: 'keyshard-store-contract',
  readFrom: 'primary',
  autoPipelining: true,
  maxRetries: 2,
  dialTimeoutMs: 5000,
  offlineQueueLimit: 1000,
}

storeContract('cluster', () => connectValkeyStore({ ...base, seeds: seeds(cluster.seeds) }), {
  makeIsolatedStore: async () => {
    const own = await startCluster({ masters: 3, replicasPerMaster: 0 })
    const store = await connectValkeyStore({ ...base, seeds: seeds(own.seeds) })
    return { store, dispose: () => own.stop() }
  },
})
