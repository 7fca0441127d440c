import { once } from 'node:events'
import { getTestServers } from '@keyshard/testkit'
import { Redis } from 'iovalkey'
import { afterEach, expect, it, vi } from 'vitest'
import { sendBatch } from '../../src/store/reply-batch.js'

// A connection made as iovalkey makes a cluster's node connections (no retry strategy): the only kind sendBatch is for.
const { standalone } = getTestServers()
const open: Redis[] = []
/** Not connected yet (`lazyConnect`). */
function unconnected(): Redis {
  const conn = new Redis({
    host: standalone.host,
    port: standalone.port,
    retryStrategy: () => null,
    lazyConnect: true,
  })
  open.push(conn)
  return conn
}
async function nodeConnection(): Promise<Redis> {
  const conn = unconnected()
  await conn.connect()
  return conn
}
afterEach(() => {
  vi.restoreAllMocks()
  for (const conn of open.splice(0)) conn.disconnect()
})

const text = (reply: unknown) => (Buffer.isBuffer(reply) ? reply.toString() : reply)

it('writes every command in one socket write and answers each in order, error replies in place', async () => {
  const conn = await nodeConnection()
  await conn.set('rb:a', 'A')
  await conn.del('rb:missing', 'rb:hash')
  await conn.hset('rb:hash', 'f', 'v')
  const write = vi.spyOn(conn.stream, 'write')
  const replies = await sendBatch(conn, [
    ['get', 'rb:a'],
    ['get', 'rb:hash'],
    ['mget', 'rb:a', 'rb:missing', 'rb:hash'],
    ['pttl', 'rb:a'],
    ['set', 'rb:b', Buffer.from([0, 13, 10, 255]), 'PX', '60000'],
    ['get', 'rb:b'],
  ])
  expect(write).toHaveBeenCalledTimes(1)
  expect(replies).toHaveLength(6)
  const [a, wrongType, many, pttl, ok, binary] = replies as unknown[]
  expect(text(a)).toBe('A')
  expect(wrongType).toBeInstanceOf(Error)
  expect((wrongType as Error).message).toMatch(/^WRONGTYPE/)
  expect((many as unknown[]).map(text)).toEqual(['A', null, null])
  expect(pttl).toBe(-1)
  expect(text(ok)).toBe('OK')
  expect(binary).toEqual(Buffer.from([0, 13, 10, 255]))
})

it('shares the connection with ordinary commands written before and after it in the same tick', async () => {
  const conn = await nodeConnection()
  await conn.mset('rb:x', 'X', 'rb:y', 'Y', 'rb:z', 'Z')
  const before = conn.get('rb:x')
  const batch = sendBatch(conn, [
    ['get', 'rb:y'],
    ['echo', 'middle'],
    ['get', 'rb:z'],
  ])
  const after = conn.get('rb:z')
  expect(await before).toBe('X')
  expect((await batch)?.map(text)).toEqual(['Y', 'middle', 'Z'])
  expect(await after).toBe('Z')
  // Nothing is left in the queue to take a later reply.
  expect(conn.commandQueue.length).toBe(0)
  expect(await conn.echo('still in step')).toBe('still in step')
})

it('resolves with an error for each reply the connection lost, and nothing is left queued', async () => {
  const conn = await nodeConnection()
  const admin = await nodeConnection()
  await conn.set('rb:before', 'kept')
  await admin.del('rb:never')
  const id = await conn.client('ID')
  // BLPOP holds the connection, so the replies after it are still owed when the server drops the client.
  const batch = sendBatch(conn, [
    ['get', 'rb:before'],
    ['blpop', 'rb:never', '10'],
    ['get', 'rb:before'],
  ])
  await vi.waitFor(async () =>
    expect(await admin.call('CLIENT', 'LIST', 'ID', String(id))).toMatch(/cmd=blpop/),
  )
  await admin.call('CLIENT', 'KILL', 'ID', String(id))
  const replies = (await batch) as unknown[]
  expect(text(replies[0])).toBe('kept')
  expect(replies[1]).toBeInstanceOf(Error)
  expect(replies[2]).toBeInstanceOf(Error)
  expect(conn.commandQueue.length).toBe(0)
})

it('sends nothing and answers undefined while the connection is not ready', async () => {
  const conn = unconnected()
  expect(sendBatch(conn, [['get', 'rb:a']])).toBeUndefined()
  expect(conn.commandQueue.length).toBe(0)
  expect((conn as unknown as { offlineQueue: { length: number } }).offlineQueue.length).toBe(0)
  await conn.connect()
  const ended = once(conn, 'end')
  conn.disconnect()
  await ended
  expect(sendBatch(conn, [['get', 'rb:a']])).toBeUndefined()
})

it('answers an empty batch at once, without writing', async () => {
  const conn = await nodeConnection()
  const write = vi.spyOn(conn.stream, 'write')
  expect(await sendBatch(conn, [])).toEqual([])
  expect(write).not.toHaveBeenCalled()
})
