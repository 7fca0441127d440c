import type { Cache } from '@keyshard/core'
import keyvTestSuite, { keyvIteratorTests, keyvNamespaceTest } from '@keyv/test-suite'
import Keyv from 'keyv'
import * as vitest from 'vitest'
import { KeyshardStore } from '../src/index.js'
import { connect, type Topology } from './helpers.js'

/** Runs @keyv/test-suite in full (api, values, namespaces, iterator) over one shared cache of a topology. */
export function keyvCompliance(topology: Topology): void {
  let cache: Cache | undefined
  vitest.beforeAll(async () => {
    // A prefix of its own keeps this file's keys apart from the other keyv test files on the same servers.
    cache = await connect(topology, { prefix: 'suite:' })
  })
  vitest.afterAll(async () => {
    await cache?.close()
  })
  const store = () => new KeyshardStore(cache as Cache)
  keyvTestSuite(vitest, Keyv, store)
  keyvIteratorTests(vitest, Keyv, store)
  keyvNamespaceTest(vitest, Keyv, store)
}
