import type { Redis } from 'iovalkey'
import { expect, it } from 'vitest'
import { keySlot } from '../../src/store/key-slot.js'
import { privateClusterStoreForFile } from './private-cluster-store.js'

// A failover promotes a replica with an address of its own while a cluster-wide scan is half way through the
// masters: its own cluster, since the shared one must keep its topology.
const own = privateClusterStoreForFile({ masters: 3, replicasPerMaster: 1 })
const o = { timeoutMs: 5000 }

const address = (node: Redis) => `${node.options.host}:${node.options.port}`
const ownerOf = (key: string) => own.client.slots[keySlot(key)]?.[0] as string

it('a scan resumed after a failover of the master it stood on returns every key', async () => {
  const { cluster, client, store } = own
  const keys = Array.from({ length: 600 }, (_, i) => `scan-failover:${i}`)
  await Promise.all(keys.map((k) => client.set(k, 'v')))
  const masters = client
    .nodes('master')
    .map(address)
    .sort((a, b) => a.localeCompare(b))
  const keysOf = (master: string) => keys.filter((k) => ownerOf(k) === master)
  const [first, second] = [keysOf(masters[0] as string), keysOf(masters[1] as string)]

  const seen = new Set<string>()
  let cursor = '0'
  // Page until the scan has finished the first master and is part way into the second.
  do {
    const page = await store.scan('scan-failover:*', cursor, 10, o)
    for (const k of page.keys) seen.add(k)
    cursor = page.cursor
  } while (!(first.every((k) => seen.has(k)) && second.filter((k) => seen.has(k)).length >= 20))
  expect(cursor).not.toBe('0')
  expect(second.every((k) => seen.has(k))).toBe(false)

  // Promote the second master's replica: the masters by address are now another list.
  let replica: Redis | undefined
  for (const node of client.nodes('slave')) {
    const role = (await node.call('ROLE')) as [string, string, number]
    if (`${role[1]}:${role[2]}` === masters[1]) replica = node
  }
  const promoted = cluster.nodes.find((n) => n.address === address(replica as Redis))
  await cluster.failover(promoted as (typeof cluster.nodes)[number])
  const slotOfSecond = keySlot(second[0] as string)
  for (let i = 0; i < 100 && client.slots[slotOfSecond]?.[0] !== promoted?.address; i++) {
    await (client as unknown as { refreshSlotsCache(): void }).refreshSlotsCache()
    await new Promise((r) => setTimeout(r, 100))
  }
  expect(client.slots[slotOfSecond]?.[0]).toBe(promoted?.address)

  while (cursor !== '0') {
    const page = await store.scan('scan-failover:*', cursor, 10, o)
    for (const k of page.keys) seen.add(k)
    cursor = page.cursor
  }
  expect(keys.filter((k) => !seen.has(k))).toEqual([])
}, 60_000)
