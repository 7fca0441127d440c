import { MemoryBus, MemoryStore } from '../../src/store/memory-store.js'
import { storeContract } from './store-contract.js'

// Stores made here share one bus, like several processes on one server, so the pub/sub case spans two stores.
const bus = new MemoryBus()
storeContract('memory', async () => new MemoryStore({ bus }))
