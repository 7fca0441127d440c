import { createCache } from '../src/cache.js'
import { MemoryBus, MemoryStore } from '../src/store/memory-store.js'
import { cacheContract } from './contract/cache-contract.js'

// Every "instance" shares one store, as separate processes share one server.
const bus = new MemoryBus()
const store = new MemoryStore({ bus })
cacheContract('memory', (overrides = {}) => createCache({ fromEnv: false, store, ...overrides }))
