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
import { keyvDeserialize } from './keyv-serialization.js'

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

/** One Keyv namespace the store was given, and the Keyshard namespace its keys live in. */
export interface Lane {
  /** As Keyv gave it; undefined for none. */
  readonly keyvNamespace: string | undefined
  /** The Keyshard namespace: Keyv's, else the store's `namespace` option, else a pinned Namespace's. */
  readonly name: string
  /** `<keyv namespace>:`, kept so the hot path does not build it on every call. */
  readonly keyvPrefix: string | undefined
  /** `<keyv namespace>:`, or a bare `:` without one: what Keyv 5 expects before each iterated key (see userKey). */
  readonly head: string
  view: Namespace<unknown> | undefined
}

function newLane(keyvNamespace: string | undefined, name: string): Lane {
  const keyvPrefix = keyvNamespace === undefined ? undefined : `${keyvNamespace}:`
  return { keyvNamespace, name, keyvPrefix, head: keyvPrefix ?? ':', view: undefined }
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
  /** Where keys go when they carry no other Keyv namespace's head: the namespace Keyv set last. */
  #lane: Lane
  /** One lane per Keyv namespace this store was given, so keys of each keep to their own (see laneOf). */
  readonly #lanes = new Map<string, Lane>()
  /** Set while a listener for 'error' was just added: Keyv's constructor adds one, then sets the namespace. */
  #errorListenerAdded = false
  /** The lane the namespace write right after such a listener attached, until the turn ends (see `namespace`). */
  #justAttached: { lane: Lane; before: boolean } | undefined
  /** The lanes of the Keyvs built on this store (see `namespace`); two or more mean Keyvs share it. */
  readonly #attached = new Set<Lane>()
  #warned = false
  #disconnected = false
  readonly #forwardError = (payload: CacheEventMap['error']): void => {
    // The cache is shared by every namespace; only this store's errors (or connection-wide ones) belong here.
    if (payload.namespace !== undefined && !this.#servesNamespace(payload.namespace)) return
    this.emitError(payload.error)
  }

  constructor(source?: KeyshardStoreSource, options: KeyshardStoreOptions = {}) {
    super()
    const kind = classify(source)
    this.#encoder = options.encoder ?? rawStringEncoder
    this.#fallbackName = options.namespace ?? DEFAULT_NAMESPACE
    this.opts = { dialect: 'redis', url: 'keyshard://' }
    this.#pinned = kind.kind === 'namespace' ? kind.namespace : undefined
    this.#lane = newLane(undefined, this.#pinned?.name ?? this.#fallbackName)
    if (kind.kind === 'namespace') {
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
    return this.#lane.keyvNamespace
  }

  set namespace(value: string | undefined) {
    const keyvNamespace = value === '' || value === undefined ? undefined : value
    let lane = this.#lanes.get(keyvNamespace ?? '')
    if (lane === undefined) {
      lane = newLane(keyvNamespace, this.#pinned?.name ?? keyvNamespace ?? this.#fallbackName)
      this.#lanes.set(keyvNamespace ?? '', lane)
    }
    this.#lane = lane
    this.#noteAttach(lane)
  }

  /**
   * Tells a Keyv being built on the store from one changing its namespace. Keyv 5's constructor (and Keyv 6's, given
   * a namespace) adds its 'error' listener, then sets the namespace once; Keyv 5's namespace setter sets it twice
   * (its store and `opts.store`), so a second write in the same turn undoes the attach (an app that added its own
   * listener just before). Attached at once, not at the turn's end: Keyv 5's `get` reaches the store synchronously.
   */
  #noteAttach(lane: Lane): void {
    const just = this.#justAttached
    if (just !== undefined) {
      this.#justAttached = undefined
      // A write with no listener before it, right after an attach: the setter's second write, not a Keyv.
      if (!this.#errorListenerAdded && !just.before) this.#attached.delete(just.lane)
    }
    if (this.#errorListenerAdded) {
      this.#errorListenerAdded = false
      this.#justAttached = { lane, before: this.#attached.has(lane) }
      this.#attached.add(lane)
      queueMicrotask(() => {
        this.#justAttached = undefined
        if (this.#attached.size > 1 && !this.#warned) this.#warnShared()
      })
      return
    }
    // A Keyv changed its namespace: the one Keyv now holds this one; of several, which one changed is unknown.
    const attached = this.#attached.size
    if (attached === 1) this.#attached.clear()
    if (attached > 0) this.#attached.add(lane)
  }

  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    // `once` wraps its listener (the wrapper's `listener` is the original): no Keyv adds its listener that way.
    if (event === 'error' && typeof (listener as { listener?: unknown }).listener !== 'function') {
      this.#errorListenerAdded = true
      queueMicrotask(() => {
        this.#errorListenerAdded = false
      })
    }
    return super.on(event, listener)
  }

  /** The Keyshard namespace the store reads and writes: Keyv's, else the `namespace` option, else a pinned one's. */
  protected get namespaceName(): string {
    return this.#lane.name
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

  /**
   * Deletes every key of this store's namespace, on every master, and nothing else. Keyv 5 names no namespace
   * here, so for a store shared by several Keyvs this is the namespace Keyv set last.
   */
  async clear(): Promise<void> {
    await (this.viewNow() ?? (await this.view())).clear()
  }

  async delete(key: string): Promise<boolean> {
    const lane = this.laneOf(key)
    return (this.viewNow(lane) ?? (await this.view(lane))).delete(this.userKey(key, lane))
  }

  async has(key: string): Promise<boolean> {
    const lane = this.laneOf(key)
    return (this.viewNow(lane) ?? (await this.view(lane))).has(this.userKey(key, lane))
  }

  hasMany(keys: string[]): Promise<boolean[]> {
    return this.perLane(keys, (view, userKeys) => view.hasMany(userKeys))
  }

  // get and set are not async: on the hot path an async wrapper around the namespace's promise costs extra ticks.
  get<Value>(key: string): Promise<Value | undefined> {
    const lane = this.laneOf(key)
    const view = this.#pinned ?? lane.view
    const read =
      view === undefined
        ? this.view(lane).then((v) => v.get(this.userKey(key, lane)))
        : view.get(this.userKey(key, lane))
    return read as Promise<Value | undefined>
  }

  getMany<Value>(keys: string[]): Promise<Array<Value | undefined>> {
    return this.perLane(keys, (view, userKeys) => view.getMany(userKeys)) as Promise<Array<Value | undefined>>
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

  /**
   * The lane of a key as Keyv 5 hands it over. A store serving one Keyv has one: the namespace set last. Once Keyvs
   * of several namespaces share it, a key goes to the Keyv namespace whose `<namespace>:` it starts with, and a key
   * with no such head to the Keyv without a namespace, if one shares the store (Keyshard namespaces hold no `:`, so
   * the text before the first `:` is the only candidate head). Each Keyv's keys thereby stay in its own Keyshard
   * namespace, whichever Keyv set its namespace last; only a no-namespace Keyv's keys that start with another
   * Keyv's head cannot be told from that Keyv's.
   */
  protected laneOf(key: string): Lane {
    const lane = this.#lane
    if (this.#attached.size < 2 || this.#pinned !== undefined || !this.keysCarryNamespace()) return lane
    if (typeof key !== 'string' || (lane.keyvPrefix !== undefined && key.startsWith(lane.keyvPrefix)))
      return lane
    const colon = key.indexOf(':')
    const headed = colon > 0 ? this.#lanes.get(key.slice(0, colon)) : undefined
    if (headed !== undefined && this.#attached.has(headed)) return headed
    const bare = this.#lanes.get('')
    return bare !== undefined && this.#attached.has(bare) ? bare : lane
  }

  /** Whether keys arrive behind `<namespace>:` (Keyv 5), so that they tell which Keyv namespace they belong to. */
  protected keysCarryNamespace(): boolean {
    return true
  }

  /** The lane a Keyv namespace name (as the iterator or an {@link IteratedKey} gives it) stands for. */
  protected laneNamed(keyvNamespace: string | undefined): Lane {
    return this.#lanes.get(keyvNamespace ?? '') ?? this.#lane
  }

  /** The view of a lane's Keyshard namespace when it already exists, so the hot path skips a promise. */
  protected viewNow(lane: Lane = this.#lane): Namespace<unknown> | undefined {
    return this.#pinned ?? lane.view
  }

  /** The Keyshard namespace of a lane, the current one by default. */
  protected async view(lane: Lane = this.#lane): Promise<Namespace<unknown>> {
    if (this.#pinned !== undefined) return this.#pinned
    if (lane.view !== undefined) return lane.view
    if (this.#disconnected && this.#owned) {
      throw new KeyshardError('ERR_CLOSED', 'This Keyv store was disconnected; create a new one')
    }
    const cache = this.#cache ?? (await (this.#connecting as Promise<Cache>))
    // Keyv semantics: no ttl means no expiry, so the cache's default TTL must not apply. No transformers:
    // Keyv has its own compression, and the stored bytes stay Keyv's string, readable by other Keyv stores.
    lane.view ??= cache.namespace<unknown>(lane.name, {
      defaultTtl: null,
      encoder: this.#encoder,
      transformers: [],
    })
    return lane.view
  }

  /**
   * Runs a multi-key call once per lane the keys belong to (once in all for a store serving one Keyv), with
   * the lane's Keyshard keys, and answers in input order.
   */
  protected async perLane<R>(
    keys: readonly string[],
    run: (view: Namespace<unknown>, userKeys: string[]) => Promise<R[]>,
  ): Promise<R[]> {
    // One lane, the rule, needs no grouping: the hot path of a store serving one Keyv.
    const groups = this.#attached.size < 2 ? undefined : this.#groupByLane(keys)
    if (groups === undefined || groups.size === 1) {
      const lane = groups?.keys().next().value ?? this.#lane
      return run(
        this.viewNow(lane) ?? (await this.view(lane)),
        keys.map((k) => this.userKey(k, lane)),
      )
    }
    const out = new Array<R>(keys.length)
    await Promise.all(
      [...groups].map(async ([lane, indices]) => {
        const view = this.viewNow(lane) ?? (await this.view(lane))
        const results = await run(
          view,
          indices.map((i) => this.userKey(keys[i] as string, lane)),
        )
        indices.forEach((i, j) => {
          out[i] = results[j] as R
        })
      }),
    )
    return out
  }

  /**
   * The Keyshard key for a key as Keyv 5 hands it over. Keyv prefixes keys with `<namespace>:`, which the Keyshard
   * namespace already carries, so it is dropped once: Keyv's `''` and `'<namespace>:'` (one key to Keyv) become the
   * empty key. Keyshard refuses empty keys, so a key made only of heads (`<namespace>:`, or `:` without a
   * namespace), the empty one included, is stored with one head more; no two Keyv keys share a Keyshard key.
   */
  protected userKey(key: string, lane: Lane = this.#lane): string {
    const prefix = lane.keyvPrefix
    const bare =
      prefix !== undefined && typeof key === 'string' && key.startsWith(prefix)
        ? key.slice(prefix.length)
        : key
    return typeof bare === 'string' && isRepeatOf(bare, lane.head) ? lane.head + bare : bare
  }

  /** The key Keyv 5's iterator expects for a Keyshard key: the inverse of {@link userKey}, behind the head. */
  protected iteratedKey(stored: string, lane: Lane = this.#lane): string {
    return lane.head + (isRepeatOf(stored, lane.head) ? stored.slice(lane.head.length) : stored)
  }

  /**
   * Writes Keyv entries with core TTLs in one batch per lane; an entry whose TTL is {@link EXPIRED} deletes its
   * key instead. The last entry for a key wins, as it would written one by one.
   */
  protected async setEntries(
    entries: ReadonlyArray<{ key: string; value: unknown; ttl: number | null }>,
  ): Promise<void> {
    const byLane = new Map<Lane, Map<string, { value: unknown; ttl: number | null }>>()
    for (const e of entries) {
      const lane = this.laneOf(e.key)
      let last = byLane.get(lane)
      if (last === undefined) {
        last = new Map()
        byLane.set(lane, last)
      }
      last.set(this.userKey(e.key, lane), { value: e.value, ttl: e.ttl })
    }
    await Promise.all(
      [...byLane].map(async ([lane, last]) => {
        const view = this.viewNow(lane) ?? (await this.view(lane))
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
      }),
    )
  }

  /**
   * Every [user key, stored value] of a lane's namespace, one SCAN page (on every master) and one getMany at a
   * time.
   */
  protected async *entries(lane: Lane = this.#lane): AsyncGenerator<[string, unknown], void> {
    const view = this.viewNow(lane) ?? (await this.view(lane))
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

  /** The positions of the keys of each lane, in input order. */
  #groupByLane(keys: readonly string[]): Map<Lane, number[]> {
    const groups = new Map<Lane, number[]>()
    keys.forEach((key, i) => {
      const lane = this.laneOf(key)
      const indices = groups.get(lane)
      if (indices === undefined) groups.set(lane, [i])
      else indices.push(i)
    })
    return groups
  }

  #servesNamespace(name: string): boolean {
    if (this.#pinned !== undefined) return name === this.#pinned.name
    if (name === this.#lane.name) return true
    if (this.#attached.size < 2) return false
    for (const lane of this.#attached) if (lane.name === name) return true
    return false
  }

  /**
   * Keyv 5 gives `clear()` and the iterator no caller, and a store pinned to one Namespace cannot keep two Keyvs'
   * keys apart, so sharing is worth a word, once.
   */
  #warnShared(): void {
    this.#warned = true
    const lanes = [...this.#attached]
    const names = lanes
      .map((lane) => (lane.keyvNamespace === undefined ? '(none)' : `"${lane.keyvNamespace}"`))
      .join(' and ')
    const apart =
      this.#pinned === undefined &&
      this.keysCarryNamespace() &&
      new Set(lanes.map((lane) => lane.name)).size === lanes.length
    const keys = apart
      ? 'each keeps its keys in its own namespace, but'
      : 'their keys are not kept apart (a store built on a Namespace, Keyv 6 keys, or two namespaces that map to one Keyshard namespace), and'
    process.emitWarning(
      `A KeyshardStore serves Keyvs of namespaces ${names}: ${keys} Keyv does not tell the store whose clear() or iterator it runs, so both act on the namespace set last. Give each Keyv its own KeyshardStore; they can share one Cache.`,
      { code: 'KEYSHARD_KEYV_SHARED_STORE' },
    )
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

/** The Keyshard key a key yielded by the Keyv 5 iterator was read from, and the Keyv namespace it was read in. */
interface IteratedFrom {
  readonly storedKey: string
  readonly keyvNamespace: string | undefined
}

/**
 * A key the Keyv 5 iterator yields: a `String` object with the text Keyv expects, remembered here with the Keyshard
 * key it was read from. Keyv deletes an entry it finds expired by handing that same key back to `delete()`; without
 * a Keyv namespace its text (`:k`) is also what Keyv sends for the user key `:k`, so only the object itself tells
 * which key to delete.
 *
 * Not a subclass of `String`: once any class extends `String`, V8 (Node 20 and 22) stops inlining `String.prototype`
 * methods in optimized code for the whole process. Measured: a `charCodeAt` loop over a 19-character key 4× slower,
 * and Keyshard's cluster getMany through Keyv with it (the key's slot is hashed that way).
 */
const iteratedKeys = new WeakMap<object, IteratedFrom>()

/** A key the Keyv 5 iterator yields (see iteratedKeys): a `String` object, not a primitive string. */
export type IteratedKey = String

function iteratedKeyObject(text: string, from: IteratedFrom): IteratedKey {
  const key = new String(text)
  iteratedKeys.set(key, from)
  return key
}

/** What the store reads off the Keyv it answers with deserialized rows (see KeyshardStore.deserializeFor). */
interface DeserializingKeyv {
  readonly deserialize?: unknown
  readonly opts: { readonly compression?: unknown }
}

/** Keyv 5 storage adapter (`KeyvStoreAdapter`): relative TTLs in ms, keys prefixed by Keyv. */
export class KeyshardStore extends KeyshardStoreBase {
  #deserializesFor: DeserializingKeyv | undefined

  /**
   * Answers `get` and `getMany` with rows already deserialized (`{ value, expires }`, which Keyv 5's store contract
   * allows) for as long as `keyv` reads rows with {@link keyvDeserialize} and has no compression, as createKeyv
   * builds it. Keyv 5 then skips its own deserializing, an async call awaited once per row: in a getMany of 100
   * that is 100 awaits, ≈ 10 % of the client CPU of a cluster getMany through Keyv (apps/bench). A row that does not
   * deserialize is a miss and an ERR_DECODE `error` event, as Keyshard treats undecodable values; Keyv's own
   * deserializing would reject the call.
   */
  deserializeFor(keyv: DeserializingKeyv): void {
    this.#deserializesFor = keyv
  }

  /** Keyv 5's get() swallows a store rejection without emitting it (unlike its writes), so the store does. */
  override get<Value>(key: string): Promise<Value | undefined> {
    const read = super.get<Value>(key)
    if (!this.#deserializes()) return read.catch(this.#reportRead)
    return read.then((row) => this.#deserializeRow(row, key), this.#reportRead)
  }

  override getMany<Value>(keys: string[]): Promise<Array<Value | undefined>> {
    const rows = super.getMany<Value>(keys)
    if (!this.#deserializes()) return rows
    return rows.then((read) => read.map((row, i) => this.#deserializeRow(row, keys[i] as string)))
  }

  #deserializes(): boolean {
    const keyv = this.#deserializesFor
    return keyv !== undefined && keyv.deserialize === keyvDeserialize && !keyv.opts.compression
  }

  #deserializeRow<Value>(row: Value | undefined, key: string): Value | undefined {
    if (typeof row !== 'string') return row
    try {
      return keyvDeserialize(row)
    } catch (error) {
      this.emitError(
        new KeyshardError(
          'ERR_DECODE',
          `The value stored for Keyv key "${key}" is not in Keyv's format (written by another serializer?); it reads as a miss until it is set again`,
          { cause: error, details: { key } },
        ),
      )
      return undefined
    }
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
    const lane = this.laneOf(key)
    const view = this.viewNow(lane)
    const options = { ttl: ttlMs }
    return view === undefined
      ? this.view(lane).then((v) => v.set(this.userKey(key, lane), value, options))
      : view.set(this.userKey(key, lane), value, options)
  }

  /** Keyv 5 returns what the store's setMany resolves to, and documents one boolean per entry. */
  async setMany(entries: Array<{ key: string; value: unknown; ttl?: number }>): Promise<boolean[]> {
    await this.setEntries(entries.map((e) => ({ key: e.key, value: e.value, ttl: relativeTtl(e.ttl) })))
    return entries.map(() => true)
  }

  /** A key the iterator yielded is deleted by the Keyshard key it was read from, whatever its text says. */
  override async delete(key: string | IteratedKey): Promise<boolean> {
    const from = typeof key === 'object' ? iteratedKeys.get(key) : undefined
    if (from === undefined) return super.delete(key as string)
    return (await this.view(this.laneNamed(from.keyvNamespace))).delete(from.storedKey)
  }

  /** Keyv 5 expects one boolean: whether every key existed. */
  async deleteMany(keys: string[]): Promise<boolean> {
    const existed = await this.perLane(keys, (view, userKeys) => view.deleteMany(userKeys))
    return existed.length > 0 && existed.every(Boolean)
  }

  /**
   * Keyv 5 filters by `key.includes(namespace)` and strips everything up to the first `:` of every key it is
   * given, namespace or not, so keys are yielded behind `<namespace>:`, or behind a bare `:` without one, as
   * {@link IteratedKey}s, which delete() recognizes.
   */
  async *iterator<Value>(namespace?: string): AsyncGenerator<[IteratedKey, Value], void> {
    const lane = this.laneNamed(namespace)
    for await (const [key, value] of this.entries(lane)) {
      const from = { storedKey: key, keyvNamespace: lane.keyvNamespace }
      yield [iteratedKeyObject(this.iteratedKey(key, lane), from), value as Value]
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
