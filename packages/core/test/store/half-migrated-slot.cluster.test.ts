import type { ClusterNode } from '@keyshard/testkit'
import { Redis } from 'iovalkey'
import { expect, it } from 'vitest'
import { keySlot } from '../../src/store/key-slot.js'
import { privateClusterStoreForFile } from './private-cluster-store.js'

// One slot is left half migrated.
const own = privateClusterStoreForFile({ masters: 3, replicasPerMaster: 0 })
const o = { timeoutMs: 5000 }

const direct = (node: ClusterNode): Redis =>
  new Redis({ host: node.host, port: node.port, lazyConnect: true })

it('reads values with their TTLs from a slot whose keys are half moved to another master', async () => {
  const { cluster, client, store } = own
  const keys = Array.from({ length: 6 }, (_, i) => `{half}k${i}`)
  await Promise.all(keys.map((k) => client.set(k, `v-${k}`, 'PX', 60_000)))
  const slot = keySlot(keys[0] as string)
  const from = await cluster.masterForSlot(slot)
  const to = cluster.masters().find((m) => m.address !== from.address) as ClusterNode
  const src = direct(from)
  const dst = direct(to)
  try {
    await dst.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id)
    await src.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id)
    await src.call('MIGRATE', '127.0.0.1', to.port, '', 0, 5000, 'KEYS', ...keys.slice(0, 3))

    const read = await store.getManyWithTtl([...keys, '{half}absent'], o)
    expect(read.map((r) => r?.value.toString() ?? null)).toEqual([...keys.map((k) => `v-${k}`), null])
    for (const r of read.slice(0, 6)) {
      expect(r?.ttlMs).toBeGreaterThan(50_000)
      expect(r?.ttlMs).toBeLessThanOrEqual(60_000)
    }
  } finally {
    src.disconnect()
    dst.disconnect()
  }
})
