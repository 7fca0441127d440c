import { existsSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ClusterNode, startCluster, type TestCluster } from '../src/index.js'
import { clusterClient, eventually, isAlive, withQuickClient } from './helpers.js'

// The one extra cluster of the testkit suite; the kill/failover/migrate steps run in order on it.
describe('startCluster (own 3×1 cluster)', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 1 })
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  /** A hash-tagged key whose slot `node` serves as master. */
  async function keyOn(node: ClusterNode, name: string): Promise<{ key: string; slot: number }> {
    for (let i = 0; i < 1_000; i++) {
      const key = `{${name}-${i}}:k`
      const slot = Number(
        await withQuickClient({ port: node.port }, (c) => c.call('CLUSTER', 'KEYSLOT', key)),
      )
      if ((await cluster.masterForSlot(slot)) === node) return { key, slot }
    }
    throw new Error(`no key found for ${node.address}`)
  }

  async function replicaOf(master: ClusterNode): Promise<ClusterNode> {
    for (const r of cluster.replicas()) {
      const role = (await withQuickClient({ port: r.port }, (c) => c.call('ROLE'))) as unknown[]
      if (Number(role[2]) === master.port) return r
    }
    throw new Error(`no replica of ${master.address}`)
  }

  it('starts healthy with ids, roles and seeds', async () => {
    expect(cluster.nodes).toHaveLength(6)
    expect(cluster.masters()).toHaveLength(3)
    expect(cluster.replicas()).toHaveLength(3)
    expect(new Set(cluster.nodes.map((n) => n.id)).size).toBe(6)
    expect(cluster.seeds).toEqual(cluster.nodes.map((n) => n.address))
    for (const n of cluster.nodes) {
      const info = await withQuickClient({ port: n.port }, (c) => c.cluster('INFO'))
      expect(String(info)).toContain('cluster_state:ok')
      expect(await withQuickClient({ port: n.port }, (c) => c.call('CLUSTER', 'MYID'))).toBe(n.id)
      // Clients with replica reads learn replicas from CLUSTER SLOTS: each range lists its master and a replica.
      const ranges = (await withQuickClient({ port: n.port }, (c) =>
        c.call('CLUSTER', 'SLOTS'),
      )) as unknown[][]
      expect(ranges).toHaveLength(3)
      for (const range of ranges) expect(range.length).toBe(4)
    }
  })

  it('replaces a killed master with its replica and keeps the data', async () => {
    const master = cluster.masters()[0]!
    const replica = await replicaOf(master)
    const { key } = await keyOn(master, 'kill')
    await withQuickClient({ port: master.port }, async (c) => {
      await c.set(key, 'survives')
      // Replication is asynchronous; make sure the replica has the write before the master dies.
      expect(await c.call('WAIT', 1, 5_000)).toBe(1)
    })

    await cluster.kill(master)
    expect(isAlive(master.pid)).toBe(false)
    await cluster.waitForHealthy(30_000)
    expect(replica.role).toBe('master')
    expect(cluster.masters()).toHaveLength(3)

    const client = clusterClient(cluster.masters().map((m) => m.address))
    try {
      expect(await client.get(key)).toBe('survives')
    } finally {
      client.disconnect()
    }

    // The old master comes back on the same port and nodes.conf and rejoins as a replica.
    await cluster.restart(master)
    expect(isAlive(master.pid)).toBe(true)
    await eventually(async () => (await master.refreshRole()) === 'replica', 20_000)
    await cluster.waitForHealthy()
  })

  it('fails over to a chosen replica on request', async () => {
    const replica = cluster.replicas()[0]!
    await cluster.failover(replica)
    expect(replica.role).toBe('master')
    expect(await replica.refreshRole()).toBe('master')
    expect(cluster.masters()).toHaveLength(3)
  })

  it('migrates a slot with its keys', async () => {
    const [from, to] = cluster.masters()
    const { key, slot } = await keyOn(from!, 'move')
    await withQuickClient({ port: from!.port }, (c) => c.set(key, 'moved'))
    await cluster.migrateSlot(slot, from!, to!)
    expect(await cluster.masterForSlot(slot)).toBe(to)
    expect(await withQuickClient({ port: to!.port }, (c) => c.get(key))).toBe('moved')
    await expect(withQuickClient({ port: from!.port }, (c) => c.get(key))).rejects.toThrow(/MOVED/)
  })

  it('pauses a node and resumes it', async () => {
    const node = cluster.replicas()[0]!
    const began = Date.now()
    const paused = cluster.pause(node, 300)
    expect(await withQuickClient({ port: node.port, commandTimeout: 5_000 }, (c) => c.ping())).toBe('PONG')
    await paused
    expect(Date.now() - began).toBeGreaterThanOrEqual(250)
  })

  it('stop leaves no process and no directory behind', async () => {
    const nodes = cluster.nodes.map((n) => ({ pid: n.pid, dir: n.dir }))
    await cluster.stop()
    for (const n of nodes) {
      expect(isAlive(n.pid)).toBe(false)
      expect(existsSync(n.dir)).toBe(false)
    }
  })
})
