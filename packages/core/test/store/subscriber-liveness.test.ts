import { startServer, type TestServer } from '@keyshard/testkit'
import { Redis } from 'iovalkey'
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest'
import { Subscriber } from '../../src/store/subscriber.js'

let server: TestServer
let frozen = false
beforeAll(async () => {
  server = await startServer()
})
afterEach(() => {
  vi.restoreAllMocks()
  if (frozen) server.thaw()
  frozen = false
})
afterAll(async () => {
  await server.stop()
})

async function until(check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** PINGs the server has answered so far, from INFO commandstats (this server is the test file's own). */
async function pings(): Promise<number> {
  const admin = new Redis(server.clientOptions())
  try {
    const stats = await admin.info('commandstats')
    // Our own INFO is no PING, so asking does not move the count.
    return Number(/cmdstat_ping:calls=(\d+)/.exec(stats)?.[1] ?? 0)
  } finally {
    admin.disconnect()
  }
}

const subscriber = () =>
  new Subscriber(() => [{ host: server.host, port: server.port }], {
    ...server.clientOptions(),
    // The reply deadline; the link counts as down within PING interval + this after the server hangs.
    connectTimeout: 1000,
  })

it('a hung server (open socket, no close) takes the link down, and it comes back up once the server runs', async () => {
  const sub = subscriber()
  const links: boolean[] = []
  const heard: string[] = []
  try {
    await sub.add(
      'live',
      (m) => heard.push(m),
      (up) => links.push(up),
    )
    server.freeze()
    frozen = true
    // Without a liveness check nothing ever fires here: the kernel keeps the TCP connection open.
    await until(() => links.includes(false))
    server.thaw()
    frozen = false
    await until(() => links.at(-1) === true)
    const publisher = new Redis(server.clientOptions())
    try {
      await until(async () => {
        await publisher.publish('live', 'again')
        return heard.includes('again')
      })
    } finally {
      publisher.disconnect()
    }
    expect(links).toEqual([false, true])
  } finally {
    await sub.close()
  }
}, 60_000)

it('PINGs only while it has channels, and close() clears its timer', async () => {
  const created: unknown[] = []
  const realSetInterval = globalThis.setInterval
  vi.spyOn(globalThis, 'setInterval').mockImplementation(((...args: Parameters<typeof setInterval>) => {
    const handle = realSetInterval(...args)
    created.push(handle)
    return handle
  }) as typeof setInterval)
  const cleared = vi.spyOn(globalThis, 'clearInterval')

  const sub = subscriber()
  const remove = await sub.add('quiet', () => {})
  const before = await pings()
  await until(async () => (await pings()) > before)

  // No channel left: the connection stays open, but nothing is sent on it.
  await remove()
  const idle = await pings()
  await new Promise((r) => setTimeout(r, 2500))
  expect(await pings()).toBe(idle)

  await sub.add('quiet-again', () => {})
  await until(async () => (await pings()) > idle)
  await sub.close()
  const closed = await pings()
  await new Promise((r) => setTimeout(r, 2500))
  expect(await pings()).toBe(closed)

  // Every interval the subscriber started was cleared (they are unref()ed, so a leak would not even hold the
  // process: this is the only place it would show).
  expect(created.length).toBeGreaterThan(0)
  for (const handle of created) expect(cleared).toHaveBeenCalledWith(handle)
}, 60_000)

it('a stall of this process right after a PING went out does not drop the link, even with a 100 ms dial timeout', async () => {
  // The first liveness PING is sent from a setImmediate callback that then busy-waits 300 ms, as any callback of
  // the application may: the server answers at once, but the next loop iteration runs its timers (the socket
  // timer, armed when the PING was written, now overdue) before it reads the reply.
  let stalled = 0
  const realPing = Redis.prototype.ping
  vi.spyOn(Redis.prototype, 'ping').mockImplementation(function (this: Redis, ...args: unknown[]) {
    const send = () => (realPing as (...a: unknown[]) => ReturnType<Redis['ping']>).apply(this, args)
    if (stalled++ > 0) return send()
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        send().then(resolve, reject)
        const until = Date.now() + 300
        while (Date.now() < until) {
          // the application's event loop, blocked
        }
      })
    })
  } as Redis['ping'])

  const sub = new Subscriber(() => [{ host: server.host, port: server.port }], {
    ...server.clientOptions(),
    connectTimeout: 100,
  })
  const links: boolean[] = []
  try {
    await sub.add(
      'stall',
      () => {},
      (up) => links.push(up),
    )
    await until(() => stalled >= 3)
    expect(links).not.toContain(false)
  } finally {
    await sub.close()
  }
}, 30_000)
