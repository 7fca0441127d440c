import { freePort, getTestServers, startCluster, startServer, type TestServer } from '@keyshard/testkit'
import { Redis } from 'iovalkey'
import { afterAll, describe, expect, it } from 'vitest'
import { isKeyshardError, type KeyshardError } from '../src/errors.js'
import { connectValkeyStore, type ValkeyConnectOptions } from '../src/store/connect.js'
import type { Store } from '../src/store/store.js'

const o = { timeoutMs: 5000 }
const base: Omit<ValkeyConnectOptions, 'seeds'> = {
  mode: 'single',
  clientName: 'keyshard-connection-test',
  readFrom: 'primary',
  autoPipelining: true,
  maxRetries: 2,
  dialTimeoutMs: 3000,
  offlineQueueLimit: 1000,
}
const local = (port: number) => ({ host: '127.0.0.1', port })

const servers: TestServer[] = []
const stores: Store[] = []
async function server(opts: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer(opts)
  servers.push(s)
  return s
}
async function open(options: ValkeyConnectOptions): Promise<Store> {
  const s = await connectValkeyStore(options)
  stores.push(s)
  return s
}
async function connectError(options: ValkeyConnectOptions): Promise<KeyshardError> {
  const error = await connectValkeyStore(options).then(
    async (s) => {
      await s.close()
      return new Error('connected, but should not have')
    },
    (e: unknown) => e,
  )
  expect(isKeyshardError(error, 'ERR_CONNECT')).toBe(true)
  return error as KeyshardError
}

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()))
  await Promise.all(servers.map((s) => s.stop()))
})

describe('connecting', () => {
  it('fails with ERR_CONNECT naming every address when nothing listens, within the dial timeout', async () => {
    const ports = [await freePort(), await freePort(), await freePort()]
    const began = Date.now()
    const error = await connectError({
      ...base,
      mode: 'cluster',
      seeds: ports.map(local),
      dialTimeoutMs: 1500,
    })
    expect(Date.now() - began).toBeLessThan(2500)
    for (const port of ports) expect(error.message).toContain(`127.0.0.1:${port}`)
    expect(error.message).toMatch(/refused|timeout/i)

    const single = await connectError({ ...base, seeds: [local(ports[0] as number)], dialTimeoutMs: 1500 })
    expect(single.message).toContain(`127.0.0.1:${ports[0]}`)
    expect(single.message).toMatch(/refused/i)
  })

  it('gives up on a server that accepts but never answers, within the dial timeout', async () => {
    const s = await server()
    s.freeze()
    try {
      const began = Date.now()
      const error = await connectError({ ...base, seeds: [local(s.port)], dialTimeoutMs: 500 })
      expect(Date.now() - began).toBeLessThan(1500)
      expect(error.message).toContain(s.address)
      expect(error.message).toContain(`${s.address}: timeout (no answer within dialTimeoutMs 500)`)
    } finally {
      s.thaw()
    }
  })

  it('rejects a wrong password with ERR_CONNECT that mentions authentication', async () => {
    const s = await server({ password: 's3cret' })
    const error = await connectError({ ...base, seeds: [local(s.port)], password: 'wrong' })
    expect(error.message).toContain(s.address)
    expect(error.message).toMatch(/auth/i)
    const missing = await connectError({ ...base, seeds: [local(s.port)] })
    expect(missing.message).toMatch(/auth/i)
    const store = await open({ ...base, seeds: [local(s.port)], password: 's3cret' })
    await store.set('k', Buffer.from('v'), null, o)
    expect((await store.get('k', o))?.toString()).toBe('v')
  })

  it('authenticates an ACL user and sets the client name', async () => {
    const s = await server({ aclUsers: [{ username: 'app', password: 'app-pw' }] })
    const store = await open({ ...base, seeds: [local(s.port)], username: 'app', password: 'app-pw' })
    await store.set('acl', Buffer.from('ok'), 10_000, o)
    expect((await store.get('acl', o))?.toString()).toBe('ok')
    const admin = new Redis(s.clientOptions())
    try {
      const list = String(await admin.call('CLIENT', 'LIST'))
      expect(list).toMatch(/name=keyshard-connection-test .*user=app/)
    } finally {
      admin.disconnect()
    }
    const error = await connectError({ ...base, seeds: [local(s.port)], username: 'app', password: 'nope' })
    expect(error.message).toMatch(/auth/i)
  })

  it('speaks TLS with the custom CA and fails with a TLS reason without it', async () => {
    const s = await server({ tls: true })
    const ca = s.tls?.ca as string
    expect(ca).toContain('BEGIN CERTIFICATE')
    const store = await open({ ...base, seeds: [local(s.port)], tls: { ca } })
    await store.set('tls', Buffer.from('yes'), 10_000, o)
    expect((await store.get('tls', o))?.toString()).toBe('yes')
    const error = await connectError({ ...base, seeds: [local(s.port)], tls: {}, dialTimeoutMs: 1500 })
    expect(error.message).toContain(s.address)
    expect(error.message).toMatch(/TLS|certificate/i)
  })
})

describe('commands', () => {
  it('times out with ERR_TIMEOUT on a paused server and recovers after it resumes', async () => {
    const s = await server()
    const store = await open({ ...base, seeds: [local(s.port)] })
    await store.set('p', Buffer.from('1'), null, o)
    const paused = s.pause(1000)
    await new Promise((r) => setTimeout(r, 50))
    const began = Date.now()
    const error = await store.get('p', { timeoutMs: 200 }).catch((e: unknown) => e)
    expect(isKeyshardError(error, 'ERR_TIMEOUT')).toBe(true)
    expect(Date.now() - began).toBeLessThan(700)
    await paused
    expect((await store.get('p', o))?.toString()).toBe('1')
  })

  it('bounds the offline queue, maps connection loss to ERR_CONNECT and reconnects', async () => {
    const s = await server()
    const store = await open({ ...base, seeds: [local(s.port)], offlineQueueLimit: 5, maxRetries: 1 })
    await store.set('q', Buffer.from('1'), null, o)
    await s.kill()
    await new Promise((r) => setTimeout(r, 100))
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, () => store.get('q', { timeoutMs: 3000 })),
    )
    const codes = results.map((r) =>
      r.status === 'rejected' ? (r.reason as KeyshardError).code : 'fulfilled',
    )
    expect(codes.filter((c) => c === 'ERR_OFFLINE_QUEUE_FULL')).toHaveLength(7)
    for (const c of codes.filter((c) => c !== 'ERR_OFFLINE_QUEUE_FULL'))
      expect(['ERR_CONNECT', 'ERR_TIMEOUT']).toContain(c)
    expect(codes.filter((c) => c === 'ERR_CONNECT').length).toBeGreaterThan(0)
    await s.restart()
    const until = Date.now() + 10_000
    let value: Buffer | null | undefined
    while (Date.now() < until) {
      value = await store.get('q', { timeoutMs: 500 }).catch(() => undefined)
      if (value !== undefined) break
      await new Promise((r) => setTimeout(r, 100))
    }
    // The restarted server has no data, but the store answers again.
    expect(value).toBeNull()
  })

  it('close() lets in-flight commands finish', async () => {
    const s = await server()
    const store = await connectValkeyStore({ ...base, seeds: [local(s.port)] })
    const writes = Array.from({ length: 500 }, (_, i) => store.set(`w:${i}`, Buffer.from(String(i)), null, o))
    await store.close()
    expect(await Promise.all(writes)).toEqual(writes.map(() => true))
    const check = await open({ ...base, seeds: [local(s.port)] })
    const got = await check.getMany(
      Array.from({ length: 500 }, (_, i) => `w:${i}`),
      o,
    )
    expect(got.every((v, i) => v?.toString() === String(i))).toBe(true)
  })

  it('reports subscriber link loss and resubscribes after the server returns', async () => {
    const s = await server()
    const a = await open({ ...base, seeds: [local(s.port)] })
    const b = await open({ ...base, seeds: [local(s.port)] })
    const got: string[] = []
    const links: boolean[] = []
    await b.subscribe(
      'link',
      (m) => got.push(m),
      (up) => links.push(up),
    )
    await s.kill()
    const until = Date.now() + 5000
    while (!links.includes(false) && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    expect(links).toEqual([false])
    await s.restart()
    while (!links.includes(true) && Date.now() < until + 10_000) await new Promise((r) => setTimeout(r, 50))
    expect(links).toEqual([false, true])
    const publishUntil = Date.now() + 5000
    while (got.length === 0 && Date.now() < publishUntil) {
      await a.publish('link', 'back').catch(() => {})
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(got[0]).toBe('back')
  })
})

describe('replica reads (shared cluster)', () => {
  it('serves reads from replicas, but tag epochs from masters', async () => {
    const { cluster } = getTestServers()
    const seeds = cluster.seeds.map((a) => local(Number(a.slice(a.lastIndexOf(':') + 1))))
    const keys = Array.from({ length: 100 }, (_, i) => `replica-read:${process.pid}:${i}`)
    const writer = await open({ ...base, mode: 'cluster', seeds })
    await writer.setMany(
      keys.map((key) => ({ key, value: Buffer.from(key), ttlMs: 60_000 })),
      o,
    )
    await writer.ensureEpochs(
      keys.map((k) => `${k}:epoch`),
      keys.map(() => 'e1'),
      60_000,
      o,
    )
    const store = await open({ ...base, mode: 'cluster', seeds, readFrom: 'replica' })
    const health = await store.health(o)
    const replicas = health.nodes.filter((n) => n.role === 'replica')
    expect(replicas.length).toBeGreaterThanOrEqual(3)
    const conns = replicas.map((n) => new Redis({ port: Number(n.address.split(':')[1]), host: '127.0.0.1' }))
    const stat = async (name: string) => {
      let total = 0
      for (const c of conns) {
        const info = await c.info('commandstats')
        total += Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
      }
      return total
    }
    try {
      const getsBefore = await stat('get')
      const evalBefore = (await stat('evalsha')) + (await stat('eval'))
      // Replication is asynchronous: poll until every replica has caught up.
      const until = Date.now() + 5000
      let values: Array<string | undefined> = []
      do {
        values = await Promise.all(keys.map(async (k) => (await store.get(k, o))?.toString()))
      } while (values.some((v, i) => v !== keys[i]) && Date.now() < until)
      expect(values).toEqual(keys)
      expect((await stat('get')) - getsBefore).toBeGreaterThanOrEqual(keys.length)
      expect(
        await store.readEpochs(
          keys.map((k) => `${k}:epoch`),
          o,
        ),
      ).toEqual(keys.map(() => 'e1'))
      expect((await stat('evalsha')) + (await stat('eval'))).toBe(evalBefore)
    } finally {
      for (const c of conns) c.disconnect()
    }
  })
})

describe('cluster publish', () => {
  it('publishes on the first master by address, the node subscribers listen on, so no bus hop delays L1 coherence', async () => {
    const { cluster } = getTestServers()
    const seeds = cluster.seeds.map((a) => local(Number(a.slice(a.lastIndexOf(':') + 1))))
    const store = await open({ ...base, mode: 'cluster', seeds })
    const probes = seeds.map((s) => new Redis(s))
    try {
      const roles = await Promise.all(probes.map(async (p) => ((await p.call('ROLE')) as string[])[0]))
      const masters = probes
        .filter((_, i) => roles[i] === 'master')
        .sort((a, b) =>
          `${a.options.host}:${a.options.port}`.localeCompare(`${b.options.host}:${b.options.port}`),
        )
      const published = async (p: Redis) =>
        Number(/cmdstat_publish:calls=(\d+)/.exec(await p.info('commandstats'))?.[1] ?? 0)
      const before = await Promise.all(masters.map(published))
      for (let i = 0; i < 20; i++) await store.publish(`publish-target-${process.pid}`, `m${i}`)
      const after = await Promise.all(masters.map(published))
      expect(masters).toHaveLength(3)
      // Other test files may publish on the shared cluster too, but every Keyshard store targets that master.
      expect((after[0] as number) - (before[0] as number)).toBeGreaterThanOrEqual(20)
      expect(after.slice(1)).toEqual(before.slice(1))
    } finally {
      for (const p of probes) p.disconnect()
    }
  })
})

describe('cluster subscriber', () => {
  it('moves to another node when its node dies, reporting the link going down and up', async () => {
    const own = await startCluster({ masters: 3, replicasPerMaster: 0 })
    try {
      const seeds = own.seeds.map((a) => local(Number(a.slice(a.lastIndexOf(':') + 1))))
      const sub = await open({ ...base, mode: 'cluster', seeds })
      const pub = await open({ ...base, mode: 'cluster', seeds })
      const got: string[] = []
      const links: boolean[] = []
      await sub.subscribe(
        'moving',
        (m) => got.push(m),
        (up) => links.push(up),
      )
      // The subscriber sits on the first master by address; find and kill it.
      const first = [...own.masters()].sort((a, b) => a.address.localeCompare(b.address))[0]
      if (!first) throw new Error('no masters')
      await own.kill(first)
      const until = Date.now() + 15_000
      while (!links.includes(true) && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
      expect(links).toEqual([false, true])
      while (got.length === 0 && Date.now() < until) {
        await pub.publish('moving', 'still here').catch(() => {})
        await new Promise((r) => setTimeout(r, 100))
      }
      expect(got[0]).toBe('still here')
      await sub.close()
      await pub.close()
    } finally {
      await own.stop()
    }
  })
})

describe('cluster health', () => {
  it('reports a hung node as unreachable without failing the whole report', async () => {
    const own = await startCluster({ masters: 3, replicasPerMaster: 0 })
    try {
      const seeds = own.seeds.map((a) => local(Number(a.slice(a.lastIndexOf(':') + 1))))
      const store = await open({ ...base, mode: 'cluster', seeds })
      expect((await store.health(o)).ok).toBe(true)
      const sorted = [...own.masters()].sort((a, b) => a.address.localeCompare(b.address))
      // The first by address is also the first one asked for CLUSTER NODES, so the fallback is exercised too.
      const victim = sorted[0]
      if (!victim) throw new Error('no masters')
      const paused = own.pause(victim, 1500)
      await new Promise((r) => setTimeout(r, 50))
      const h = await store.health({ timeoutMs: 600 })
      expect(h.ok).toBe(false)
      const byAddress = new Map(h.nodes.map((n) => [n.address, n]))
      expect(byAddress.get(victim.address)?.reachable).toBe(false)
      expect(byAddress.get(victim.address)?.error).toMatch(/timed out/)
      for (const m of sorted.slice(1)) expect(byAddress.get(m.address)?.reachable).toBe(true)
      await paused
    } finally {
      await own.stop()
    }
  })
})
