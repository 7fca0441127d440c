import type { Cluster } from 'iovalkey'
import { describe, expect, it } from 'vitest'
import { ValkeyStore } from '../../src/store/valkey-store.js'
import { BARE_STORE_OPTIONS } from '../store/private-cluster-store.js'

/**
 * A cluster client whose slot map names no node (as before its first refresh, or for a slot no master covers):
 * the store cannot place any slot itself, so every read goes through the client's own MGET, recorded here.
 */
function unplacedCluster(): { client: Cluster; mgets: string[][] } {
  const mgets: string[][] = []
  const client = {
    isCluster: true,
    status: 'ready',
    slots: [],
    nodes: () => [],
    on: () => client,
    mgetBuffer: async (keys: string[]) => {
      mgets.push([...keys])
      return keys.map((key) => Buffer.from(`v:${key}`))
    },
  }
  return { client: client as unknown as Cluster, mgets }
}

describe('a cluster getMany of slots the store cannot place', () => {
  it('reads each slot once through the cluster client, with every key of it', async () => {
    const { client, mgets } = unplacedCluster()
    const store = new ValkeyStore(client, BARE_STORE_OPTIONS)
    const keys = ['{a}:1', 'b', '{a}:2', '{a}:3', 'c']
    const values = await store.getMany(keys, { timeoutMs: 1000 })
    expect(values.map((v) => v?.toString() ?? null)).toStrictEqual(keys.map((k) => `v:${k}`))
    expect(mgets).toHaveLength(3)
    expect(mgets).toContainEqual(['{a}:1', '{a}:2', '{a}:3'])
  })
})
