import { startServer, type TestServer } from '@keyshard/testkit'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createCache } from '../../src/cache.js'

let server: TestServer
beforeAll(async () => {
  server = await startServer()
})
afterAll(async () => {
  server.thaw()
  await server.stop()
})

it('close() returns within its bound when the server hangs (SIGSTOP), subscriber included', async () => {
  const cache = await createCache({ fromEnv: false, mode: 'single', addresses: [server.address], l1: {} })
  await cache.ready()
  await cache.namespace('n').set('k', 1)
  // Let the set's fire-and-forget invalidation PUBLISH land: close() would rightly wait for it (up to 5 s).
  await new Promise((r) => setTimeout(r, 100))
  server.freeze()
  const started = Date.now()
  const outcome = await Promise.race([
    cache.close().then(() => 'closed'),
    new Promise((resolve) => setTimeout(() => resolve('still waiting'), 6000)),
  ])
  expect(outcome).toBe('closed')
  expect(Date.now() - started).toBeLessThan(4000)
})
