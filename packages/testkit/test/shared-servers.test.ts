import { randomUUID } from 'node:crypto'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { getTestServers } from '../src/index.js'
import { clusterClient, withQuickClient } from './helpers.js'

describe('servers from the global setup', () => {
  const servers = getTestServers()
  const cluster = clusterClient(servers.cluster.seeds)
  afterAll(() => cluster.disconnect())

  it('publishes the same servers through inject() and the environment', () => {
    expect(inject('keyshardServers')).toEqual(servers)
    expect(servers.standalone.host).toBe('127.0.0.1')
    expect(servers.standalone.port).not.toBe(6379)
    expect(servers.cluster.seeds).toHaveLength(6)
    expect(['valkey', 'redis']).toContain(servers.flavor)
  })

  it('serves the standalone node', async () => {
    const key = `testkit:${randomUUID()}`
    const value = await withQuickClient({ port: servers.standalone.port }, async (c) => {
      await c.set(key, 'v', 'EX', 60)
      return c.get(key)
    })
    expect(value).toBe('v')
  })

  it('serves keys on every shard of the cluster', async () => {
    const prefix = `testkit:${randomUUID()}`
    const masters = cluster.nodes('master')
    const written: string[] = []
    // Keep writing until every master holds at least one key of ours; 64 keys are ample for 3 shards.
    for (let i = 0; i < 64; i++) {
      const key = `${prefix}:${i}`
      await cluster.set(key, String(i), 'EX', 60)
      written.push(key)
    }
    expect(cluster.nodes('master')).toHaveLength(3)
    const perMaster = await Promise.all(masters.map((m) => m.keys(`${prefix}:*`)))
    for (const keys of perMaster) expect(keys.length).toBeGreaterThan(0)
    expect(perMaster.flat().sort()).toEqual([...written].sort())
    const values = await Promise.all(written.map((k) => cluster.get(k)))
    expect(values).toEqual(written.map((_, i) => String(i)))
  })

  it('has a replica for every master', async () => {
    await cluster.ping()
    expect(cluster.nodes('slave')).toHaveLength(3)
    const info = await cluster.cluster('INFO')
    expect(String(info)).toContain('cluster_state:ok')
  })
})
