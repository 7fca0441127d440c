import type { MeterProvider } from '@opentelemetry/api'
import type { Store } from './store/store.js'

/** A duration: milliseconds, or a string such as `'250ms'`, `'5s'`, `'5m'`, `'1h'`, `'2d'`. */
export type Duration = number | string
/** A TTL: a duration, or `null` for no expiry. */
export type Ttl = Duration | null

export type CacheMode = 'single' | 'cluster' | 'memory'

/** Turns values into bytes and back. Must be symmetric; must throw on values it cannot represent. */
export interface Encoder {
  /** Stable identifier; written into envelopes so a reader knows how a value was encoded. */
  readonly name: string
  /**
   * The value's bytes. A text format may return its string instead: it is stored as UTF-8 (the same bytes) and
   * skips a copy on the way to the socket; `decode` still receives a Buffer.
   */
  encode(value: unknown): Buffer | string
  decode(bytes: Buffer): unknown
}

/** A byte-to-byte step applied after encoding (e.g. compression). */
export interface Transformer {
  readonly name: string
  /** Returns the transformed bytes, or `null` to store the input unchanged (e.g. below a size threshold). */
  apply(bytes: Buffer): Buffer | null
  revert(bytes: Buffer): Buffer
}

export interface TlsOptions {
  /** PEM CA certificate(s) to trust, e.g. a private CA. */
  ca?: string | Buffer
  /** Verify the server certificate. @default true */
  rejectUnauthorized?: boolean
  /** SNI / certificate host name override. */
  servername?: string
}

export interface TimeoutOptions {
  /** get/set/delete/has and friends. @default '2s' */
  operation?: Duration
  /** increment/setIfAbsent/compute. @default '5s' */
  atomic?: Duration
  /** getMany/setMany/deleteMany/hasMany, scans and pattern deletes. @default '10s' */
  bulk?: Duration
  /** clear/flushAll. @default '30s' */
  flush?: Duration
}

export interface CacheOptions {
  /** @default 'memory' when no address is configured, else 'single' */
  mode?: CacheMode
  /** Seed addresses (`host:port`) or one `redis://`, `rediss://` or `valkey://` URL. */
  addresses?: string[] | string
  url?: string
  username?: string
  password?: string
  /** `true` for TLS with the system CAs, or options with a custom CA. */
  tls?: boolean | TlsOptions
  /** CLIENT SETNAME for every connection. @default 'keyshard' */
  clientName?: string
  /** Where reads go in cluster mode. @default 'primary' */
  readFrom?: 'primary' | 'replica'
  /**
   * Send the commands issued in the same tick to each node in one socket write (on a cluster, single-key get/set
   * wait for the end of the event-loop turn, so replies from several masters wake one write per master).
   * @default true
   */
  autoPipelining?: boolean
  /** Connection pool size hint (iovalkey multiplexes one connection per node; kept for env parity). @default 1 */
  poolSize?: number
  /** Retries per command on connection errors before it fails. @default 1 */
  maxRetries?: number
  /**
   * How long `createCache` waits for every node to answer. Also how long the L1's subscriber connection may go
   * without a reply before it counts as down (but at least 1 s, so that a stall of this process's own event loop
   * does not drop a healthy link), so it bounds how long an L1 on a hung node serves stale values: at most
   * max(dialTimeout, 1 s) + 1 s.
   * @default '5s'
   */
  dialTimeout?: Duration
  /** Read/write socket deadlines mapped onto the operation timeout when set. */
  readTimeout?: Duration
  writeTimeout?: Duration
  /** Prepended to every key. Must not contain `{` or `}`. @default 'ks:' */
  prefix?: string
  /** Default TTL for namespaces that set none. @default '1h' */
  defaultTtl?: Ttl
  /** Default encoder. @default richJsonEncoder */
  encoder?: Encoder
  /** Byte transformers applied after encoding, e.g. `compression({ threshold: 1024 })`. */
  transformers?: Transformer[]
  /** Largest encoded value accepted. @default 16 MiB */
  maxValueBytes?: number
  /** @default 10 */
  maxComputeRetries?: number
  timeouts?: TimeoutOptions
  /** How a failed plain read reports: reject, or resolve as a miss and emit `error`. @default 'throw' */
  onError?: 'throw' | 'miss'
  /** Commands queued while disconnected before new ones are rejected. @default 1000 */
  offlineQueueLimit?: number
  /** Allow `flushAll()` to FLUSHDB every master. @default false */
  allowUnsafeFlush?: boolean
  /** In-process L1 tier kept coherent across instances over Pub/Sub. @default disabled */
  l1?: L1Options | false
  /**
   * Announce every mutation to other instances' L1 tiers. Always on with `l1`; turn it on for instances that
   * write without an L1 of their own (a worker, an admin process) while other instances read through one.
   * @default true with `l1`, else false
   */
  publishInvalidations?: boolean
  /** Defaults for `getOrSet` / `getManyOrSet`. */
  readThrough?: ReadThroughOptions
  /** OpenTelemetry instruments; `false` turns them off (stats() keeps counting). @default the global MeterProvider */
  metrics?: { meterProvider?: MeterProvider } | false
  /** Memory store bounds (mode 'memory'). */
  memory?: MemoryStoreOptions
  /** Bring your own store (tests, custom backends). Overrides mode/addresses. */
  store?: Store
  /** Read the process environment for options not given here. @default true */
  fromEnv?: boolean
  /** Environment to read when `fromEnv` is on. @default process.env */
  env?: Record<string, string | undefined>
}

export interface MemoryStoreOptions {
  /** @default 100_000 */
  maxEntries?: number
  /** @default 256 MiB */
  maxBytes?: number
}

export interface NamespaceOptions {
  /** TTL for writes that give none. @default the cache's defaultTtl */
  defaultTtl?: Ttl
  encoder?: Encoder
  transformers?: Transformer[]
}

export interface SetOptions {
  ttl?: Ttl
  tags?: readonly string[]
}

export interface IncrementOptions {
  /** Applied only when the increment creates the key. */
  ttl?: Ttl
}

export interface KeysOptions {
  /** Glob over user keys (the namespace is added and escaped for you). @default '*' */
  match?: string
  cursor?: string
  /** SCAN COUNT hint per master. @default 100 */
  count?: number
}

export interface KeysPage {
  keys: string[]
  /** Pass back to continue; `undefined` when done. */
  cursor: string | undefined
}

export interface SetManyEntry<T> {
  key: string
  value: T
  ttl?: Ttl
  tags?: readonly string[]
}

/** The in-process L1 tier in front of the store. Values are kept decoded and shared: treat them as read-only. */
export interface L1Options {
  /** @default 10_000 */
  maxEntries?: number
  /** Counted as encoded bytes plus key length. @default 64 MiB */
  maxBytes?: number
  /** Longest an entry stays in L1 (never past its own TTL). @default '1m' */
  ttl?: Duration
}

export interface LockOptions {
  /** How long the cross-instance load lock lives if its owner dies. @default '10s' */
  ttl?: Duration
  /** How long a caller waits for another instance's load before loading itself. @default '5s' */
  timeout?: Duration
}

/** Cache-wide read-through defaults; `getOrSet` options override the first five per call. */
export interface ReadThroughOptions {
  /** How long past its TTL an entry may still be served when the loader fails or is slow. @default 0 */
  grace?: Duration
  /** Soft timeout: with a stale value at hand, answer with it after this long and let the load finish behind. */
  timeout?: Duration
  /** Hard timeout: reject with ERR_TIMEOUT (or serve stale) after this long, whatever the loader does. */
  hardTimeout?: Duration
  lock?: LockOptions
  /** Per namespace; `false` disables it. @default { failureThreshold: 5, openMs: 10_000 } */
  circuitBreaker?: { failureThreshold?: number; openMs?: number } | false
  /** Per namespace token bucket for loader calls. @default none */
  rateLimit?: { perSecond: number; burst?: number }
}

export interface GetOrSetOptions extends SetOptions {
  grace?: Duration
  timeout?: Duration
  hardTimeout?: Duration
  lock?: LockOptions
  /**
   * Early refresh: a read that finds the entry with less than this left before its TTL answers with it and
   * refreshes it in the background (one instance, under the load lock). @default off
   */
  earlyRefresh?: Duration
}

/** Handed to a loader so it can adapt what gets cached (adaptive caching). */
export interface LoaderContext<T> {
  /** The expired value still inside its grace window, if any. */
  readonly stale: T | undefined
  setTtl(ttl: Ttl): void
  setTags(tags: readonly string[]): void
  /** Return the value to the caller without caching it. */
  skip(): void
}

export type Loader<T> = (ctx: LoaderContext<T>) => T | Promise<T>

/** Loads the given missing keys in one call; return a Map or an array aligned with `keys` (undefined: not found). */
export type BatchLoader<T> = (
  keys: string[],
) => Promise<Map<string, T> | Array<T | undefined>> | Map<string, T> | Array<T | undefined>
