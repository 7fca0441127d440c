import { getTestServers } from '@keyshard/testkit'
import { createCache } from '../src/cache.js'
import { cacheContract } from './contract/cache-contract.js'

const { standalone } = getTestServers()
cacheContract('single', (overrides = {}) =>
  createCache({ fromEnv: false, mode: 'single', addresses: [standalone.address], ...overrides }),
)
