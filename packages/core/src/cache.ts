import { type ResolvedCacheOptions, resolveCacheOptions } from './config.js'
import { resolveTtl } from './duration.js'
import { KeyshardError } from './errors.js'
import { CacheEvents, type CacheEventName, type CacheListener } from './events.js'
import { validateNamespace } from './keys.js'
import { Namespace, type NamespaceContext } from './namespace.js'
import { connectValkeyStore } from './store/connect.js'
import { MemoryStore } from './store/memory-store.js'
import type { Store, StoreHealth } from './store/store.js'
import { TagEpochs } from './tag-epochs.js'
import type { CacheOptions, NamespaceOptions } from './types.js'
import { ValueCodec } from './value-codec.js'

/**
 * One cache = one client (or memory store) and its settings. Namespaces are cheap typed views over it; every
 * namespace shares the same connections.
 */
export class Cache {
  readonly options: ResolvedCacheOptions
  readonly store: Store
  readonly #events = new CacheEvents()
  readonly #ctx: NamespaceContext
  #closed: Promise<void> | undefined

  readonly #ownsStore: boolean

  /** @param ownsStore whether close() closes the store; a store passed in by the user stays the user's. */
  constructor(store: Store, options: ResolvedCacheOptions, ownsStore = true) {
    this.store = store
    this.options = options
    this.#ownsStore = ownsStore
    this.#ctx = {
      state: { closed: false },
      store,
      events: this.#events,
      epochs: new TagEpochs(store, options.prefix),
      prefix: options.prefix,
      timeouts: options.timeouts,
      onError: options.onError,
      maxComputeRetries: options.maxComputeRetries,
    }
  }

  get mode(): Store['kind'] {
    return this.store.kind
  }

  /** A typed view over `prefix + name + ':'`. Names may not contain braces or start with `__` (reserved). */
  namespace<T = unknown>(name: string, options: NamespaceOptions = {}): Namespace<T> {
    validateNamespace(name)
    const codec = new ValueCodec({
      encoder: options.encoder ?? this.options.encoder,
      transformers: options.transformers ?? this.options.transformers,
      maxValueBytes: this.options.maxValueBytes,
    })
    const defaultTtlMs = options.defaultTtl === undefined ? this.options.defaultTtlMs : resolveTtl(options.defaultTtl, null)
    return new Namespace<T>(name, this.#ctx, codec, defaultTtlMs)
  }

  on<E extends CacheEventName>(event: E, listener: CacheListener<E>): this {
    this.#events.on(event, listener)
    return this
  }

  once<E extends CacheEventName>(event: E, listener: CacheListener<E>): this {
    this.#events.once(event, listener)
    return this
  }

  off<E extends CacheEventName>(event: E, listener: CacheListener<E>): this {
    this.#events.off(event, listener)
    return this
  }

  /** FLUSHDB on every master — every key of every application on the server. Refused unless allowUnsafeFlush. */
  async flushAll(): Promise<void> {
    if (!this.options.allowUnsafeFlush) {
      throw new KeyshardError(
        'ERR_UNSAFE_FLUSH',
        'flushAll() deletes every key on every master, including other applications\' keys. Use namespace.clear(), or create the cache with allowUnsafeFlush: true if you really mean it.',
      )
    }
    await this.store.flushAll({ timeoutMs: this.options.timeouts.flushMs })
  }

  /** Every node: reachable, role, latency, slots; cluster state and slot coverage. */
  health(): Promise<StoreHealth> {
    return this.store.health({ timeoutMs: this.options.timeouts.operationMs })
  }

  /** Waits for in-flight commands, then closes every connection. Safe to call more than once. */
  close(): Promise<void> {
    this.#ctx.state.closed = true
    this.#closed ??= (this.#ownsStore ? this.store.close() : Promise.resolve()).finally(() => this.#events.removeAll())
    return this.#closed
  }
}

/**
 * Creates a cache and verifies it can reach every node it needs before resolving. With no options the
 * environment is read (CACHE_* / REDIS_*); with nothing configured there, the memory store is used.
 */
export async function createCache(options: CacheOptions = {}): Promise<Cache> {
  const resolved = resolveCacheOptions(options)
  const store = resolved.store ?? (resolved.mode === 'memory' ? new MemoryStore(resolved.memory) : await connectValkeyStore({
    mode: resolved.mode,
    seeds: resolved.seeds,
    ...(resolved.username === undefined ? {} : { username: resolved.username }),
    ...(resolved.password === undefined ? {} : { password: resolved.password }),
    ...(resolved.tls === undefined ? {} : { tls: resolved.tls }),
    clientName: resolved.clientName,
    readFrom: resolved.readFrom,
    autoPipelining: resolved.autoPipelining,
    maxRetries: resolved.maxRetries,
    dialTimeoutMs: resolved.dialTimeoutMs,
    offlineQueueLimit: resolved.offlineQueueLimit,
  }))
  return new Cache(store, resolved, options.store === undefined)
}
