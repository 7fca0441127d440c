import { getTestServers } from '@keyshard/testkit'
import { createCache } from '../src/cache.js'
import { cacheContract } from './contract/cache-contract.js'

const { cluster } = getTestServers()
cacheContract('cluster', (overrides = {}) =>
  createCache({ fromEnv: false, mode: 'cluster', addresses: cluster.seeds, ...overrides }),
)
