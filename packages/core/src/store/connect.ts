import { Cluster, Redis, type RedisOptions } from 'iovalkey'
import { KeyshardError } from '../errors.js'
import type { Store } from './store.js'
import { Subscriber } from './subscriber.js'
import { ValkeyStore, defineScripts } from './valkey-store.js'
import { addressOf, mastersByAddress } from './node-address.js'
import { describeConnectError } from './wire-errors.js'

export interface ValkeyConnectOptions {
  mode: 'single' | 'cluster'
  seeds: Array<{ host: string; port: number }>
  username?: string
  password?: string
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean; servername?: string }
  clientName: string
  readFrom: 'primary' | 'replica'
  autoPipelining: boolean
  maxRetries: number
  dialTimeoutMs: number
  offlineQueueLimit: number
}

/** Reconnect forever with capped exponential-ish backoff; commands fail via timeouts / the offline bound. */
function backoff(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2000)
}

function nodeOptions(o: ValkeyConnectOptions): RedisOptions {
  const opts: RedisOptions = {
    connectionName: o.clientName,
    connectTimeout: o.dialTimeoutMs,
    maxRetriesPerRequest: o.maxRetries,
    // The store coalesces writes itself (write-coalescer.ts).
    enableAutoPipelining: false,
  }
  if (o.username !== undefined) opts.username = o.username
  if (o.password !== undefined) opts.password = o.password
  if (o.tls) {
    opts.tls = {
      ...(o.tls.ca === undefined ? {} : { ca: o.tls.ca }),
      ...(o.tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: o.tls.rejectUnauthorized }),
      ...(o.tls.servername === undefined ? {} : { servername: o.tls.servername }),
    }
  }
  return opts
}

/**
 * One-shot dial used only to explain a failure: iovalkey's cluster client reports unreachable seeds as
 * "Connection is closed", which hides whether it was a refusal, a TLS problem or bad credentials.
 */
async function diagnose(host: string, port: number, base: RedisOptions, timeoutMs: number): Promise<string> {
  const probe = new Redis({
    ...base,
    host,
    port,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  })
  let last: unknown
  probe.on('error', (error: unknown) => {
    last = error
  })
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      probe.connect().then(() => probe.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs}ms`)), timeoutMs)
      }),
    ])
    return 'reachable, but the cluster did not answer as expected'
  } catch (error) {
    return describeConnectError(last ?? error)
  } finally {
    clearTimeout(timer)
    probe.disconnect()
  }
}

const VAGUE = /Connection is closed|None of startup nodes|Failed to refresh slots cache/i

/**
 * Connects, then PINGs every node the store will use (cluster: every master, plus replicas for replica reads),
 * all within `dialTimeoutMs`. On failure the client is disconnected (no reconnect loop left behind) and the
 * ERR_CONNECT message lists every address with its reason.
 */
export async function connectValkeyStore(options: ValkeyConnectOptions): Promise<Store> {
  if (options.seeds.length === 0)
    throw new KeyshardError('ERR_CONFIG', 'connectValkeyStore needs at least one seed')
  const base = nodeOptions(options)
  const reasons = new Map<string, string>()
  const note = (address: string, error: unknown) => reasons.set(address, describeConnectError(error))
  let client: Redis | Cluster
  if (options.mode === 'single') {
    const seed = options.seeds[0] as { host: string; port: number }
    const redis = new Redis({
      ...base,
      host: seed.host,
      port: seed.port,
      lazyConnect: true,
      retryStrategy: backoff,
    })
    redis.on('error', (error: unknown) => note(addressOf(seed.host, seed.port), error))
    client = redis
  } else {
    const cluster = new Cluster(options.seeds, {
      lazyConnect: true,
      enableAutoPipelining: false,
      scaleReads: options.readFrom === 'replica' ? 'slave' : 'master',
      maxRedirections: 16,
      clusterRetryStrategy: (times) => backoff(times),
      slotsRefreshTimeout: options.dialTimeoutMs,
      redisOptions: base,
    })
    cluster.on('error', () => {})
    cluster.on('node error', (error: unknown, address: string) => note(address, error))
    client = cluster
  }
  defineScripts(client)

  const began = Date.now()
  const tried = new Set(options.seeds.map((s) => addressOf(s.host, s.port)))
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within dialTimeoutMs ${options.dialTimeoutMs}`)),
      options.dialTimeoutMs,
    )
  })
  const check = async () => {
    await client.connect()
    const nodes =
      client instanceof Cluster
        ? [...client.nodes('master'), ...(options.readFrom === 'replica' ? client.nodes('slave') : [])]
        : [client]
    if (client instanceof Cluster && client.nodes('master').length === 0)
      throw new Error('cluster has no masters')
    await Promise.all(
      nodes.map(async (node) => {
        const a = addressOf(node.options.host, node.options.port)
        tried.add(a)
        try {
          await node.ping()
        } catch (error) {
          note(a, error)
          throw error
        }
      }),
    )
  }
  const checking = check()
  checking.catch(() => {})
  try {
    await Promise.race([checking, deadline])
  } catch (error) {
    client.disconnect()
    const timedOut = error instanceof Error && error.message.includes('dialTimeoutMs')
    const fallback = timedOut ? `timeout (${(error as Error).message})` : describeConnectError(error)
    // Past the dial timeout a second dial would overrun it and report its own short limit as the reason, so a
    // vague reason then gives way to the timeout itself.
    const remaining = options.dialTimeoutMs - (Date.now() - began)
    await Promise.all(
      [...tried].map(async (a) => {
        const reason = reasons.get(a)
        if (reason !== undefined && !VAGUE.test(reason)) return
        if (timedOut || remaining <= 0) {
          reasons.set(a, fallback)
          return
        }
        const i = a.lastIndexOf(':')
        reasons.set(a, await diagnose(a.slice(0, i), Number(a.slice(i + 1)), base, remaining))
      }),
    )
    const lines = [...tried].map((a) => `${a}: ${reasons.get(a) ?? fallback}`)
    for (const [a, r] of reasons) if (!tried.has(a)) lines.push(`${a}: ${r}`)
    throw new KeyshardError(
      'ERR_CONNECT',
      `Could not connect to Valkey (${options.mode}) — tried ${lines.join('; ')}`,
      { cause: error, details: { addresses: [...tried], reasons: Object.fromEntries(reasons) } },
    )
  } finally {
    clearTimeout(timer)
  }

  const subscriberCandidates = (): Array<{ host: string; port: number }> => {
    if (!(client instanceof Cluster)) return [options.seeds[0] as { host: string; port: number }]
    const masters = mastersByAddress(client).map((n) => ({
      host: n.options.host ?? '127.0.0.1',
      port: n.options.port ?? 6379,
    }))
    return masters.length > 0 ? masters : options.seeds
  }
  const pingAddress = async (host: string, port: number): Promise<number> => {
    const probe = new Redis({
      ...base,
      host,
      port,
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    })
    probe.on('error', () => {})
    try {
      await probe.connect()
      const t0 = performance.now()
      await probe.ping()
      return performance.now() - t0
    } finally {
      probe.disconnect()
    }
  }
  return new ValkeyStore(client, {
    pingAddress,
    offlineQueueLimit: options.offlineQueueLimit,
    readFrom: options.readFrom,
    autoPipelining: options.autoPipelining,
    makeSubscriber: () => new Subscriber(subscriberCandidates, base),
  })
}
