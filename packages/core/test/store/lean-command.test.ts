import { getTestServers } from '@keyshard/testkit'
import { Redis, type RedisOptions } from 'iovalkey'
import { afterEach, expect, it, vi } from 'vitest'
import { sendLean } from '../../src/store/lean-command.js'

const { standalone } = getTestServers()
const open: Redis[] = []
function client(options: RedisOptions = {}): Redis {
  const conn = new Redis({ host: standalone.host, port: standalone.port, ...options })
  open.push(conn)
  return conn
}
afterEach(() => {
  for (const conn of open.splice(0)) conn.disconnect()
})

it('answers with the replies as the parser gives them, byte for byte', async () => {
  const conn = client()
  const value = Buffer.from([0, 13, 10, 255, 36])
  expect(await sendLean(conn, ['set', 'lc:bin', value, 'PX', '60000'])).toEqual(Buffer.from('OK'))
  expect(await sendLean(conn, ['get', 'lc:bin'])).toEqual(value)
  expect(await sendLean(conn, ['set', 'lc:text', 'héllo ✓'])).toEqual(Buffer.from('OK'))
  expect(await sendLean(conn, ['mget', 'lc:text', 'lc:none'])).toEqual([Buffer.from('héllo ✓'), null])
  expect(await sendLean(conn, ['pttl', 'lc:text'])).toBe(-1)
})

it('rejects with the error reply, naming the command as iovalkey does', async () => {
  const conn = client()
  await conn.del('lc:hash')
  await conn.hset('lc:hash', 'f', 'v')
  const error = await sendLean(conn, ['get', 'lc:hash']).catch((e: unknown) => e)
  expect(error).toBeInstanceOf(Error)
  expect((error as Error).message).toMatch(/^WRONGTYPE/)
  expect((error as { command?: unknown }).command).toEqual({ name: 'get', args: ['lc:hash'] })
})

it('settles with what its retry makes of an error, and rejects where the retry declines', async () => {
  const conn = client()
  await conn.del('lc:hash2')
  await conn.hset('lc:hash2', 'f', 'v')
  const seen: string[] = []
  const retry = (error: Error) => {
    seen.push(error.message.split(' ')[0] as string)
    return error.message.startsWith('WRONGTYPE') ? Promise.resolve('answered again') : undefined
  }
  expect(await sendLean(conn, ['get', 'lc:hash2'], retry)).toBe('answered again')
  const declined = await sendLean(conn, ['incr', 'lc:hash2', 'extra'], retry).catch((e: unknown) => e)
  expect((declined as Error).message).toMatch(/^ERR wrong number of arguments/)
  expect(seen).toEqual(['WRONGTYPE', 'ERR'])
  // Success never calls it.
  expect(await sendLean(conn, ['hget', 'lc:hash2', 'f'], retry)).toEqual(Buffer.from('v'))
  expect(seen).toHaveLength(2)
})

it('waits in the offline queue while the client connects, then is sent', async () => {
  const conn = client({ lazyConnect: true })
  await conn.set('lc:queued', 'here')
  conn.disconnect()
  const late = client({ lazyConnect: true })
  const reply = sendLean(late, ['get', 'lc:queued'])
  expect((late as unknown as { offlineQueue: { length: number } }).offlineQueue.length).toBe(1)
  expect(await reply).toEqual(Buffer.from('here'))
})

it('is sent again after a reconnect when the link dropped before its reply', async () => {
  const conn = client({ retryStrategy: () => 50, connectionName: 'lc-resend' })
  const admin = client()
  await admin.del('lc:list')
  const id = await conn.client('ID')
  const popped = sendLean(conn, ['blpop', 'lc:list', '10'])
  await vi.waitFor(async () =>
    expect(await admin.call('CLIENT', 'LIST', 'ID', String(id))).toMatch(/cmd=blpop/),
  )
  await admin.call('CLIENT', 'KILL', 'ID', String(id))
  // The reconnected client sends BLPOP again; only then does a push reach it.
  await vi.waitFor(async () =>
    expect(await admin.call('CLIENT', 'LIST', 'TYPE', 'normal')).toMatch(/ name=lc-resend .*cmd=blpop/),
  )
  await admin.rpush('lc:list', 'after reconnect')
  expect(await popped).toEqual([Buffer.from('lc:list'), Buffer.from('after reconnect')])
})

it('honours iovalkey’s commandTimeout', async () => {
  const conn = client({ commandTimeout: 100 })
  await conn.ping()
  await expect(sendLean(conn, ['blpop', 'lc:never', '5'])).rejects.toThrow('Command timed out')
})

it('asks its retry once, though iovalkey rejects a timed-out command again when the link closes', async () => {
  const conn = client({ commandTimeout: 100 })
  await conn.ping()
  let asked = 0
  const settled = sendLean(conn, ['blpop', 'lc:never2', '5'], () => {
    asked++
    return Promise.resolve('retried')
  })
  expect(await settled).toBe('retried')
  conn.disconnect()
  await vi.waitFor(() => expect(conn.status).toBe('end'))
  expect(asked).toBe(1)
})
