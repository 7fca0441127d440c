import { getTestServers, startServer, type TestServer } from '@keyshard/testkit'
import { Cluster, Redis } from 'iovalkey'
import { afterAll, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache.js'
import { MemoryBus, MemoryStore } from '../../src/store/memory-store.js'
import type { CacheOptions } from '../../src/types.js'

const servers = getTestServers()
const open: Cache[] = []
afterAll(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()))
})
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function eventually(check: () => Promise<boolean>, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not coherent within ${ms} ms`)
    await sleep(5)
  }
}

const bus = new MemoryBus()
const sharedMemory = new MemoryStore({ bus })
const topologies: Array<[string, () => CacheOptions]> = [
  ['memory', () => ({ store: sharedMemory })],
  ['single', () => ({ mode: 'single', addresses: [servers.standalone.address] })],
  ['cluster', () => ({ mode: 'cluster', addresses: servers.cluster.seeds })],
]

describe.each(topologies)('L1 coherence (%s)', (name, connection) => {
  const prefix = `l1-${name}-${process.pid}-${Date.now()}:`
  async function pair(): Promise<[Cache, Cache]> {
    const [a, b] = await Promise.all(
      [0, 1].map(() => createCache({ fromEnv: false, prefix, l1: { ttl: '1m' }, ...connection() })),
    )
    open.push(a as Cache, b as Cache)
    return [a as Cache, b as Cache]
  }
  /** Counts B's L1 hits so the test proves the value came from L1 before the mutation. */
  function l1Hits(cache: Cache): () => number {
    let n = 0
    cache.on('hit', (e) => {
      if (e.tier === 'l1') n++
    })
    return () => n
  }

  it('set, delete, invalidateTag and clear on one instance reach the other L1', async () => {
    const [a, b] = await pair()
    const na = a.namespace<string>('users')
    const nb = b.namespace<string>('users')
    const hits = l1Hits(b)

    await na.set('k', 'v1', { tags: ['t'] })
    expect(await nb.get('k')).toBe('v1')
    // A fill is skipped while an invalidation (here A's own set message) lands mid-read, so poll for the L1 hit.
    await eventually(async () => {
      const h = hits()
      expect(await nb.get('k')).toBe('v1')
      return hits() > h
    })

    await na.set('k', 'v2', { tags: ['t'] })
    await eventually(async () => (await nb.get('k')) === 'v2')

    await nb.get('k')
    await na.delete('k')
    await eventually(async () => (await nb.get('k')) === undefined)

    await na.set('k', 'v3', { tags: ['t'] })
    await eventually(async () => (await nb.get('k')) === 'v3')
    await nb.get('k')
    await na.invalidateTag('t')
    await eventually(async () => (await nb.get('k')) === undefined)

    await na.set('k', 'v4')
    await eventually(async () => (await nb.get('k')) === 'v4')
    await nb.get('k')
    await na.clear()
    await eventually(async () => (await nb.get('k')) === undefined)

    // getOrSet fills and reads L1 too.
    const before = hits()
    expect(await nb.getOrSet('g', () => 'loaded')).toBe('loaded')
    expect(await nb.getOrSet('g', () => 'not-called')).toBe('loaded')
    expect(hits()).toBe(before + 1)
    // And a write elsewhere replaces what getOrSet put in B's L1.
    await na.set('g', 'rewritten')
    await eventually(async () => (await nb.getOrSet('g', () => 'not-called')) === 'rewritten')
    expect(b.stats().l1Hits).toBeGreaterThanOrEqual(hits())
  })

  it('a writer without L1 keeps other L1s coherent with publishInvalidations, and only with it', async () => {
    const [reader] = await pair()
    const open2 = (publish: boolean | undefined) =>
      createCache({
        fromEnv: false,
        prefix,
        ...(publish === undefined ? {} : { publishInvalidations: publish }),
        ...connection(),
      })
    const [silent, announcing] = await Promise.all([open2(undefined), open2(true)])
    open.push(silent, announcing)
    const nr = reader.namespace<string>('writers')
    const hits = l1Hits(reader)
    await nr.set('k', 'v1', { tags: ['t'] })
    await eventually(async () => {
      const h = hits()
      await nr.get('k')
      return hits() > h
    })
    // Default without L1: nothing is published, so the reader's L1 keeps serving v1 (until its own ttl).
    await silent.namespace<string>('writers').set('k', 'v2', { tags: ['t'] })
    await sleep(100)
    expect(await nr.get('k')).toBe('v1')

    const writer = announcing.namespace<string>('writers')
    await writer.set('k', 'v3', { tags: ['t'] })
    await eventually(async () => (await nr.get('k')) === 'v3')
    await nr.get('k')
    await writer.invalidateTag('t')
    await eventually(async () => (await nr.get('k')) === undefined)
    await writer.set('k', 'v4')
    await eventually(async () => (await nr.get('k')) === 'v4')
    await writer.delete('k')
    await eventually(async () => (await nr.get('k')) === undefined)
  })

  it('flushes and bypasses the L1 while the coherence link is down', async () => {
    const [a, b] = await pair()
    const na = a.namespace<string>('link')
    const nb = b.namespace<string>('link')
    const hits = l1Hits(b)
    await na.set('k', 'v1')
    await eventually(async () => {
      const h = hits()
      await nb.get('k')
      return hits() > h
    })

    if (name === 'memory') {
      bus.simulateLinkDrop()
      // Down now (synchronously): the next read must not come from L1.
      const before = hits()
      expect(await nb.get('k')).toBe('v1')
      expect(hits()).toBe(before)
      return
    }
    // Kill every pub/sub connection of this test's server(s) from a separate admin client.
    const address = name === 'single' ? servers.standalone.address : (servers.cluster.seeds[0] as string)
    const [host, port] = address.split(':') as [string, string]
    const admin =
      name === 'single'
        ? new Redis({ host, port: Number(port), lazyConnect: true })
        : new Cluster([{ host, port: Number(port) }], { lazyConnect: true })
    try {
      await admin.connect()
      const nodes = admin instanceof Cluster ? admin.nodes('all') : [admin]
      await Promise.all(nodes.map((n) => n.call('CLIENT', 'KILL', 'TYPE', 'pubsub')))
      const before = hits()
      // While the subscriber reconnects the L1 is bypassed; a write meanwhile is never hidden by L1.
      await eventually(async () => {
        const h = hits()
        await nb.get('k')
        return hits() === h
      })
      expect(hits()).toBeLessThanOrEqual(before + 1)
      // Once re-subscribed, the L1 is used again and stays coherent.
      await eventually(async () => {
        const h = hits()
        await nb.get('k')
        await nb.get('k')
        return hits() > h
      }, 5000)
      await na.set('k', 'v2')
      await eventually(async () => (await nb.get('k')) === 'v2')
    } finally {
      admin.disconnect()
    }
  })
})

describe('L1 with replica reads (cluster)', () => {
  it('keeps a copy read from a replica no longer than the TTL that replica reports with it', async () => {
    const prefix = `l1-replica-${process.pid}-${Date.now()}:`
    const connection = { fromEnv: false, mode: 'cluster', addresses: servers.cluster.seeds, prefix } as const
    const [writer, reader] = await Promise.all([
      createCache(connection),
      createCache({ ...connection, readFrom: 'replica', l1: { ttl: '1m' } }),
    ])
    open.push(writer, reader)
    // Long enough that waiting for replication below never outlasts it on a loaded machine.
    const ttl = 5000
    const keys = Array.from({ length: 12 }, (_, i) => `item:${i}`)
    await writer.namespace<string>('r').setMany(keys.map((key) => ({ key, value: key, ttl })))
    await writer.namespace<string>('r').set('one', 'one', { ttl })
    const nr = reader.namespace<string>('r')
    let l1Hits = 0
    reader.on('hit', (e) => {
      if (e.tier === 'l1') l1Hits++
    })
    // Replication is asynchronous: read until the replicas have every key, then the copies are in L1.
    await eventually(async () => (await nr.getMany(keys)).every((v) => v !== undefined))
    await eventually(async () => (await nr.get('one')) === 'one')
    const before = l1Hits
    expect(await nr.getMany([...keys, 'one'])).toEqual([...keys, 'one'])
    expect(l1Hits - before).toBe(keys.length + 1)

    await sleep(ttl + 300)
    expect(await nr.getMany([...keys, 'one'])).toEqual([...keys, 'one'].map(() => undefined))
    expect(await nr.get('one')).toBeUndefined()
  })
})

// The memory store's side is in l1-cache.memory.test.ts.
describe('flushAll and the L1 (single)', () => {
  // A server of its own: FLUSHDB would wipe the keys of every other test using the shared one.
  let server: TestServer | undefined
  afterAll(async () => {
    await server?.stop()
  })

  it('leaves no value readable from the L1 of the instance that flushed nor of the others', async () => {
    server = await startServer()
    const connection: CacheOptions = { mode: 'single', addresses: [server.address] }
    const make = () =>
      createCache({ fromEnv: false, l1: { ttl: '1m' }, allowUnsafeFlush: true, ...connection })
    const [a, b] = await Promise.all([make(), make()])
    open.push(a, b)
    const spaces = ['users', 'orders']
    let bL1Hits = 0
    b.on('hit', (e) => {
      if (e.tier === 'l1') bL1Hits++
    })
    for (const space of spaces) {
      await a.namespace<string>(space).set('k', space)
      await a.namespace<string>(space).get('k')
      // B's fill is skipped while A's set message lands mid-read, so poll until B serves it from L1.
      await eventually(async () => {
        const before = bL1Hits
        await b.namespace<string>(space).get('k')
        return bL1Hits > before
      })
    }

    await a.flushAll()
    for (const space of spaces) {
      expect(await a.namespace<string>(space).get('k')).toBeUndefined()
      await eventually(async () => (await b.namespace<string>(space).get('k')) === undefined)
    }
  })
})

describe('publishInvalidations option', () => {
  it('is an ERR_CONFIG when not a boolean or when false with l1, and leaves no connection open', async () => {
    const clientName = `leak-check-${process.pid}`
    const connect = (extra: CacheOptions) =>
      createCache({
        fromEnv: false,
        mode: 'single',
        addresses: [servers.standalone.address],
        clientName,
        ...extra,
      })
    await expect(connect({ publishInvalidations: 'yes' as never })).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      details: { option: 'publishInvalidations' },
    })
    await expect(connect({ l1: {}, publishInvalidations: false })).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      details: { option: 'publishInvalidations' },
    })
    const [host, port] = servers.standalone.address.split(':') as [string, string]
    const admin = new Redis({ host, port: Number(port) })
    try {
      const named = async () =>
        String(await admin.call('CLIENT', 'LIST'))
          .split('\n')
          .filter((line) => line.includes(` name=${clientName} `)).length
      await eventually(async () => (await named()) === 0)
    } finally {
      admin.disconnect()
    }
  })
})
