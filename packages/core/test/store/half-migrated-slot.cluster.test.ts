import { type ClusterNode, startCluster, type TestCluster } from '@keyshard/testkit'
import { Cluster, Redis } from 'iovalkey'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { keySlot } from '../../src/store/key-slot.js'
import type { Subscriber } from '../../src/store/subscriber.js'
import { ValkeyStore } from '../../src/store/valkey-store.js'

// Its own cluster: one slot is left half migrated, which would disturb every other test on the shared one.
let cluster: TestCluster
let client: Cluster
let store: ValkeyStore
const o = { timeoutMs: 5000 }

beforeAll(async () => {
  cluster = await startCluster({ masters: 3, replicasPerMaster: 0 })
  client = new Cluster(
    cluster.seeds.map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) })),
    { enableAutoPipelining: false },
  )
  client.on('error', () => {})
  store = new ValkeyStore(client, {
    offlineQueueLimit: 1000,
    readFrom: 'primary',
    autoPipelining: false,
    makeSubscriber: () => ({}) as Subscriber,
    pingAddress: async () => 0,
  })
  await new Promise<void>((resolve) => client.once('ready', () => resolve()))
}, 60_000)
afterAll(async () => {
  client?.disconnect()
  await cluster?.stop()
})

const direct = (node: ClusterNode): Redis =>
  new Redis({ host: node.host, port: node.port, lazyConnect: true })

it('reads values with their TTLs from a slot whose keys are half moved to another master', async () => {
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
