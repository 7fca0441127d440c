import { startServer, type TestServer } from '@keyshard/testkit'
import { Redis } from 'iovalkey'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { Subscriber } from '../../src/store/subscriber.js'

let server: TestServer
beforeAll(async () => {
  server = await startServer()
})
afterAll(async () => {
  await server.stop()
})

async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

it('a channel added during an outage does not keep the others from resubscribing and hearing "up"', async () => {
  const subscriber = new Subscriber(() => [{ host: server.host, port: server.port }], server.clientOptions())
  const links: boolean[] = []
  const heard: string[] = []
  await subscriber.add(
    'a',
    (m) => heard.push(`a:${m}`),
    (up) => links.push(up),
  )
  await server.kill()
  await until(() => links.includes(false))
  // Added while the server is down: its SUBSCRIBE waits in the offline queue and is sent first on reconnect.
  const addingB = subscriber.add('b', (m) => heard.push(`b:${m}`))
  await server.restart()
  await addingB
  await until(() => links.at(-1) === true)
  const publisher = new Redis(server.clientOptions())
  try {
    await until(async () => {
      await publisher.publish('a', '1')
      await publisher.publish('b', '1')
      return heard.includes('a:1') && heard.includes('b:1')
    })
  } finally {
    publisher.disconnect()
    await subscriber.close()
  }
  expect(links).toEqual([false, true])
})
