import type { ClusterNode } from '@keyshard/testkit'
import { Redis } from 'iovalkey'
import { expect, it } from 'vitest'
import { keySlot } from '../../src/store/key-slot.js'
import { privateClusterStoreForFile } from './private-cluster-store.js'

// Two slots of one master are resharded to another under batch reads, each with one key moved and one not yet.
const own = privateClusterStoreForFile({ masters: 3, replicasPerMaster: 0 })
const o = { timeoutMs: 5000 }

const direct = (node: ClusterNode): Redis =>
  new Redis({ host: node.host, port: node.port, lazyConnect: true })

/** `count` keys named after `name(i)` whose slots (all different from `not`) `from` serves. */
async function keysOn(from: ClusterNode, count: number, not: number[], name: (i: number) => string) {
  const found: string[] = []
  for (let i = 0; found.length < count; i++) {
    const key = name(i)
    const slot = keySlot(key)
    if (!not.includes(slot) && (await own.cluster.masterForSlot(slot)).address === from.address) {
      found.push(key)
      not.push(slot)
    }
  }
  return found
}

const values = (read: Array<Buffer | null>) => read.map((v) => v?.toString() ?? null)
const withTtlValues = (read: Array<{ value: Buffer; ttlMs: number | null } | null>) =>
  read.map((r) => (r === null ? null : `${r.value.toString()} ttl:${(r.ttlMs ?? 0) > 50_000}`))
const stored = (key: string) => `v-${key}`

it('getMany and getManyWithTtl return every live key while slots are half moved to another master', async () => {
  const { cluster, client, store } = own
  const s = '{ask}'
  const slotS = keySlot(s)
  const from = await cluster.masterForSlot(slotS)
  const to = cluster.masters().find((m) => m.address !== from.address) as ClusterNode
  const [t = ''] = await keysOn(from, 1, [slotS], (i) => `{ask-${i}}`)
  const slotT = keySlot(t)
  // Keys of slots that are not moving, on the same master.
  const others = await keysOn(from, 2, [slotS, slotT], (i) => `ask-other:${i}`)
  const sMoved = `${s}moved`
  const sStays = `${s}stays`
  const tMoved = `${t}moved`
  const tStays = `${t}stays`
  const all = [sMoved, sStays, tMoved, tStays, ...others]
  await Promise.all(all.map((k) => client.set(k, stored(k), 'PX', 60_000)))

  const src = direct(from)
  const dst = direct(to)
  const masters = cluster.masters().map(direct)
  const expectAllRead = async (keys: string[]) => {
    expect(values(await store.getMany(keys, o))).toEqual(keys.map(stored))
    expect(withTtlValues(await store.getManyWithTtl(keys, o))).toEqual(
      keys.map((k) => `${stored(k)} ttl:true`),
    )
  }
  try {
    for (const slot of [slotS, slotT]) {
      await dst.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id)
      await src.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id)
    }
    const migrate = (key: string) => src.call('MIGRATE', '127.0.0.1', to.port, key, 0, 5000)
    await migrate(sMoved)
    await migrate(tMoved)

    // A moved key first: it routes the source's cross-slot read, and the source answers ASK for the whole call.
    // Only keys of the two moving slots, so the target, asked, runs the read without a "non local key" error.
    await expectAllRead([sMoved, sStays, tStays, tMoved])
    // With keys of slots that are not moving, and a key that stayed first.
    await expectAllRead([sMoved, sStays, tStays, ...others])
    await expectAllRead([sStays, sMoved, ...others, tMoved, tStays])
    // One slot only: a single MGET, which the source refuses with TRYAGAIN.
    expect(values(await store.getMany([sMoved, sStays, `${s}absent`], o))).toEqual([
      stored(sMoved),
      stored(sStays),
      null,
    ])

    // Finish the moves: the slots' other keys, then the slots themselves, announced to every master.
    await migrate(sStays)
    await migrate(tStays)
    for (const slot of [slotS, slotT]) {
      await dst.call('CLUSTER', 'SETSLOT', slot, 'NODE', to.id)
      await src.call('CLUSTER', 'SETSLOT', slot, 'NODE', to.id)
      await Promise.all(masters.map((m) => m.call('CLUSTER', 'SETSLOT', slot, 'NODE', to.id)))
    }

    // The client's slot map may still name the source: the reads follow MOVED.
    await expectAllRead(all)
    await expectAllRead([sStays, ...others, sMoved, tMoved, tStays])
    // With the map refreshed, plain reads of keys now on two masters.
    await new Promise<void>((resolve) => client.refreshSlotsCache(() => resolve()))
    expect(client.slots[slotS]?.[0]).toBe(to.address)
    await expectAllRead(all)
  } finally {
    src.disconnect()
    dst.disconnect()
    for (const m of masters) m.disconnect()
  }
})
