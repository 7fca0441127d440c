import { getTestServers, startServer } from '@keyshard/testkit'
import { connectValkeyStore, type ValkeyConnectOptions } from '../../src/store/connect.js'
import { storeContract } from './store-contract.js'

const { standalone } = getTestServers()

const base: Omit<ValkeyConnectOptions, 'seeds'> = {
  mode: 'single',
  clientName: 'keyshard-store-contract',
  readFrom: 'primary',
  autoPipelining: true,
  maxRetries: 2,
  dialTimeoutMs: 5000,
  offlineQueueLimit: 1000,
}

storeContract(
  'single',
  () => connectValkeyStore({ ...base, seeds: [{ host: standalone.host, port: standalone.port }] }),
  {
    makeIsolatedStore: async () => {
      const server = await startServer()
      const store = await connectValkeyStore({ ...base, seeds: [{ host: server.host, port: server.port }] })
      return { store, dispose: () => server.stop() }
    },
  },
)
