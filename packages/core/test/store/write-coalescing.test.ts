import { Socket } from 'node:net'
import { getTestServers } from '@keyshard/testkit'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache.js'
import type { Namespace } from '../../src/namespace.js'
import type { CacheOptions } from '../../src/types.js'

const { standalone, cluster } = getTestServers()
const caches: Cache[] = []
afterAll(async () => {
  await Promise.all(caches.map((c) => c.close()))
})

/** Counts the writes each socket hands to the OS, by remote port (one `_write`/`_writev` = one write call). */
const writesByPort = new Map<number, number>()
const original = { write: Socket.prototype._write, writev: Socket.prototype._writev }
beforeEach(() => {
  writesByPort.clear()
  const count = (socket: Socket) => {
    const port = socket.remotePort ?? 0
    writesByPort.set(port, (writesByPort.get(port) ?? 0) + 1)
  }
  Socket.prototype._write = function (this: Socket, ...args: Parameters<Socket['_write']>) {
    count(this)
    return original.write.apply(this, args)
  }
  Socket.prototype._writev = function (this: Socket, ...args: Parameters<NonNullable<Socket['_writev']>>) {
    count(this)
    return original.writev?.apply(this, args)
  }
})
afterEach(() => {
  Socket.prototype._write = original.write
  Socket.prototype._writev = original.writev
})

async function open(options: CacheOptions): Promise<Cache> {
  const cache = await createCache({ fromEnv: false, prefix: `coalesce-${process.pid}:`, ...options })
  caches.push(cache)
  return cache
}

const keys = Array.from({ length: 60 }, (_, i) => `k:${i}`)

/** The namespace every test reads, holding value i under keys[i]; the write counts start from zero. */
async function filled(cache: Cache): Promise<Namespace<number>> {
  const ns = cache.namespace<number>('coalesce')
  await ns.setMany(keys.map((key, i) => ({ key, value: i })))
  writesByPort.clear()
  return ns
}

async function masterPorts(cache: Cache): Promise<number[]> {
  const { nodes } = await cache.health()
  return nodes.filter((n) => n.role === 'master').map((n) => Number(n.address.split(':')[1]))
}

async function writesForOneTickOfReads(cache: Cache, ports: number[]): Promise<number[]> {
  const ns = await filled(cache)
  const values = await Promise.all(keys.map((key) => ns.get(key)))
  expect(values).toEqual(keys.map((_, i) => i))
  return ports.map((port) => writesByPort.get(port) ?? 0)
}

describe('commands issued in one tick', () => {
  it('leave in one socket write (standalone)', async () => {
    const port = standalone.port
    const coalesced = await open({ mode: 'single', addresses: [standalone.address] })
    expect(await writesForOneTickOfReads(coalesced, [port])).toEqual([1])

    const uncoalesced = await open({ mode: 'single', addresses: [standalone.address], autoPipelining: false })
    const [writes] = await writesForOneTickOfReads(uncoalesced, [port])
    expect(writes).toBeGreaterThan(keys.length / 2)
  })

  it('leave in one socket write per master (cluster)', async () => {
    const cache = await open({ mode: 'cluster', addresses: cluster.seeds })
    const ports = await masterPorts(cache)
    expect(ports).toHaveLength(3)
    const writes = await writesForOneTickOfReads(cache, ports)
    // 60 keys hash to every master; each master still gets exactly one write.
    expect(writes).toEqual(ports.map(() => 1))
  })
})

const nextTick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve))
const endOfTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Reads the first half of the keys in this tick and the rest in the next one, both in this event-loop turn. */
async function readInTwoTicks(ns: Namespace<number>): Promise<Array<number | undefined>> {
  const first = Promise.all(keys.slice(0, 30).map((key) => ns.get(key)))
  await nextTick()
  const second = Promise.all(keys.slice(30).map((key) => ns.get(key)))
  return [...(await first), ...(await second)]
}

describe('single-key commands on a cluster', () => {
  it('issued in two ticks of one event-loop turn leave in one write per master', async () => {
    const cache = await open({ mode: 'cluster', addresses: cluster.seeds })
    const ports = await masterPorts(cache)
    const ns = await filled(cache)
    expect(await readInTwoTicks(ns)).toEqual(keys.map((_, i) => i))
    expect(ports.map((port) => writesByPort.get(port) ?? 0)).toEqual(ports.map(() => 1))
  })

  it('wait for the end of the turn, while a batch read leaves at the end of its tick', async () => {
    const cache = await open({ mode: 'cluster', addresses: cluster.seeds })
    const ports = await masterPorts(cache)
    const ns = await filled(cache)
    const written = (): number => ports.reduce((sum, port) => sum + (writesByPort.get(port) ?? 0), 0)

    const gets = Promise.all(keys.map((key) => ns.get(key)))
    await nextTick()
    await nextTick()
    expect(written()).toBe(0)
    await endOfTurn()
    expect(written()).toBe(3)
    await gets

    writesByPort.clear()
    const many = ns.getMany(keys)
    await nextTick()
    await nextTick()
    expect(written()).toBe(3)
    expect(await many).toEqual(keys.map((_, i) => i))
  })
})

describe('single-key commands on a standalone server', () => {
  it('still leave at the end of their tick', async () => {
    const cache = await open({ mode: 'single', addresses: [standalone.address] })
    const ns = await filled(cache)
    expect(await readInTwoTicks(ns)).toEqual(keys.map((_, i) => i))
    expect(writesByPort.get(standalone.port)).toBe(2)
  })
})
