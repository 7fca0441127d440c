import { createCache as createKeyshardCache } from '@keyshard/core'
import { createKeyv } from '@keyshard/keyv'
import { createCache } from 'cache-manager'
import { createApp } from './app.js'

// No options: the cache reads CACHE_MODE / CACHE_ADDRS (and friends) from the environment, memory if unset.
const keyshard = await createKeyshardCache()
const keyv = await createKeyv(keyshard, { keyv: { namespace: 'catalogue' } })
const cache = createCache({ stores: [keyv] })
const app = createApp(cache)

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '127.0.0.1'
const server = app.listen(port, host, () => {
  const address = server.address()
  const actualPort = typeof address === 'object' && address !== null ? address.port : port
  console.log(
    `keyv-example (cache-manager over @keyshard/keyv, ${keyshard.mode}) listening on http://${host}:${actualPort}`,
  )
})

async function shutdown(): Promise<void> {
  server.close()
  await cache.disconnect()
  await keyshard.close()
  process.exit(0)
}
process.once('SIGINT', () => void shutdown())
process.once('SIGTERM', () => void shutdown())
