import calculateSlot from 'cluster-key-slot'
import { startCluster, type TestCluster } from '@keyshard/testkit'
import fc from 'fast-check'
import { Redis } from 'iovalkey'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectValkeyStore, type ValkeyConnectOptions } from '../../src/store/connect.js'
import { isKeyshardError } from '../../src/errors.js'
import { keySlot } from '../../src/store/key-slot.js'
import type { Store, StoreValueWithTtl } from '../../src/store/store.js'

// Its own cluster: the assertions count commands per node, and one test moves a slot.
let cluster: TestCluster
const stores: Store[] = []
const probes = new Map<string, Redis>()
const o = { timeoutMs: 5000 }

beforeAll(async () => {
  cluster = await startCluster({ masters: 3, replicasPerMaster: 1 })
})
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()))
  for (const p of probes.values()) p.disconnect()
  await cluster?.stop()
})

async function open(
  readFrom: 'primary' | 'replica' = 'primary',
  extra: Partial<ValkeyConnectOptions> = {},
): Promise<Store> {
  const options: ValkeyConnectOptions = {
    ...extra,
    mode: 'cluster',
    clientName: 'keyshard-cluster-batches',
    seeds: cluster.seeds.map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) })),
    readFrom,
    autoPipelining: true,
    maxRetries: 2,
    dialTimeoutMs: 5000,
    offlineQueueLimit: 1000,
  }
  const store = await connectValkeyStore(options)
  stores.push(store)
  return store
}

function probe(address: string): Redis {
  let p = probes.get(address)
  if (p === undefined) {
    p = new Redis({ host: '127.0.0.1', port: Number(address.split(':')[1]) })
    probes.set(address, p)
  }
  return p
}

interface Seen {
  address: string
  /** `lua` for commands a script ran, else the client's address. */
  source: string
  command: string
  args: string[]
}

/**
 * Every command the nodes at `addresses` execute while `fn` runs, from MONITOR (which, unlike INFO commandstats,
 * tells a client's commands from the ones its scripts ran).
 */
async function commandsDuring(addresses: readonly string[], fn: () => Promise<unknown>): Promise<Seen[]> {
  const seen: Seen[] = []
  const marker = `end-of-capture-${Math.random()}`
  const monitors = await Promise.all(
    addresses.map(async (address) => {
      const monitor = await probe(address).duplicate().monitor()
      const done = new Promise<void>((resolve) => {
        monitor.on('monitor', (_time: string, args: string[], source: string) => {
          if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) resolve()
          else seen.push({ address, source, command: String(args[0]).toLowerCase(), args: args.slice(1) })
        })
      })
      return { monitor, done, address }
    }),
  )
  try {
    await fn()
    for (const m of monitors) await probe(m.address).echo(marker)
    await Promise.all(monitors.map((m) => m.done))
  } finally {
    for (const m of monitors) m.monitor.disconnect()
  }
  return seen
}

/** Commands the servers refused before running them (ACL, unknown command…), per command, from INFO commandstats. */
async function rejectedCalls(addresses: readonly string[], commands: readonly string[]): Promise<number> {
  let total = 0
  for (const address of addresses) {
    const info = await probe(address).info('commandstats')
    for (const c of commands) {
      total += Number(new RegExp(`cmdstat_${c}:.*rejected_calls=(\\d+)`).exec(info)?.[1] ?? 0)
    }
  }
  return total
}

/** MOVED redirections the nodes at `addresses` have answered, from INFO errorstats. */
async function movedReplies(addresses: readonly string[]): Promise<number> {
  let total = 0
  for (const address of addresses) {
    const info = await probe(address).info('errorstats')
    total += Number(/errorstat_MOVED:count=(\d+)/.exec(info)?.[1] ?? 0)
  }
  return total
}

/**
 * Starts moving `slot` to another master and moves `keys` (of that slot) already, so the old owner answers ASK
 * for them; `finish()` hands the slot over, after which the old owner answers MOVED.
 */
async function migrateHalfway(
  slot: number,
  keys: readonly string[],
): Promise<{ from: string; to: string; finish(): Promise<void> }> {
  const from = await cluster.masterForSlot(slot)
  const to = cluster.masters().find((m) => m.address !== from.address)
  if (to === undefined) throw new Error('need two masters')
  const src = probe(from.address)
  const dst = probe(to.address)
  const [srcId, dstId] = (await Promise.all([src.call('CLUSTER', 'MYID'), dst.call('CLUSTER', 'MYID')])) as [
    string,
    string,
  ]
  await dst.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', srcId)
  await src.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', dstId)
  await src.call('MIGRATE', '127.0.0.1', to.port, '', 0, 5000, 'KEYS', ...keys)
  return {
    from: from.address,
    to: to.address,
    async finish() {
      // The new owner first, so the old one never redirects to a node that still refuses the slot.
      await dst.call('CLUSTER', 'SETSLOT', slot, 'NODE', dstId)
      await src.call('CLUSTER', 'SETSLOT', slot, 'NODE', dstId)
    },
  }
}

const masterAddresses = () => cluster.masters().map((n) => n.address)
const replicaAddresses = () => cluster.replicas().map((n) => n.address)

/**
 * Per master address, how many of the slots of `keys` it serves hold one of them (read with a GET) and how many
 * hold more (read with an MGET).
 */
async function slotsPerMaster(
  keys: readonly string[],
): Promise<{ get: Map<string, number>; mget: Map<string, number> }> {
  const keysPerSlot = new Map<number, number>()
  for (const key of keys) keysPerSlot.set(calculateSlot(key), (keysPerSlot.get(calculateSlot(key)) ?? 0) + 1)
  const counts = { get: new Map<string, number>(), mget: new Map<string, number>() }
  for (const [slot, n] of keysPerSlot) {
    const owner = (await cluster.masterForSlot(slot)).address
    const map = n === 1 ? counts.get : counts.mget
    map.set(owner, (map.get(owner) ?? 0) + 1)
  }
  return counts
}

/** Commands of the given names that clients sent, per node address. */
function perAddress(seen: readonly Seen[], command: string): Map<string, number> {
  const counts = new Map<string, number>()
  for (const s of seen) {
    if (s.source !== 'lua' && s.command === command) counts.set(s.address, (counts.get(s.address) ?? 0) + 1)
  }
  return counts
}

describe('getMany on a cluster', () => {
  it('reads each slot on its master with a GET for one key or an MGET for more, no script, in input order with misses in place', async () => {
    const store = await open()
    // Random keys, and a few sharing a slot (a hash tag) between them.
    const keys = Array.from({ length: 300 }, (_, i) => (i % 100 === 50 ? `{batch}:${i}` : `batch:${i}`))
    await store.setMany(
      keys.filter((_, i) => i % 3 !== 0).map((key) => ({ key, value: `v:${key}`, ttlMs: 60_000 })),
      o,
    )
    expect(new Set(keys.map((k) => calculateSlot(k))).size).toBeGreaterThan(250) // random keys: almost one slot each
    let values: Array<Buffer | null> = []
    const seen = await commandsDuring(masterAddresses(), async () => {
      values = await store.getMany(keys, o)
    })
    expect(values.map((v) => v?.toString() ?? null)).toEqual(
      keys.map((key, i) => (i % 3 === 0 ? null : `v:${key}`)),
    )
    const expected = await slotsPerMaster(keys)
    expect(expected.mget.size).toBeGreaterThan(0) // both kinds of slot are read
    expect(perAddress(seen, 'get')).toEqual(expected.get)
    expect(perAddress(seen, 'mget')).toEqual(expected.mget)
    expect(seen.filter((s) => ['eval', 'evalsha', 'fcall'].includes(s.command))).toEqual([])
  })

  it('reads values with their TTLs (for an L1) the same way, a PTTL beside each key', async () => {
    const store = await open()
    const keys = Array.from({ length: 300 }, (_, i) => `batch-ttl:${i}`)
    await store.setMany(
      keys
        .filter((_, i) => i % 3 !== 0)
        .map((key, i) => ({ key, value: `v:${key}`, ttlMs: i % 2 === 0 ? null : 60_000 })),
      o,
    )
    let read: Array<StoreValueWithTtl | null> = []
    const seen = await commandsDuring(masterAddresses(), async () => {
      read = await store.getManyWithTtl(keys, o)
    })
    const written = keys.filter((_, i) => i % 3 !== 0)
    expect(read.map((r) => r?.value.toString() ?? null)).toEqual(
      keys.map((key, i) => (i % 3 === 0 ? null : `v:${key}`)),
    )
    for (const r of read.filter((r) => r !== null)) {
      const i = written.indexOf(r.value.toString().slice(2))
      if (i % 2 === 0) expect(r.ttlMs).toBeNull()
      else expect(r.ttlMs).toBeGreaterThan(50_000)
    }
    // One MGET per slot here, whatever its number of keys: the PTTLs beside it read the same copy.
    const { get: oneKey, mget: more } = await slotsPerMaster(keys)
    const slots = new Map(oneKey)
    for (const [address, n] of more) slots.set(address, (slots.get(address) ?? 0) + n)
    expect(perAddress(seen, 'mget')).toEqual(slots)
    expect(perAddress(seen, 'get')).toEqual(new Map())
    expect(seen.filter((s) => s.command === 'pttl')).toHaveLength(keys.length)
    expect(seen.filter((s) => ['eval', 'evalsha'].includes(s.command))).toEqual([])
  })

  it('answers nil for a key of another type, as MGET does', async () => {
    const store = await open()
    const keys = Array.from({ length: 40 }, (_, i) => `typed:${i}`)
    await store.setMany(
      keys.map((key) => ({ key, value: key, ttlMs: 60_000 })),
      o,
    )
    const owner = await cluster.masterForSlot(calculateSlot('typed:7'))
    await probe(owner.address).del('typed:7')
    await probe(owner.address).hset('typed:7', 'f', 'v')
    const values = await store.getMany(keys, o)
    expect(values.map((v) => v?.toString() ?? null)).toEqual(keys.map((k) => (k === 'typed:7' ? null : k)))
  })

  it('reads keys that share a slot (a hash tag) with one MGET, beside the other slots’ reads', async () => {
    const store = await open()
    const tagged = Array.from({ length: 50 }, (_, i) => `{together}:${i}`)
    const loose = Array.from({ length: 50 }, (_, i) => `apart:${i}`)
    const keys = tagged.flatMap((k, i) => [k, loose[i] as string])
    await store.setMany(
      keys.map((key) => ({ key, value: key, ttlMs: 60_000 })),
      o,
    )
    let values: Array<Buffer | null> = []
    const seen = await commandsDuring(masterAddresses(), async () => {
      values = await store.getMany(keys, o)
    })
    expect(values.map((v) => v?.toString())).toEqual(keys)
    const slots = new Set(keys.map((k) => calculateSlot(k)))
    const reads = seen.filter((s) => s.command === 'mget' || s.command === 'get')
    expect(reads).toHaveLength(slots.size)
    expect(slots.size).toBeLessThanOrEqual(loose.length + 1)
    const tagged1 = reads.find((s) => s.args.includes(tagged[1] as string))
    expect(tagged1?.command).toBe('mget')
    expect(tagged1?.args).toEqual(tagged)
  })

  it('reads the right values while a slot is migrating and after it moved, through the cluster redirects', async () => {
    const store = await open()
    const keys = Array.from({ length: 200 }, (_, i) => `moving:${i}`)
    await store.setMany(
      keys.map((key) => ({ key, value: `v:${key}`, ttlMs: 60_000 })),
      o,
    )
    const slot = calculateSlot('moving:0')
    // Half-way: moving:0 now lives on the target, so the source answers ASK for it.
    const migration = await migrateHalfway(
      slot,
      keys.filter((k) => calculateSlot(k) === slot),
    )
    const during = await store.getMany(keys, o)
    expect(during.map((v) => v?.toString())).toEqual(keys.map((k) => `v:${k}`))
    await migration.finish()
    // The store's slot map still names the old owner: its MGET there answers MOVED, which the cluster client follows.
    const after = await store.getMany(keys, o)
    expect(after.map((v) => v?.toString())).toEqual(keys.map((k) => `v:${k}`))
    await cluster.waitForHealthy()
  })

  it('is served by replicas with replica reads', async () => {
    const writer = await open()
    const reader = await open('replica')
    const keys = Array.from({ length: 90 }, (_, i) => `replica:${i}`)
    await writer.setMany(
      keys.map((key) => ({ key, value: key, ttlMs: 60_000 })),
      o,
    )
    // Replication is asynchronous: wait until every replica has the keys.
    const until = Date.now() + 5000
    while ((await reader.getMany(keys, o)).some((v) => v === null) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20))
    }
    let values: Array<Buffer | null> = []
    const seen = await commandsDuring([...masterAddresses(), ...replicaAddresses()], async () => {
      values = await reader.getMany(keys, o)
    })
    expect(values.map((v) => v?.toString())).toEqual(keys)
    const replicas = new Set(replicaAddresses())
    const reads = seen.filter((s) => s.command === 'mget' || s.command === 'get')
    expect(reads.length).toBe(new Set(keys.map((k) => calculateSlot(k))).size)
    // Reads only: cluster clients also ask masters for CLUSTER SLOTS on their own every few seconds.
    expect(reads.filter((s) => !replicas.has(s.address))).toEqual([])
    expect(seen.filter((s) => !replicas.has(s.address) && s.command === 'exists')).toEqual([])
  })

  it('needs no scripting: a user the servers do not let run scripts reads every key, and nothing is refused', async () => {
    await Promise.all(
      cluster.nodes.map((n) =>
        probe(n.address).call('ACL', 'SETUSER', 'noscripts', 'on', '>pw', '~*', '&*', '+@all', '-@scripting'),
      ),
    )
    const store = await open('primary', { username: 'noscripts', password: 'pw' })
    const keys = Array.from({ length: 60 }, (_, i) => `acl:${i}`)
    await store.setMany(
      keys.map((key) => ({ key, value: key, ttlMs: 60_000 })),
      o,
    )
    const refusedBefore = await rejectedCalls(masterAddresses(), ['eval', 'evalsha', 'mget', 'pttl'])
    expect((await store.getMany(keys, o)).map((v) => v?.toString())).toEqual(keys)
    expect((await store.getManyWithTtl(keys, o)).map((r) => r?.value.toString())).toEqual(keys)
    expect(await rejectedCalls(masterAddresses(), ['eval', 'evalsha', 'mget', 'pttl'])).toBe(refusedBefore)
  })
})

describe('single-key commands on a cluster', () => {
  it('go straight to the slot’s master, one command each', async () => {
    const store = await open()
    const key = 'direct:1'
    const owner = await cluster.masterForSlot(calculateSlot(key))
    const seen = await commandsDuring(masterAddresses(), async () => {
      await store.set(key, 'v1', 60_000, o)
      expect((await store.get(key, o))?.toString()).toBe('v1')
    })
    const mine = seen.filter((s) => s.command === 'get' || s.command === 'set')
    expect(mine.map((s) => [s.command, s.address])).toEqual([
      ['set', owner.address],
      ['get', owner.address],
    ])
  })

  it('follow a migrating slot (ASK) and a moved one (MOVED) through the cluster client, reads and writes', async () => {
    const store = await open()
    const key = 'direct:moving'
    const slot = calculateSlot(key)
    await store.set(key, 'before', 60_000, o)
    expect((await store.get(key, o))?.toString()).toBe('before')
    const migration = await migrateHalfway(slot, [key])
    // The store still sends to the old owner, which answers ASK for the key it no longer has.
    expect((await store.get(key, o))?.toString()).toBe('before')
    await migration.finish()
    // Now MOVED: the write lands on the new owner, and reads find it there.
    expect(await store.set(key, 'after', 60_000, o)).toBe(true)
    expect((await store.get(key, o))?.toString()).toBe('after')
    expect(await probe(migration.to).get(key)).toBe('after')
    expect(await probe(migration.from).call('CLUSTER', 'COUNTKEYSINSLOT', slot)).toBe(0)
    await cluster.waitForHealthy()
  })

  it('answer a reply error as it is, without trying the cluster client again', async () => {
    const store = await open()
    const key = 'direct:hash'
    const owner = await cluster.masterForSlot(calculateSlot(key))
    await probe(owner.address).hset(key, 'f', 'v')
    let error: unknown
    const seen = await commandsDuring(masterAddresses(), async () => {
      error = await store.get(key, o).catch((e: unknown) => e)
    })
    expect(isKeyshardError(error, 'ERR_COMMAND')).toBe(true)
    expect((error as Error).message).toMatch(/WRONGTYPE/)
    expect(seen.filter((s) => s.command === 'get')).toHaveLength(1)
  })

  it('read from replicas with replica reads', async () => {
    const writer = await open()
    const reader = await open('replica')
    const key = 'direct:replica'
    await writer.set(key, 'r', 60_000, o)
    const until = Date.now() + 5000
    while ((await reader.get(key, o)) === null && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20))
    const replicas = new Set(replicaAddresses())
    const seen = await commandsDuring([...masterAddresses(), ...replicaAddresses()], async () => {
      expect((await reader.get(key, o))?.toString()).toBe('r')
    })
    const gets = seen.filter((s) => s.command === 'get')
    expect(gets).toHaveLength(1)
    expect(replicas.has((gets[0] as Seen).address)).toBe(true)
  })

  // Last in the file: it swaps a master and its replica.
  it('keep working across a failover, reads and writes landing on the promoted master', async () => {
    const store = await open()
    const keys = Array.from({ length: 30 }, (_, i) => `failover:${i}`)
    for (const key of keys) await store.set(key, 'before', 60_000, o)
    const slot = calculateSlot('failover:0')
    const oldMaster = await cluster.masterForSlot(slot)
    const promoted = await (async () => {
      for (const r of cluster.replicas()) {
        const role = (await probe(r.address).call('ROLE')) as [string, string, number]
        if (role[2] === oldMaster.port) return r
      }
      throw new Error(`no replica of ${oldMaster.address}`)
    })()
    await cluster.failover(promoted)
    // The store's slot map still names the old master (now a replica, which redirects): every call must still
    // reach the promoted one.
    for (const key of keys) expect(await store.set(key, 'after', 60_000, o)).toBe(true)
    expect((await store.getMany(keys, o)).map((v) => v?.toString())).toEqual(keys.map(() => 'after'))
    for (const key of keys) expect((await store.get(key, o))?.toString()).toBe('after')
    expect(await probe(promoted.address).get('failover:0')).toBe('after')
  })
})

describe('keys whose first hash tag is empty', () => {
  // A key's first '{' closed at once ('{}') means no hash tag: the servers hash the whole key. cluster-key-slot
  // (which iovalkey routes by) hashes from a later '{' instead, so it puts both of these keys in the slot of
  // 'b{c', where the servers put only the second.
  const keys = ['a{}b{c}', '{b{c}']

  it('get their slot as the servers compute it', async () => {
    const node = probe(masterAddresses()[0] as string)
    const tricky = [
      ...keys,
      'foo{}{bar}',
      'foo{bar}{zap}',
      'foo{{bar}}zap',
      '{}',
      '{}{}',
      'foo{',
      'foo}{',
      '{user1000}.following',
      '123456789',
      'ü{x}',
      'a{ü}b',
      'ü{}{ü}',
      '\ud800{}{x}',
      '{\ud800}',
      '日本{語}',
    ]
    for (const key of tricky) {
      expect([key, keySlot(key)]).toEqual([key, await node.call('CLUSTER', 'KEYSLOT', key)])
    }
    expect(calculateSlot('a{}b{c}')).toBe(calculateSlot('{b{c}'))
    expect(keySlot('a{}b{c}')).not.toBe(keySlot('{b{c}'))
  })

  it('agree with CLUSTER KEYSLOT on random keys full of braces, in any writing system', async () => {
    const node = probe(masterAddresses()[0] as string)
    const piece = fc.oneof(
      fc.constantFrom('{', '}', '{}', ':', 'ü', '日', '\ud83d\ude00', '\ud800'),
      fc.string({ unit: 'grapheme', maxLength: 4 }),
      fc.string({ unit: 'binary', maxLength: 4 }),
    )
    const key = fc.array(piece, { maxLength: 8 }).map((parts) => parts.join(''))
    await fc.assert(
      fc.asyncProperty(key, async (k) => {
        expect(keySlot(k)).toBe(await node.call('CLUSTER', 'KEYSLOT', k))
      }),
      { numRuns: 500 },
    )
  })

  it('are read together by getMany, and get and set go straight to their master', async () => {
    const store = await open()
    const owners = await Promise.all(keys.map((k) => cluster.masterForSlot(keySlot(k))))
    const movedBefore = await movedReplies(masterAddresses())
    const seen = await commandsDuring(masterAddresses(), async () => {
      for (const key of keys) expect(await store.set(key, `v:${key}`, 60_000, o)).toBe(true)
      for (const key of keys) expect((await store.get(key, o))?.toString()).toBe(`v:${key}`)
    })
    const mine = seen.filter((s) => s.command === 'get' || s.command === 'set')
    expect(mine.map((s) => [s.command, s.address])).toEqual([
      ['set', owners[0]?.address],
      ['set', owners[1]?.address],
      ['get', owners[0]?.address],
      ['get', owners[1]?.address],
    ])
    // A command sent to the wrong master is answered MOVED, which MONITOR does not show.
    expect(await movedReplies(masterAddresses())).toBe(movedBefore)
    expect((await store.getMany([...keys, 'absent{}x{y}'], o)).map((v) => v?.toString() ?? null)).toEqual([
      'v:a{}b{c}',
      'v:{b{c}',
      null,
    ])
  })
})
