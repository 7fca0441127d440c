import { getTestServers } from '@keyshard/testkit'
import { afterAll } from 'vitest'
import type { Cache } from '../../src/cache.js'
import type { CacheOptions } from '../../src/types.js'

const servers = getTestServers()

/** The shared standalone server and cluster, for `describe.each`. */
export const valkeyTopologies: Array<[string, CacheOptions]> = [
  ['single', { mode: 'single', addresses: [servers.standalone.address] }],
  ['cluster', { mode: 'cluster', addresses: servers.cluster.seeds }],
]

/** A list the test file pushes the caches it opens to; they are closed after its last test. */
export function closedAfterAll(): Cache[] {
  const open: Cache[] = []
  afterAll(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()))
  })
  return open
}
