import { Redis, type RedisOptions } from 'iovalkey'
import { KeyshardError } from '../errors.js'
import { toKeyshardError } from './wire-errors.js'
import { quitWithin, withTimeout } from './with-timeout.js'

/** A hung server must not hold close() (see quitWithin). */
const QUIT_MS = 1000
/**
 * How often the subscriber connection is PINGed. Together with the reply deadline this bounds how long an L1 keeps
 * serving from a link to a node that hangs with its TCP connection open (no 'close' ever fires then).
 */
const PING_EVERY_MS = 1000
/** The reply deadline when the options name no dial timeout (the dial timeout's own default). */
const DEFAULT_REPLY_MS = 5000
/**
 * The reply deadline's floor. iovalkey's socketTimeout timer also runs while this process's event loop is blocked,
 * and timers fire before the socket is read: with a 100 ms dial timeout, a 300 ms stall in the application right
 * after a PING went out dropped a link whose server had long answered (then an L1 flush and a reconnect).
 */
const MIN_REPLY_MS = 1000

interface Handler {
  onMessage: (message: string) => void
  onLinkChange: ((up: boolean) => void) | undefined
}

/**
 * The one dedicated pub/sub connection of a store. Classic pub/sub reaches every cluster node, so a single
 * connection to any node hears everything; when that node stays down, the next candidate address is tried.
 * We resubscribe ourselves (autoResubscribe off) so `onLinkChange(true)` fires only once the server acked.
 *
 * Liveness: a hung node keeps the socket open, so while there are channels the connection is PINGed every
 * PING_EVERY_MS and any command (PING, SUBSCRIBE, the connect handshake) left without a byte back for the dial
 * timeout (at least MIN_REPLY_MS) destroys the socket (iovalkey's socketTimeout). That is an ordinary drop: the
 * link goes down, the L1 flushes, and reconnection runs as after any other drop.
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
  /**
   * Reuses the dial timeout, floored at MIN_REPLY_MS: a node that does not answer within it counts as unreachable,
   * as at connect. Dialing itself keeps the dial timeout as given (connectTimeout stays in the options).
   */
  readonly #replyMs: number
  #pinger: ReturnType<typeof setInterval> | undefined
  /** The connection with a PING in flight, so a hung one does not pile them up. */
  #pinging: Redis | undefined

  constructor(candidates: () => Array<{ host: string; port: number }>, options: RedisOptions) {
    this.#candidates = candidates
    this.#options = options
    this.#replyMs = Math.max(options.connectTimeout ?? DEFAULT_REPLY_MS, MIN_REPLY_MS)
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
      socketTimeout: this.#replyMs,
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

  #startPinging(): void {
    if (this.#pinger !== undefined || this.#closed || this.#handlers.size === 0) return
    this.#pinger = setInterval(() => this.#ping(), PING_EVERY_MS)
    this.#pinger.unref()
  }

  #stopPinging(): void {
    clearInterval(this.#pinger)
    this.#pinger = undefined
  }

  #ping(): void {
    const conn = this.#conn
    if (this.#closed || this.#handlers.size === 0) return
    if (conn?.status !== 'ready' || this.#pinging === conn) return
    this.#pinging = conn
    // A missing reply is handled by socketTimeout, not here; this only frees the slot for the next PING.
    const settle = () => {
      if (this.#pinging === conn) this.#pinging = undefined
    }
    conn.ping().then(settle, settle)
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
    this.#startPinging()
    try {
      await this.#conn?.subscribe(channel)
      // Only the first channel makes the link "up" here (its caller learns that from add() resolving). With
      // others, the link is up once the 'ready' listener has resubscribed them all and told their handlers; a
      // SUBSCRIBE queued during an outage must not claim that for them.
      if (this.#handlers.size === 1) this.#up = true
    } catch (error) {
      set.delete(handler)
      if (set.size === 0) this.#handlers.delete(channel)
      if (this.#handlers.size === 0) this.#stopPinging()
      throw toKeyshardError(error, `SUBSCRIBE ${channel}`)
    }
    let removed = false
    return async () => {
      if (removed) return
      removed = true
      set.delete(handler)
      if (set.size === 0 && this.#handlers.get(channel) === set) {
        this.#handlers.delete(channel)
        if (this.#handlers.size === 0) this.#stopPinging()
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
    this.#stopPinging()
    const conn = this.#conn
    if (conn) await quitWithin(conn, QUIT_MS)
  }
}
