import { type Cache, type CacheOptions, createCache } from '@keyshard/core'
import { getTestServers } from '@keyshard/testkit'
import type Keyv from 'keyv'

export type Topology = 'memory' | 'single' | 'cluster'

/** Options for a cache on one of the servers the testkit shares with every test file of this run. */
export function cacheOptions(topology: Topology, extra: CacheOptions = {}): CacheOptions {
  if (topology === 'memory') return { fromEnv: false, mode: 'memory', ...extra }
  const servers = getTestServers()
  if (topology === 'single')
    return { fromEnv: false, mode: 'single', addresses: [servers.standalone.address], ...extra }
  return { fromEnv: false, mode: 'cluster', addresses: servers.cluster.seeds, ...extra }
}

export function connect(topology: Topology, extra: CacheOptions = {}): Promise<Cache> {
  return createCache(cacheOptions(topology, extra))
}

/** Every raw key matching a glob, across every master, read below the namespace layer. */
export async function rawKeys(cache: Cache, match: string): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const page = await cache.store.scan(match, cursor, 500, { timeoutMs: 10_000 })
    keys.push(...page.keys)
    cursor = page.cursor
  } while (cursor !== '0')
  return keys.sort()
}

/** Every [key, value] a Keyv 5 iterator yields, sorted by key. */
export async function iterate(keyv: Keyv): Promise<Array<[string, unknown]>> {
  const seen: Array<[string, unknown]> = []
  if (keyv.iterator === undefined) throw new Error('Keyv did not wire the iterator')
  for await (const [key, value] of keyv.iterator(undefined)) seen.push([key as string, value])
  return seen.sort(([a], [b]) => a.localeCompare(b))
}

/**
 * Runs `body` while collecting the `KEYSHARD_KEYV_SHARED_STORE` process warnings; `warnings()` answers those
 * emitted so far (Node emits a warning on a later tick).
 */
export async function withSharedStoreWarnings(
  body: (warnings: () => Promise<Error[]>) => Promise<void>,
): Promise<void> {
  const seen: Error[] = []
  const onWarning = (w: Error) => {
    if ((w as { code?: string }).code === 'KEYSHARD_KEYV_SHARED_STORE') seen.push(w)
  }
  process.on('warning', onWarning)
  try {
    await body(async () => {
      await new Promise((resolve) => setImmediate(resolve))
      return [...seen]
    })
  } finally {
    process.off('warning', onWarning)
  }
}
