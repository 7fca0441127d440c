import { type ResolvedCacheOptions, resolveCacheOptions } from './config.js'
import { resolveTtl } from './duration.js'
import { asKeyshardError, KeyshardError } from './errors.js'
import { CacheEvents, type CacheEventName, type CacheListener } from './events.js'
import { validateNamespace } from './keys.js'
import { announcedAfter } from './l1/announced-after.js'
import { InvalidationPublisher } from './l1/invalidation-publisher.js'
import { L1Tier, resolveL1Options } from './l1/l1-tier.js'
import { Namespace, type NamespaceContext } from './namespace.js'
import { CacheObserver } from './observability/metrics.js'
import type { CacheStats } from './observability/stats.js'
import { ReadThroughShared, resolveReadThroughDefaults } from './read-through/read-through.js'
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
  readonly #observer: CacheObserver
  readonly #l1: L1Tier | undefined
  readonly #publisher: InvalidationPublisher | undefined
  readonly #readThrough: ReadThroughShared
  readonly #l1Ready: Promise<void>

  /**
   * @param ownsStore whether close() closes the store; a store passed in by the user stays the user's.
   * @param features read-through, L1 and metrics options (not part of the resolved connection settings).
   */
  constructor(
    store: Store,
    options: ResolvedCacheOptions,
    ownsStore = true,
    features: Pick<CacheOptions, 'l1' | 'publishInvalidations' | 'readThrough' | 'metrics'> = {},
  ) {
    this.store = store
    this.options = options
    this.#ownsStore = ownsStore
    this.#observer = new CacheObserver(features.metrics ?? {})
    this.#observer.attach(this.#events)
    this.#l1 =
      features.l1 === undefined || features.l1 === false
        ? undefined
        : new L1Tier(store, options.prefix, resolveL1Options(features.l1), (error, operation) =>
            this.#events.emit('error', { error: asKeyshardError(error, 'ERR_COMMAND'), operation }),
          )
    const publishInvalidations = features.publishInvalidations ?? this.#l1 !== undefined
    if (typeof publishInvalidations !== 'boolean')
      throw new KeyshardError('ERR_CONFIG', 'option publishInvalidations must be true or false', {
        details: { option: 'publishInvalidations' },
      })
    if (!publishInvalidations && this.#l1 !== undefined)
      throw new KeyshardError(
        'ERR_CONFIG',
        'option publishInvalidations cannot be false with l1 enabled: the other instances would serve stale values',
        { details: { option: 'publishInvalidations' } },
      )
    this.#publisher =
      this.#l1 === undefined && publishInvalidations
        ? new InvalidationPublisher(store, options.prefix, (error, operation) =>
            this.#events.emit('error', { error: asKeyshardError(error, 'ERR_COMMAND'), operation }),
          )
        : undefined
    this.#readThrough = new ReadThroughShared(resolveReadThroughDefaults(features.readThrough), {
      store,
      events: this.#events,
      prefix: options.prefix,
      operationMs: options.timeouts.operationMs,
      l1: this.#l1,
      observer: this.#observer,
    })
    this.#ctx = {
      state: { closed: false },
      store,
      events: this.#events,
      epochs: new TagEpochs(store, options.prefix),
      prefix: options.prefix,
      timeouts: options.timeouts,
      onError: options.onError,
      maxComputeRetries: options.maxComputeRetries,
      readThrough: this.#readThrough,
      observer: this.#observer,
      ...(this.#l1 === undefined ? {} : { l1: this.#l1, invalidations: this.#l1 }),
      ...(this.#publisher === undefined ? {} : { invalidations: this.#publisher }),
    }
    // Last: every option above may still throw, and a subscription made before would outlive the failed cache.
    this.#l1Ready = this.#l1?.start() ?? Promise.resolve()
  }

  /** Resolves once the L1 coherence subscription is up (or has failed and been reported); L1 is bypassed until then. */
  ready(): Promise<void> {
    return this.#l1Ready
  }

  /** Counters since creation and recent per-operation latency percentiles (ms). */
  stats(): CacheStats {
    return this.#observer.stats.snapshot()
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
    const defaultTtlMs =
      options.defaultTtl === undefined ? this.options.defaultTtlMs : resolveTtl(options.defaultTtl, null)
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

  /**
   * FLUSHDB on every master — every key of every application on the server — and the L1 of every instance of this
   * prefix. Refused unless allowUnsafeFlush.
   */
  async flushAll(): Promise<void> {
    if (!this.options.allowUnsafeFlush) {
      throw new KeyshardError(
        'ERR_UNSAFE_FLUSH',
        "flushAll() deletes every key on every master, including other applications' keys. Use namespace.clear(), or create the cache with allowUnsafeFlush: true if you really mean it.",
      )
    }
    const timeoutMs = this.options.timeouts.flushMs
    // Announced also on failure: the masters flushed before one failed have lost their keys all the same.
    await announcedAfter(
      timeoutMs,
      () => this.store.flushAll({ timeoutMs }),
      (left) => this.#ctx.invalidations?.invalidateAll(left),
    )
  }

  /** Every node: reachable, role, latency, slots; cluster state and slot coverage. */
  health(): Promise<StoreHealth> {
    return this.store.health({ timeoutMs: this.options.timeouts.operationMs })
  }

  /** Waits for in-flight commands, then closes every connection. Safe to call more than once. */
  close(): Promise<void> {
    this.#ctx.state.closed = true
    // Background refreshes and lock releases get a short chance to land before the connections go.
    this.#closed ??= this.#readThrough
      .drain(this.options.timeouts.operationMs)
      .then(() => {
        this.#publisher?.close()
        return this.#l1?.close()
      })
      .then(() => (this.#ownsStore ? this.store.close() : undefined))
      .finally(() => this.#events.removeAll())
    return this.#closed
  }
}

/**
 * Creates a cache and verifies it can reach every node it needs before resolving. With no options the
 * environment is read (CACHE_* / REDIS_*); with nothing configured there, the memory store is used.
 */
export async function createCache(options: CacheOptions = {}): Promise<Cache> {
  const resolved = resolveCacheOptions(options)
  const store =
    resolved.store ??
    (resolved.mode === 'memory'
      ? new MemoryStore(resolved.memory)
      : await connectValkeyStore({
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
  let cache: Cache
  try {
    cache = new Cache(store, resolved, options.store === undefined, options)
  } catch (error) {
    // Bad l1 / readThrough / metrics options: do not leave the connection we just opened behind.
    if (options.store === undefined) await store.close().catch(() => undefined)
    throw error
  }
  await cache.ready()
  return cache
}
