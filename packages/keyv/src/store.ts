import { EventEmitter } from 'node:events'
import {
  type Cache,
  type CacheEventMap,
  type CacheOptions,
  createCache,
  type Encoder,
  KeyshardError,
  type Namespace,
  rawStringEncoder,
} from '@keyshard/core'

/** The Keyshard namespace used when neither Keyv nor the store's options give one. */
export const DEFAULT_NAMESPACE = 'keyv'

/**
 * What a store reads from: an existing cache (shared, left open by the store), one namespace of it, options for
 * a cache of its own, or, as with `@keyv/redis`, a `redis://` / `rediss://` / `valkey://` URL for one.
 */
export type KeyshardStoreSource = Cache | Namespace<unknown> | CacheOptions | string

export interface KeyshardStoreOptions {
  /**
   * The Keyshard namespace used whenever Keyv gives the store no (or an empty) namespace. Keyv 5 gives its own
   * `namespace` option, `'keyv'` unless set, so this applies there only with `namespace: undefined` or `''`;
   * Keyv 6 has no default namespace and keeps this one unless its `namespace` option is set.
   * @default 'keyv'
   */
  namespace?: string
  /**
   * How values are stored. Keyv serializes values to strings itself, so the default stores Keyv's string as
   * its exact UTF-8 bytes. Pass a rich encoder (e.g. `richJsonEncoder`) only if you turned Keyv's
   * serialization off and hand the store objects.
   * @default rawStringEncoder
   */
  encoder?: Encoder
}

type Source =
  | { kind: 'cache'; cache: Cache }
  | { kind: 'namespace'; namespace: Namespace<unknown> }
  | { kind: 'options'; options: CacheOptions }

function classify(source: KeyshardStoreSource | undefined): Source {
  if (source === null || (source !== undefined && typeof source !== 'object' && typeof source !== 'string')) {
    throw new KeyshardError(
      'ERR_CONFIG',
      `A Keyv store reads from a Cache, a Namespace, cache options or a URL, got ${source === null ? 'null' : typeof source}`,
      { details: { option: 'source' } },
    )
  }
  // Duck-typed rather than instanceof: the core may be loaded twice (src and dist) in one process.
  if (
    source !== undefined &&
    typeof (source as Cache).namespace === 'function' &&
    typeof (source as Cache).close === 'function'
  ) {
    return { kind: 'cache', cache: source as Cache }
  }
  if (
    source !== undefined &&
    typeof (source as Namespace).fullKey === 'function' &&
    typeof (source as Namespace).deletePattern === 'function'
  ) {
    return { kind: 'namespace', namespace: source as Namespace<unknown> }
  }
  if (typeof source === 'string') return { kind: 'options', options: { url: source } }
  return { kind: 'options', options: (source ?? {}) as CacheOptions }
}

/**
 * The part shared by the Keyv 5 and Keyv 6 stores: mapping Keyv's namespace and keys onto one Keyshard
 * namespace, owning (or not) the cache, and forwarding the cache's error events.
 */
export abstract class KeyshardStoreBase extends EventEmitter {
  /** Keyv 5 wires `iterator` only for stores whose `opts.dialect` it knows; Keyshard speaks the Redis protocol. */
  readonly opts: { dialect: 'redis'; url: string }
  readonly #encoder: Encoder
  readonly #pinned: Namespace<unknown> | undefined
  readonly #owned: boolean
  readonly #fallbackName: string
  #cache: Cache | undefined
  #connecting: Promise<Cache> | undefined
  #namespaceName: string
  #keyvNamespace: string | undefined
  /** `<keyv namespace>:`, kept so the hot path does not build it on every call. */
  #keyvPrefix: string | undefined
  /** `<keyv namespace>:`, or a bare `:` without one: what Keyv 5 expects before each iterated key (see userKey). */
  #head = ':'
  #view: Namespace<unknown> | undefined
  #disconnected = false
  readonly #forwardError = (payload: CacheEventMap['error']): void => {
    // The cache is shared by every namespace; only this store's errors (or connection-wide ones) belong here.
    if (payload.namespace !== undefined && payload.namespace !== this.#namespaceName) return
    this.emitError(payload.error)
  }

  constructor(source?: KeyshardStoreSource, options: KeyshardStoreOptions = {}) {
    super()
    const kind = classify(source)
    this.#encoder = options.encoder ?? rawStringEncoder
    this.#fallbackName = options.namespace ?? DEFAULT_NAMESPACE
    this.#namespaceName = this.#fallbackName
    this.opts = { dialect: 'redis', url: 'keyshard://' }
    if (kind.kind === 'namespace') {
      this.#pinned = kind.namespace
      this.#namespaceName = kind.namespace.name
      this.#owned = false
    } else if (kind.kind === 'cache') {
      this.#owned = false
      this.#attach(kind.cache)
    } else {
      this.#owned = true
      this.#connecting = createCache(kind.options).then(
        (cache) => {
          if (this.#disconnected) {
            void cache.close()
            throw new KeyshardError(
              'ERR_CLOSED',
              'The Keyv store was disconnected before its cache connected',
            )
          }
          this.#attach(cache)
          return cache
        },
        (error: unknown) => {
          this.emitError(error)
          throw error
        },
      )
      // The rejection is reported as an 'error' event and again by every call; it must not be unhandled.
      this.#connecting.catch(() => {})
    }
  }

  /**
   * The Keyv namespace. Keyv sets it when the store is attached; the store then reads and writes the Keyshard
   * namespace of the same name, so Valkey keys are exactly `<prefix><namespace>:<key>`. A store built on a
   * Namespace keeps that namespace whatever Keyv says.
   */
  get namespace(): string | undefined {
    return this.#keyvNamespace
  }

  set namespace(value: string | undefined) {
    this.#keyvNamespace = value === '' ? undefined : value
    this.#keyvPrefix = this.#keyvNamespace === undefined ? undefined : `${this.#keyvNamespace}:`
    this.#head = this.#keyvPrefix ?? ':'
    if (this.#pinned !== undefined) return
    const next = this.#keyvNamespace ?? this.#fallbackName
    if (next !== this.#namespaceName) {
      this.#namespaceName = next
      this.#view = undefined
    }
  }

  /** The Keyshard namespace the store reads and writes: Keyv's, else the `namespace` option, else a pinned one's. */
  protected get namespaceName(): string {
    return this.#namespaceName
  }

  /** The Keyshard cache behind this store, once connected (undefined for a store built on a Namespace). */
  get cache(): Cache | undefined {
    return this.#cache
  }

  /**
   * Resolves once the cache this store owns is connected and the current namespace is one Keyshard accepts;
   * rejects with the connection error or ERR_CONFIG.
   */
  async ready(): Promise<void> {
    await this.view()
  }

  /** Deletes every key of this store's namespace, on every master, and nothing else. */
  async clear(): Promise<void> {
    await (this.current ?? (await this.view())).clear()
  }

  async delete(key: string): Promise<boolean> {
    return (this.current ?? (await this.view())).delete(this.userKey(key))
  }

  async has(key: string): Promise<boolean> {
    return (this.current ?? (await this.view())).has(this.userKey(key))
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    return (this.current ?? (await this.view())).hasMany(keys.map((k) => this.userKey(k)))
  }

  // get and set are not async: on the hot path an async wrapper around the namespace's promise costs extra ticks.
  get<Value>(key: string): Promise<Value | undefined> {
    const view = this.current
    const read =
      view === undefined ? this.view().then((v) => v.get(this.userKey(key))) : view.get(this.userKey(key))
    return read as Promise<Value | undefined>
  }

  async getMany<Value>(keys: string[]): Promise<Array<Value | undefined>> {
    return (this.current ?? (await this.view())).getMany(keys.map((k) => this.userKey(k))) as Promise<
      Array<Value | undefined>
    >
  }

  /** Stops forwarding errors and, when the store created its cache, closes the connection. Idempotent. */
  async disconnect(): Promise<void> {
    if (this.#disconnected) return
    this.#disconnected = true
    this.#cache?.off('error', this.#forwardError)
    if (!this.#owned) return
    const cache = this.#cache ?? (await this.#connecting?.catch(() => undefined))
    await cache?.close()
  }

  /** The view when it already exists: the hot path then skips view()'s extra promise. */
  protected get current(): Namespace<unknown> | undefined {
    return this.#pinned ?? this.#view
  }

  /** The Keyshard namespace for the current Keyv namespace. */
  protected async view(): Promise<Namespace<unknown>> {
    if (this.#pinned !== undefined) return this.#pinned
    if (this.#view !== undefined) return this.#view
    if (this.#disconnected && this.#owned) {
      throw new KeyshardError('ERR_CLOSED', 'This Keyv store was disconnected; create a new one')
    }
    const cache = this.#cache ?? (await (this.#connecting as Promise<Cache>))
    const name = this.#namespaceName
    // Keyv semantics: no ttl means no expiry, so the cache's default TTL must not apply. No transformers:
    // Keyv has its own compression, and the stored bytes stay Keyv's string, readable by other Keyv stores.
    const view = cache.namespace<unknown>(name, {
      defaultTtl: null,
      encoder: this.#encoder,
      transformers: [],
    })
    if (name === this.#namespaceName) this.#view = view
    return view
  }

  /**
   * The Keyshard key for a key as Keyv 5 hands it over. Keyv prefixes keys with `<namespace>:`, which the Keyshard
   * namespace already carries, so it is dropped once: Keyv's `''` and `'<namespace>:'` (one key to Keyv) become the
   * empty key. Keyshard refuses empty keys, so a key made only of heads (`<namespace>:`, or `:` without a
   * namespace), the empty one included, is stored with one head more; no two Keyv keys share a Keyshard key.
   */
  protected userKey(key: string): string {
    const prefix = this.#keyvPrefix
    const bare =
      prefix !== undefined && typeof key === 'string' && key.startsWith(prefix)
        ? key.slice(prefix.length)
        : key
    return typeof bare === 'string' && isRepeatOf(bare, this.#head) ? this.#head + bare : bare
  }

  /** The key Keyv 5's iterator expects for a Keyshard key: the inverse of {@link userKey}, behind the head. */
  protected iteratedKey(stored: string): string {
    return this.#head + (isRepeatOf(stored, this.#head) ? stored.slice(this.#head.length) : stored)
  }

  /**
   * Writes Keyv entries with core TTLs in one batch; an entry whose TTL is {@link EXPIRED} deletes its key instead.
   * The last entry for a key wins, as it would written one by one.
   */
  protected async setEntries(
    entries: ReadonlyArray<{ key: string; value: unknown; ttl: number | null }>,
  ): Promise<void> {
    const view = this.current ?? (await this.view())
    const last = new Map<string, { value: unknown; ttl: number | null }>()
    for (const e of entries) last.set(this.userKey(e.key), { value: e.value, ttl: e.ttl })
    const live: Array<{ key: string; value: unknown; ttl: number | null }> = []
    const expired: string[] = []
    for (const [key, e] of last) {
      if (e.ttl === EXPIRED) expired.push(key)
      else live.push({ key, value: e.value, ttl: e.ttl })
    }
    await Promise.all([
      live.length > 0 ? view.setMany(live) : undefined,
      expired.length > 0 ? view.deleteMany(expired) : undefined,
    ])
  }

  /** Every [user key, stored value] of the namespace, one SCAN page (on every master) and one getMany at a time. */
  protected async *entries(): AsyncGenerator<[string, unknown], void> {
    const view = this.current ?? (await this.view())
    let cursor: string | undefined
    do {
      const page = await view.keys({ count: 250, ...(cursor === undefined ? {} : { cursor }) })
      cursor = page.cursor
      if (page.keys.length === 0) continue
      const values = await view.getMany(page.keys)
      for (let i = 0; i < page.keys.length; i++) {
        const value = values[i]
        if (value !== undefined) yield [page.keys[i] as string, value]
      }
    } while (cursor !== undefined)
  }

  #attach(cache: Cache): void {
    this.#cache = cache
    cache.on('error', this.#forwardError)
  }

  protected emitError(error: unknown): void {
    // An EventEmitter throws an unheard 'error'; a store used without Keyv must not crash its process.
    if (this.listenerCount('error') > 0) this.emit('error', error)
  }
}

/**
 * A key the Keyv 5 iterator yields: the text Keyv expects, carrying the Keyshard key it was read from. Keyv deletes
 * an entry it finds expired by handing that same key back to `delete()`; without a Keyv namespace its text (`:k`)
 * is also what Keyv sends for the user key `:k`, so only the object itself tells which key to delete.
 */
export class IteratedKey extends String {
  constructor(
    text: string,
    readonly storedKey: string,
  ) {
    super(text)
  }
}

/** Keyv 5 storage adapter (`KeyvStoreAdapter`): relative TTLs in ms, keys prefixed by Keyv. */
export class KeyshardStore extends KeyshardStoreBase {
  /** Keyv 5's get() swallows a store rejection without emitting it (unlike its writes), so the store does. */
  override get<Value>(key: string): Promise<Value | undefined> {
    return super.get<Value>(key).catch(this.#reportRead)
  }

  readonly #reportRead = (error: unknown): never => {
    this.emitError(error)
    throw error
  }

  /**
   * @param ttl milliseconds from now; absent, 0 or not finite means no expiry, and a negative one an entry that
   * is already expired (Keyv's meanings), so the key is deleted.
   */
  set(key: string, value: unknown, ttl?: number): Promise<void> {
    const ttlMs = relativeTtl(ttl)
    if (ttlMs === EXPIRED) return this.delete(key).then(() => undefined)
    const view = this.current
    const options = { ttl: ttlMs }
    return view === undefined
      ? this.view().then((v) => v.set(this.userKey(key), value, options))
      : view.set(this.userKey(key), value, options)
  }

  /** Keyv 5 returns what the store's setMany resolves to, and documents one boolean per entry. */
  async setMany(entries: Array<{ key: string; value: unknown; ttl?: number }>): Promise<boolean[]> {
    await this.setEntries(entries.map((e) => ({ key: e.key, value: e.value, ttl: relativeTtl(e.ttl) })))
    return entries.map(() => true)
  }

  /** An {@link IteratedKey} is deleted by the Keyshard key it was read from, whatever its text says. */
  override async delete(key: string | IteratedKey): Promise<boolean> {
    if (!(key instanceof IteratedKey)) return super.delete(key)
    return (this.current ?? (await this.view())).delete(key.storedKey)
  }

  /** Keyv 5 expects one boolean: whether every key existed. */
  async deleteMany(keys: string[]): Promise<boolean> {
    const existed = await (this.current ?? (await this.view())).deleteMany(keys.map((k) => this.userKey(k)))
    return existed.length > 0 && existed.every(Boolean)
  }

  /**
   * Keyv 5 filters by `key.includes(namespace)` and strips everything up to the first `:` of every key it is
   * given, namespace or not, so keys are yielded behind `<namespace>:`, or behind a bare `:` without one, as
   * {@link IteratedKey}s.
   */
  async *iterator<Value>(_namespace?: string): AsyncGenerator<[IteratedKey, Value], void> {
    for await (const [key, value] of this.entries()) {
      yield [new IteratedKey(this.iteratedKey(key), key), value as Value]
    }
  }
}

/** The core TTL that stands for an entry already expired: the store deletes the key instead of writing it. */
export const EXPIRED = 0

/**
 * A TTL of at least `ms` that the core accepts: whole milliseconds, at least 1, at most `Number.MAX_SAFE_INTEGER`
 * (about 285,000 years; the core refuses more). Keyv accepts any number and checks its own `expires` on read, so
 * clamping a longer one changes nothing it returns, and the key keeps an expiry (`volatile-*` eviction sees it).
 */
export function coreTtl(ms: number): number {
  return Math.min(Math.max(1, Math.ceil(ms)), Number.MAX_SAFE_INTEGER)
}

/**
 * A Keyv 5 TTL (relative ms) as the core's: `null` (no expiry) when absent, 0 or not finite, {@link EXPIRED} when
 * negative (Keyv then writes an `expires` in the past), else {@link coreTtl}.
 */
export function relativeTtl(ttl: number | undefined): number | null {
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl === 0) return null
  return ttl < 0 ? EXPIRED : coreTtl(ttl)
}

/** Whether `key` is `head` repeated zero or more times. */
function isRepeatOf(key: string, head: string): boolean {
  if (key.length % head.length !== 0) return false
  for (let i = 0; i < key.length; i += head.length) if (!key.startsWith(head, i)) return false
  return true
}
