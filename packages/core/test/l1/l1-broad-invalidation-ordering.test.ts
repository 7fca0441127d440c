import { startCluster, startServer, type TestCluster, type TestServer } from '@keyshard/testkit'
import { Redis } from 'iovalkey'
import { afterAll, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache.js'
import type { CacheEventMap } from '../../src/events.js'
import type { Namespace } from '../../src/namespace.js'
import type { CacheOptions } from '../../src/types.js'
import { closedAfterAll, valkeyTopologies } from '../read-through/valkey-topologies.js'

const TRIALS = 100

/** Counts a cache's L1 hits, so a trial can prove the old value was in B's L1 before the invalidation. */
function l1Hits(cache: Cache): () => number {
  let n = 0
  cache.on('hit', (e) => {
    if (e.tier === 'l1') n++
  })
  return () => n
}

/** Reads until the read is an L1 hit: a fill is skipped while a message (A's own set) lands mid-read. */
async function heldInL1(ns: Namespace<string>, key: string, hits: () => number): Promise<void> {
  const deadline = Date.now() + 2000
  for (;;) {
    const before = hits()
    expect(await ns.get(key)).toBe('old')
    if (hits() > before) return
    if (Date.now() > deadline) throw new Error(`${key} never reached B's L1`)
  }
}

describe.each(valkeyTopologies)('broad invalidations and the other L1s (%s)', (name, connection) => {
  const open = closedAfterAll()
  const prefix = `l1-order-${name}-${process.pid}-${Date.now()}:`
  const make = async (extra: CacheOptions) => {
    const cache = await createCache({ fromEnv: false, prefix, ...connection, ...extra })
    open.push(cache)
    return cache
  }

  /**
   * B holds a tagged entry in L1, A runs `mutate`, and B reads at once: no sleep, no poll. Returns how many of the
   * trials B answered from its old L1 copy.
   */
  async function staleReads(
    writer: Cache,
    mutate: (ns: Namespace<string>, i: number) => Promise<unknown>,
  ): Promise<number> {
    const reader = await make({ l1: { ttl: '1m' } })
    const hits = l1Hits(reader)
    const space = `s${Math.random().toString(36).slice(2, 8)}`
    const nw = writer.namespace<string>(space)
    const nr = reader.namespace<string>(space)
    let stale = 0
    for (let i = 0; i < TRIALS; i++) {
      await nw.set(`k${i}`, 'old', { tags: [`t${i}`] })
      await heldInL1(nr, `k${i}`, hits)
      await mutate(nw, i)
      if ((await nr.get(`k${i}`)) !== undefined) stale++
    }
    return stale
  }

  it.each([
    ['invalidateTag', (ns: Namespace<string>, i: number) => ns.invalidateTag(`t${i}`)],
    ['clear', (ns: Namespace<string>) => ns.clear()],
    ['deletePattern', (ns: Namespace<string>, i: number) => ns.deletePattern(`k${i}`)],
  ] as const)('%s on A leaves nothing old in the L1 of B once it resolves', async (_, mutate) => {
    const writer = await make({ l1: { ttl: '1m' } })
    expect(`${await staleReads(writer, mutate)} stale of ${TRIALS}`).toBe(`0 stale of ${TRIALS}`)
  })

  it('holds for a writer without an L1 that publishes (publishInvalidations: true)', async () => {
    const writer = await make({ publishInvalidations: true })
    const stale = await staleReads(writer, (ns, i) => ns.invalidateTag(`t${i}`))
    expect(`${stale} stale of ${TRIALS}`).toBe(`0 stale of ${TRIALS}`)
  })
})

/** Collects the `error` events of one operation, so a test can assert what was reported instead of thrown. */
function reported(cache: Cache, operation: string): Array<CacheEventMap['error']> {
  const errors: Array<CacheEventMap['error']> = []
  cache.on('error', (e) => {
    if (e.operation === operation) errors.push(e)
  })
  return errors
}

/** Settles like `promise`, or rejects once `ms` have passed: the test fails instead of hanging. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still pending after ${ms} ms`)), ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

describe('a broad invalidation whose announcement cannot be sent', () => {
  const open = closedAfterAll()
  let cluster: TestCluster | undefined
  let server: TestServer | undefined
  afterAll(async () => {
    await Promise.all([cluster?.stop(), server?.stop()])
  })

  it('resolves after the timeout and reports it when the node it publishes to is paused (cluster)', async () => {
    // A cluster of its own: pausing a master of the shared one would stall other test files.
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 })
    const own = cluster
    const prefix = `l1-paused-${process.pid}:`
    const make = (extra: CacheOptions) =>
      createCache({ fromEnv: false, prefix, mode: 'cluster', addresses: own.seeds, ...extra })
    const writer = await make({ l1: { ttl: '1m' }, timeouts: { operation: '300ms' } })
    const reader = await make({})
    open.push(writer, reader)
    const errors = reported(writer, 'l1-publish')

    // Invalidations are published on the first master by address; the tag's epoch must live elsewhere, so that
    // the invalidation itself succeeds while its PUBLISH cannot.
    const [first] = [...own.masters()].sort((a, b) => a.address.localeCompare(b.address))
    if (first === undefined) throw new Error('no masters')
    const admin = new Redis({ host: first.host, port: first.port })
    try {
      // The entry too: reading it with an L1 is a script, which a WRITE pause holds as well.
      const elsewhere = async (name: (i: number) => string): Promise<number> => {
        for (let i = 0; ; i++) {
          const slot = Number(await admin.call('CLUSTER', 'KEYSLOT', name(i)))
          if ((await own.masterForSlot(slot)).address !== first.address) return i
        }
      }
      const nw = writer.namespace<string>('p')
      const tag = `t${await elsewhere((i) => `${prefix}__t:p:t${i}`)}`
      const key = `k${await elsewhere((i) => nw.fullKey(`k${i}`))}`
      await nw.set(key, 'v', { tags: [tag] })
      expect(await nw.get(key)).toBe('v')

      // WRITE pause holds PUBLISH (and nothing this test reads) until unpaused.
      await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE')
      await within(nw.invalidateTag(tag), 5000, 'invalidateTag')
      expect(errors.map((e) => e.error.code)).toContain('ERR_TIMEOUT')
      expect(await nw.get(key)).toBeUndefined()
      expect(await reader.namespace<string>('p').get(key)).toBeUndefined()
    } finally {
      await admin.call('CLIENT', 'UNPAUSE').catch(() => {})
      admin.disconnect()
    }
  })

  it('keeps to one timeout for the whole call when the mutation is slow and the node it publishes to is paused (cluster)', async () => {
    // The first test's cluster when it ran; a WRITE pause ends on its own, and both are lifted below anyway.
    cluster ??= await startCluster({ masters: 3, replicasPerMaster: 0 })
    const own = cluster
    const prefix = `l1-deadline-${process.pid}:`
    const writer = await createCache({
      fromEnv: false,
      prefix,
      mode: 'cluster',
      addresses: own.seeds,
      l1: { ttl: '1m' },
      timeouts: { operation: '1000ms' },
    })
    open.push(writer)
    const errors = reported(writer, 'l1-publish')

    const masters = [...own.masters()].sort((a, b) => a.address.localeCompare(b.address))
    const [first] = masters
    if (first === undefined) throw new Error('no masters')
    const probe = new Redis({ host: first.host, port: first.port })
    // The tag's epoch on another master than the one invalidations are published on: pausing that one for
    // 800 ms makes the mutation slow, pausing the first one makes the PUBLISH hang.
    let tag = ''
    for (let i = 0; tag === ''; i++) {
      const slot = Number(await probe.call('CLUSTER', 'KEYSLOT', `${prefix}__t:d:t${i}`))
      if ((await own.masterForSlot(slot)).address !== first.address) tag = `t${i}`
    }
    const epochSlot = Number(await probe.call('CLUSTER', 'KEYSLOT', `${prefix}__t:d:${tag}`))
    const epochMaster = await own.masterForSlot(epochSlot)
    const admins = [probe, new Redis({ host: epochMaster.host, port: epochMaster.port })]
    try {
      const nw = writer.namespace<string>('d')
      await nw.set('k', 'v', { tags: [tag] })
      await admins[1]?.call('CLIENT', 'PAUSE', '800', 'WRITE')
      await probe.call('CLIENT', 'PAUSE', '3000', 'WRITE')
      const started = performance.now()
      await within(nw.invalidateTag(tag), 5000, 'invalidateTag')
      const took = performance.now() - started
      // The mutation took ~800 ms of the 1000 ms: the announcement gets the ~200 ms left, not 1000 ms more
      // (which made the call take ~1800 ms). The bound is the timeout plus a margin for a loaded machine.
      expect(took).toBeGreaterThan(700)
      expect(took).toBeLessThan(1600)
      expect(errors.map((e) => e.error.code)).toContain('ERR_TIMEOUT')
    } finally {
      for (const admin of admins) {
        await admin.call('CLIENT', 'UNPAUSE').catch(() => {})
        admin.disconnect()
      }
    }
  })

  it('resolves and reports it when the server refuses the PUBLISH (single, no L1, publishInvalidations)', async () => {
    server = await startServer({
      aclUsers: [{ username: 'nochannels', password: 'pw', rules: '~* resetchannels +@all' }],
    })
    const writer = await createCache({
      fromEnv: false,
      mode: 'single',
      addresses: [server.address],
      username: 'nochannels',
      password: 'pw',
      publishInvalidations: true,
    })
    open.push(writer)
    const errors = reported(writer, 'l1-publish')
    const ns = writer.namespace<string>('p')
    await ns.set('k', 'v', { tags: ['t'] })
    await within(ns.invalidateTag('t'), 5000, 'invalidateTag')
    await within(ns.clear(), 5000, 'clear')
    expect(errors.length).toBeGreaterThanOrEqual(2)
    expect(await ns.get('k')).toBeUndefined()
  })
})

describe('flushAll and the other L1s (single)', () => {
  const open = closedAfterAll()
  // A server of its own: FLUSHDB would wipe the keys of every other test using the shared one.
  let server: TestServer | undefined
  afterAll(async () => {
    await server?.stop()
  })

  it('leaves nothing old in the L1 of B once it resolves', async () => {
    server = await startServer()
    const connection: CacheOptions = { fromEnv: false, mode: 'single', addresses: [server.address] }
    const [a, b] = await Promise.all(
      [0, 1].map(() => createCache({ ...connection, l1: { ttl: '1m' }, allowUnsafeFlush: true })),
    )
    open.push(a as Cache, b as Cache)
    const hits = l1Hits(b as Cache)
    const na = (a as Cache).namespace<string>('f')
    const nb = (b as Cache).namespace<string>('f')
    let stale = 0
    for (let i = 0; i < TRIALS / 2; i++) {
      await na.set(`k${i}`, 'old')
      await heldInL1(nb, `k${i}`, hits)
      await (a as Cache).flushAll()
      if ((await nb.get(`k${i}`)) !== undefined) stale++
    }
    expect(`${stale} stale of ${TRIALS / 2}`).toBe(`0 stale of ${TRIALS / 2}`)
  })
})

describe('an ACL user allowed only the invalidation channel (single)', () => {
  const open = closedAfterAll()
  let server: TestServer | undefined
  afterAll(async () => {
    await server?.stop()
  })

  it('announces invalidateTag and clear without errors, and B misses at once', async () => {
    // The channel the README names for an ACL, and nothing else: the fence must not need a channel of its own.
    const prefix = `l1-acl-${process.pid}:`
    server = await startServer({
      aclUsers: [{ username: 'invonly', password: 'pw', rules: `~* resetchannels &${prefix}__inv +@all` }],
    })
    const connection: CacheOptions = {
      fromEnv: false,
      mode: 'single',
      addresses: [server.address],
      username: 'invonly',
      password: 'pw',
      prefix,
      l1: { ttl: '1m' },
    }
    const [a, b] = (await Promise.all([createCache(connection), createCache(connection)])) as [Cache, Cache]
    open.push(a, b)
    // Every error event, not only `l1-publish`: the subscriber must not be refused anything either.
    const errors: Array<CacheEventMap['error']> = []
    for (const cache of [a, b]) cache.on('error', (e) => errors.push(e))
    const hits = l1Hits(b)
    const na = a.namespace<string>('acl')
    const nb = b.namespace<string>('acl')
    const runs = [
      ['invalidateTag', (i: number) => na.invalidateTag(`t${i}`)],
      ['clear', () => na.clear()],
    ] as const
    const stale: Record<string, number> = {}
    for (const [name, mutate] of runs) {
      stale[name] = 0
      for (let i = 0; i < TRIALS / 2; i++) {
        await na.set(`k${i}`, 'old', { tags: [`t${i}`] })
        await heldInL1(nb, `k${i}`, hits)
        await mutate(i)
        if ((await nb.get(`k${i}`)) !== undefined) stale[name]++
      }
    }
    expect(errors.map((e) => `${e.operation}: ${e.error.code} ${e.error.message}`)).toEqual([])
    expect(stale).toEqual({ invalidateTag: 0, clear: 0 })
  })
})
