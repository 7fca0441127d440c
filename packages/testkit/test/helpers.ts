import { Cluster, Redis, type RedisOptions } from 'iovalkey'

/** A client that fails fast: one connection attempt, no retries, no offline queue. */
export function quickClient(options: RedisOptions): Redis {
  const client = new Redis({
    lazyConnect: true,
    connectTimeout: 2_000,
    commandTimeout: 3_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    retryStrategy: () => null,
    ...options,
  })
  client.on('error', () => {})
  return client
}

/** Connects with `options` and runs `fn`; always disconnects. */
export async function withQuickClient<T>(options: RedisOptions, fn: (c: Redis) => Promise<T>): Promise<T> {
  const client = quickClient(options)
  try {
    await client.connect()
    return await fn(client)
  } finally {
    client.disconnect()
  }
}

export function clusterClient(seeds: string[]): Cluster {
  const client = new Cluster(
    seeds.map((s) => {
      const [host, port] = s.split(':')
      return { host: host!, port: Number(port) }
    }),
    { redisOptions: { connectTimeout: 2_000 }, slotsRefreshTimeout: 2_000 },
  )
  client.on('error', () => {})
  return client
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
