import { Redis, type RedisOptions } from 'iovalkey'
import { KeyshardError } from '../errors.js'
import { toKeyshardError } from './wire-errors.js'
import { quitWithin, withTimeout } from './with-timeout.js'

/** A hung server must not hold close() (see quitWithin). */
const QUIT_MS = 1000

interface Handler {
  onMessage: (message: string) => void
  onLinkChange: ((up: boolean) => void) | undefined
}

/**
 * The one dedicated pub/sub connection of a store. Classic pub/sub reaches every cluster node, so a single
 * connection to any node hears everything; when that node stays down, the next candidate address is tried.
 * We resubscribe ourselves (autoResubscribe off) so `onLinkChange(true)` fires only once the server acked.
 */
export class Subscriber {
  readonly #candidates: () => Array<{ host: string; port: number }>
  readonly #options: RedisOptions
  readonly #handlers = new Map<string, Set<Handler>>()
  #conn: Redis | undefined
  #ready: Promise<void> | undefined
  #up = false
  #closed = false
  #attempt = 0

  constructor(candidates: () => Array<{ host: string; port: number }>, options: RedisOptions) {
    this.#candidates = candidates
    this.#options = options
  }

  #connect(): Promise<void> {
    const list = this.#candidates()
    const target = list[this.#attempt % Math.max(1, list.length)]
    if (!target) return Promise.reject(new KeyshardError('ERR_CONNECT', 'SUBSCRIBE: no node to subscribe on'))
    const conn = new Redis({
      ...this.#options,
      host: target.host,
      port: target.port,
      lazyConnect: true,
      autoResubscribe: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      // A few quick retries on the same node, then give up so another node can be tried.
      retryStrategy: (times) => (list.length > 1 && times > 3 ? null : Math.min(times * 100, 2000)),
    })
    this.#conn = conn
    conn.on('error', () => {})
    conn.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      for (const h of this.#handlers.get(channel.toString()) ?? []) h.onMessage(message.toString())
    })
    conn.on('close', () => this.#setUp(false))
    conn.on('ready', () => {
      if (!this.#up && this.#handlers.size > 0 && this.#ready !== undefined) {
        conn.subscribe(...this.#handlers.keys()).then(
          () => this.#setUp(true),
          () => {},
        )
      }
    })
    conn.on('end', () => {
      if (this.#closed || this.#conn !== conn) return
      this.#attempt++
      // The new connection's 'ready' listener resubscribes; a failure here is the next 'end'.
      this.#connect().catch(() => {})
    })
    return conn.connect()
  }

  #setUp(up: boolean): void {
    if (this.#up === up) return
    this.#up = up
    for (const set of this.#handlers.values()) for (const h of set) h.onLinkChange?.(up)
  }

  async add(
    channel: string,
    onMessage: (message: string) => void,
    onLinkChange?: (up: boolean) => void,
  ): Promise<() => Promise<void>> {
    this.#ready ??= this.#connect()
    try {
      await this.#ready
    } catch (error) {
      this.#ready = undefined
      this.#conn?.disconnect()
      throw toKeyshardError(error, 'SUBSCRIBE connect')
    }
    const handler: Handler = { onMessage, onLinkChange }
    let set = this.#handlers.get(channel)
    if (!set) {
      set = new Set()
      this.#handlers.set(channel, set)
    }
    set.add(handler)
    try {
      await this.#conn?.subscribe(channel)
      // Only the first channel makes the link "up" here (its caller learns that from add() resolving). With
      // others, the link is up once the 'ready' listener has resubscribed them all and told their handlers; a
      // SUBSCRIBE queued during an outage must not claim that for them.
      if (this.#handlers.size === 1) this.#up = true
    } catch (error) {
      set.delete(handler)
      if (set.size === 0) this.#handlers.delete(channel)
      throw toKeyshardError(error, `SUBSCRIBE ${channel}`)
    }
    let removed = false
    return async () => {
      if (removed) return
      removed = true
      set.delete(handler)
      if (set.size === 0 && this.#handlers.get(channel) === set) {
        this.#handlers.delete(channel)
        if (!this.#closed && this.#conn?.status === 'ready') {
          // Bounded like QUIT: an L1 closing against a hung server must not hold its cache's close().
          await withTimeout(this.#conn.unsubscribe(channel), QUIT_MS, 'UNSUBSCRIBE').catch(() => {})
        }
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const conn = this.#conn
    if (conn) await quitWithin(conn, QUIT_MS)
  }
}
