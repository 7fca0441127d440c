import { performance } from 'node:perf_hooks'
import { resolveTtl } from './duration.js'
import { isBytesTransparent } from './encoders/raw.js'
import { asKeyshardError, KeyshardError } from './errors.js'
import type { CacheEvents } from './events.js'
import { announcedAfter } from './l1/announced-after.js'
import type { Invalidations } from './l1/invalidation-publisher.js'
import type { L1Tier } from './l1/l1-tier.js'
import type { CacheObserver } from './observability/metrics.js'
import {
  type LoadedWrite,
  physicalTtlMs,
  ReadThrough,
  type ReadThroughShared,
} from './read-through/read-through.js'
import { escapeGlob, keyPrefix, namespacePattern, userKeyFrom, validateKey } from './keys.js'
import type { Store, StoreValue, StoreValueWithTtl } from './store/store.js'
import { type TagEpoch, TagEpochs } from './tag-epochs.js'
import type {
  BatchLoader,
  Encoder,
  GetOrSetOptions,
  IncrementOptions,
  KeysOptions,
  KeysPage,
  Loader,
  SetManyEntry,
  SetOptions,
  Ttl,
} from './types.js'
import type { PreparedValue, ValueCodec } from './value-codec.js'

/** What a namespace needs from its cache: one store and one set of settings shared by every namespace. */
export interface NamespaceContext {
  /** Shared with the cache; once closed, every call rejects with ERR_CLOSED. */
  state: { closed: boolean }
  store: Store
  events: CacheEvents
  epochs: TagEpochs
  prefix: string
  timeouts: { operationMs: number; atomicMs: number; bulkMs: number; flushMs: number }
  onError: 'throw' | 'miss'
  maxComputeRetries: number
  /** Read-through state shared by every view of the cache (in-flight loads, breakers, limiters). */
  readThrough?: ReadThroughShared
  /** The coherent in-process tier, when enabled. */
  l1?: L1Tier
  /** Where mutations are announced to other instances' L1: the L1 itself, or a publisher without one. */
  invalidations?: Invalidations
  observer?: CacheObserver
}

/** A stored entry after decoding, before any freshness decision. */
export interface StoredEntry<T> {
  value: T
  /** The exact stored bytes, for compare-and-set. */
  raw: Buffer
  tags: TagEpoch[]
  /** Logical expiry (ms epoch) for read-through grace; 0 when the entry has none. */
  expiresAt: number
  staleUntil: number
}

export interface ComputeOptions extends SetOptions {}

/** A bulk write's entry, validated and encoded, waiting for its tag epochs. */
interface PreparedEntry {
  key: string
  full: string
  ttlMs: number | null
  tags: string[]
  encoded: PreparedValue
}

/**
 * A typed view over one prefix of the shared client. Every semantic rule (key validation, TTL resolution,
 * encoding, tag checks, events, error policy) lives here once, above the Store boundary, so the memory store,
 * a standalone server and a cluster cannot disagree.
 */
export class Namespace<T = unknown> {
  readonly name: string
  readonly #ctx: NamespaceContext
  readonly #codec: ValueCodec
  readonly #defaultTtlMs: number | null
  readonly #readThrough: ReadThrough<T> | undefined
  /** Built once, so a full key is one concatenation (see keyPrefix). */
  readonly #keyPrefix: string

  constructor(name: string, ctx: NamespaceContext, codec: ValueCodec, defaultTtlMs: number | null) {
    this.name = name
    this.#ctx = ctx
    this.#keyPrefix = keyPrefix(ctx.prefix, name)
    this.#codec = codec
    this.#defaultTtlMs = defaultTtlMs
    this.#readThrough =
      ctx.readThrough === undefined
        ? undefined
        : new ReadThrough<T>(
            {
              name,
              defaultTtlMs,
              read: (key, full, timeoutMs) =>
                ctx.l1?.up
                  ? this.#readEntryWithEnd(key, full, timeoutMs)
                  : this.#readEntry(key, full, timeoutMs),
              write: (entry) => this.#writeLoaded(entry),
              ensureEpochs: (tags, lifetimeMs, timeoutMs) =>
                this.#ctx.epochs.ensure(this.name, tags, lifetimeMs, timeoutMs),
              isCurrent: (entry, timeoutMs) =>
                this.#ctx.epochs
                  .areCurrent(this.name, [entry.tags], timeoutMs)
                  .then(([current]) => current === true),
              assertOpen: () => this.#assertOpen(),
            },
            ctx.readThrough,
          )
  }

  /** The key as stored in Valkey, for interop and debugging. */
  fullKey(key: string): string {
    this.#assertOpen()
    validateKey(key)
    return this.#keyPrefix + key
  }

  async get(key: string): Promise<T | undefined> {
    const full = this.fullKey(key)
    const started = performance.now()
    const l1 = this.#ctx.l1
    const cached = l1?.get(full)
    if (cached !== undefined) {
      this.#ctx.events.emit('hit', { namespace: this.name, key, tier: 'l1' })
      // Timed like getOrSet's L1 hits, so the two operations' percentiles measure the same thing.
      this.#ctx.observer?.latency('get', this.name, performance.now() - started)
      return cached.value as T
    }
    const timeoutMs = this.#ctx.timeouts.operationMs
    try {
      // A bypassed L1 (its invalidation link is down) takes no fill, so its TTL is not worth reading.
      if (l1?.up) return await this.#getFillingL1(key, full, l1, timeoutMs)
      // #readEntry inlined: this is the hottest read, and each async layer costs a promise and a tick.
      const raw = await this.#ctx.store.get(full, { timeoutMs })
      const checked = raw === null ? undefined : this.#decodeChecked(key, full, raw, timeoutMs)
      const entry = checked instanceof Promise ? await checked : checked
      return this.#reportRead(key, entry)
    } catch (error) {
      return this.#failRead(error, 'get', key, undefined)
    } finally {
      this.#ctx.observer?.latency('get', this.name, performance.now() - started)
    }
  }

  /**
   * Read-through: returns the cached value, or calls `loader` once across every caller and instance and caches
   * what it returns. Loader errors are rethrown unchanged (or answered with a stale value inside `grace`);
   * refusals by the circuit breaker or rate limit are ERR_LOADER; a passed `hardTimeout` is ERR_TIMEOUT.
   */
  getOrSet(key: string, loader: Loader<T>, options: GetOrSetOptions = {}): Promise<T> {
    // Not async: the hit path is the hot one, and an async wrapper around a returned promise costs extra ticks.
    let full: string
    try {
      full = this.fullKey(key)
    } catch (error) {
      return Promise.reject(error)
    }
    if (this.#readThrough === undefined)
      return Promise.reject(new KeyshardError('ERR_CONFIG', 'getOrSet needs a cache created by createCache'))
    return this.#readThrough.getOrSet(key, full, loader, options)
  }

  /**
   * Batch read-through: one read for every key, then one `batchLoader` call with only the keys that missed.
   * The loader returns a Map by key, or an array aligned with the keys it was given; `undefined` means "does not
   * exist" and is neither cached nor an error. No lock or grace here: use getOrSet for single hot keys.
   */
  async getManyOrSet(
    keys: readonly string[],
    batchLoader: BatchLoader<T>,
    options: SetOptions = {},
  ): Promise<Array<T | undefined>> {
    // Before any read, so a bad option is refused whether or not a key misses.
    const ttlMs = resolveTtl(options.ttl, this.#defaultTtlMs)
    const tags = TagEpochs.validateTags(options.tags)
    const values = await this.getMany(keys)
    const missing = [...new Set(keys.filter((_, i) => values[i] === undefined))]
    if (missing.length === 0) return values
    if (typeof batchLoader !== 'function')
      throw new KeyshardError('ERR_LOADER', 'getManyOrSet needs a loader function')
    // Pinned before the loader reads its data, so an invalidation that resolves while it runs leaves the loaded
    // values unreadable. Awaited before the loader, or it could reach the server after such an invalidation (queued
    // behind this connection's other traffic) and create a fresh epoch; a failed pin is reported by the write.
    const pinned = this.#ctx.epochs.ensure(this.name, tags, ttlMs, this.#ctx.timeouts.bulkMs)
    await pinned.catch(() => undefined)
    this.#ctx.events.emit('loader:call', { namespace: this.name, key: missing[0] as string })
    let loaded: Map<string, T> | Array<T | undefined>
    try {
      loaded = await batchLoader(missing)
    } catch (error) {
      this.#ctx.events.emit('loader:error', { namespace: this.name, key: missing[0] as string, error })
      throw error
    }
    const byKey = new Map<string, T>()
    if (loaded instanceof Map) {
      for (const key of missing) if (loaded.get(key) !== undefined) byKey.set(key, loaded.get(key) as T)
    } else if (Array.isArray(loaded)) {
      missing.forEach((key, i) => {
        if (loaded[i] !== undefined) byKey.set(key, loaded[i] as T)
      })
    } else {
      throw new KeyshardError(
        'ERR_LOADER',
        'getManyOrSet loader must return a Map or an array aligned with the keys',
      )
    }
    if (byKey.size > 0) {
      try {
        const prepared = [...byKey].map(([key, value]) => this.#prepareEntry(key, value, ttlMs, tags))
        const epochs = new Map((await pinned).map((e) => [e.tag, e.epoch]))
        await this.#writeMany(prepared, epochs)
      } catch (error) {
        // Fail-open: the caller still gets the loaded values; the write failure is reported.
        this.#ctx.events.emit('error', {
          error: asKeyshardError(error, 'ERR_COMMAND'),
          operation: 'getManyOrSet',
          namespace: this.name,
        })
      }
    }
    // Not `??`: a cached null is a value.
    return keys.map((key, i) => (values[i] !== undefined ? values[i] : byKey.get(key)))
  }

  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined
  }

  async set(key: string, value: T, options: SetOptions = {}): Promise<void> {
    const full = this.fullKey(key)
    const ttlMs = resolveTtl(options.ttl, this.#defaultTtlMs)
    const tags = TagEpochs.validateTags(options.tags)
    const encoded = this.#encode(value, tags, ttlMs, this.#ctx.timeouts.operationMs)
    const bytes = encoded instanceof Promise ? await encoded : encoded
    try {
      await this.#ctx.store.set(full, bytes, ttlMs, { timeoutMs: this.#ctx.timeouts.operationMs })
    } finally {
      // Also on failure: a command that timed out may still have been applied.
      this.#ctx.invalidations?.invalidateKeys(this.name, [full])
    }
    this.#ctx.events.emit('set', { namespace: this.name, key })
  }

  async delete(key: string): Promise<boolean> {
    const full = this.fullKey(key)
    let existed: boolean | undefined
    try {
      ;[existed] = await this.#ctx.store.delete([full], { timeoutMs: this.#ctx.timeouts.operationMs })
    } finally {
      this.#ctx.invalidations?.invalidateKeys(this.name, [full])
    }
    this.#ctx.events.emit('delete', { namespace: this.name, key })
    return existed === true
  }

  async getMany(keys: readonly string[]): Promise<Array<T | undefined>> {
    const fulls = this.#fullKeys(keys)
    const l1 = this.#ctx.l1
    if (l1 === undefined) {
      // Without an L1 every key is read from Valkey: none of the bookkeeping of which ones still need it.
      try {
        const entries = await this.#readEntries(keys, fulls, this.#ctx.timeouts.bulkMs)
        return this.#reportReads(keys, entries)
      } catch (error) {
        return this.#failRead(error, 'getMany', undefined, new Array<T | undefined>(keys.length))
      }
    }
    const generation = l1.generation
    const result = new Array<T | undefined>(keys.length)
    const pending: number[] = []
    for (let i = 0; i < keys.length; i++) {
      const hit = l1.get(fulls[i] as string)
      if (hit === undefined) {
        pending.push(i)
      } else {
        result[i] = hit.value as T
        this.#ctx.events.emit('hit', { namespace: this.name, key: keys[i] as string, tier: 'l1' })
      }
    }
    if (pending.length === 0) return result
    try {
      const pendingKeys = pending.map((i) => keys[i] as string)
      const pendingFulls = pending.map((i) => fulls[i] as string)
      const timeoutMs = this.#ctx.timeouts.bulkMs
      if (!l1.up) {
        const values = this.#reportReads(
          pendingKeys,
          await this.#readEntries(pendingKeys, pendingFulls, timeoutMs),
        )
        pending.forEach((i, j) => {
          result[i] = values[j]
        })
        return result
      }
      const entries = await this.#readEntriesWithEnd(pendingKeys, pendingFulls, timeoutMs)
      const values = this.#reportReads(pendingKeys, entries)
      pending.forEach((i, j) => {
        const entry = entries[j]
        result[i] = values[j]
        if (result[i] !== undefined && entry !== undefined)
          this.#fillL1(fulls[i] as string, entry, generation)
      })
      return result
    } catch (error) {
      // With onError 'miss', only what Valkey should have answered is missing; the L1 hits stand.
      return this.#failRead(error, 'getMany', undefined, result)
    }
  }

  async hasMany(keys: readonly string[]): Promise<boolean[]> {
    const values = await this.getMany(keys)
    return values.map((v) => v !== undefined)
  }

  /** Encodes every entry first, so one bad value means nothing at all is written. */
  async setMany(entries: ReadonlyArray<SetManyEntry<T>>): Promise<void> {
    if (!Array.isArray(entries))
      throw new KeyshardError('ERR_KEY', 'setMany expects an array of { key, value }')
    const prepared = entries.map((entry) => {
      if (entry === null || typeof entry !== 'object') {
        throw new KeyshardError('ERR_KEY', 'setMany expects an array of { key, value }')
      }
      return this.#prepareEntry(
        entry.key,
        entry.value,
        resolveTtl(entry.ttl, this.#defaultTtlMs),
        TagEpochs.validateTags(entry.tags),
      )
    })
    await this.#writeMany(prepared, await this.#ensureEpochsFor(prepared, this.#ctx.timeouts.bulkMs))
  }

  /** Prepared before any tag epoch is touched, so one unencodable value writes nothing at all. */
  #prepareEntry(key: string, value: T, ttlMs: number | null, tags: string[]): PreparedEntry {
    return { key, full: this.fullKey(key), ttlMs, tags, encoded: this.#codec.prepare(value) }
  }

  /** Seals each entry with its tags' epochs (by tag) and writes them all in one batch. */
  async #writeMany(prepared: readonly PreparedEntry[], epochs: ReadonlyMap<string, string>): Promise<void> {
    const timeoutMs = this.#ctx.timeouts.bulkMs
    const writes = prepared.map((p) => ({
      key: p.full,
      value: this.#codec.seal(p.encoded, {
        tags: p.tags.map((tag) => ({ tag, epoch: epochs.get(tag) as string })),
      }),
      ttlMs: p.ttlMs,
    }))
    try {
      await this.#ctx.store.setMany(writes, { timeoutMs })
    } finally {
      this.#ctx.invalidations?.invalidateKeys(
        this.name,
        prepared.map((p) => p.full),
      )
    }
    if (this.#ctx.events.wants('set'))
      for (const p of prepared) this.#ctx.events.emit('set', { namespace: this.name, key: p.key })
  }

  async deleteMany(keys: readonly string[]): Promise<boolean[]> {
    const fulls = this.#fullKeys(keys)
    let existed: boolean[]
    try {
      existed = await this.#ctx.store.delete(fulls, { timeoutMs: this.#ctx.timeouts.bulkMs })
    } finally {
      this.#ctx.invalidations?.invalidateKeys(this.name, fulls)
    }
    if (this.#ctx.events.wants('delete'))
      for (const key of keys) this.#ctx.events.emit('delete', { namespace: this.name, key })
    return existed
  }

  /** Remaining TTL in ms; `null` when the entry never expires; `undefined` when there is no (valid) entry. */
  async ttl(key: string): Promise<number | null | undefined> {
    const full = this.fullKey(key)
    const timeoutMs = this.#ctx.timeouts.operationMs
    try {
      const entry = await this.#readEntry(key, full, timeoutMs)
      if (!isLive(entry, Date.now())) return undefined
      const pttl = await this.#ctx.store.pttl(full, { timeoutMs })
      if (pttl === -2) return undefined
      // getOrSet's grace keeps the key past its logical expiry; what callers see expires at the latter.
      if (entry.expiresAt > 0) return Math.max(1, Math.min(entry.expiresAt - Date.now(), pttl))
      return pttl === -1 ? null : pttl
    } catch (error) {
      return this.#failRead(error, 'ttl', key, undefined)
    }
  }

  /** Sets a new TTL on an existing entry (its tags are kept alive as long). Returns whether it existed. */
  async expire(key: string, ttl: Ttl): Promise<boolean> {
    const full = this.fullKey(key)
    const ttlMs = resolveTtl(ttl, this.#defaultTtlMs)
    const timeoutMs = this.#ctx.timeouts.operationMs
    const entry = await this.#readEntry(key, full, timeoutMs)
    if (!isLive(entry, Date.now())) return false
    if (entry.tags.length > 0) {
      await this.#ctx.epochs.ensure(
        this.name,
        entry.tags.map((t) => t.tag),
        ttlMs,
        timeoutMs,
      )
    }
    let existed: boolean
    try {
      existed =
        entry.expiresAt > 0
          ? await this.#rewriteExpiry(full, entry, ttlMs, timeoutMs)
          : await this.#ctx.store.expire(full, ttlMs, { timeoutMs })
    } finally {
      this.#ctx.invalidations?.invalidateKeys(this.name, [full])
    }
    return existed
  }

  /**
   * An entry written by getOrSet carries its logical expiry in the envelope: moving only the key's TTL would
   * leave reads missing at the old time. Rewritten only if unchanged since read (else the newer entry stands).
   */
  #rewriteExpiry(
    full: string,
    entry: StoredEntry<T>,
    ttlMs: number | null,
    timeoutMs: number,
  ): Promise<boolean> {
    const graceMs = Math.max(0, entry.staleUntil - entry.expiresAt)
    const now = Date.now()
    const bytes = this.#codec.seal(
      this.#codec.prepare(entry.value),
      ttlMs === null
        ? { tags: entry.tags }
        : { tags: entry.tags, expiresAt: now + ttlMs, staleUntil: now + ttlMs + graceMs },
    )
    return this.#ctx.store.compareAndSet(full, entry.raw, bytes, physicalTtlMs(ttlMs, graceMs), {
      timeoutMs,
    })
  }

  async invalidateTag(tag: string): Promise<void> {
    await this.invalidateTags([tag])
  }

  /** One UNLINK per node whatever the number of tagged entries; see TagEpochs. */
  async invalidateTags(tags: readonly string[]): Promise<void> {
    this.#assertOpen()
    const valid = TagEpochs.validateTags(tags)
    const timeoutMs = this.#ctx.timeouts.operationMs
    await announcedAfter(
      timeoutMs,
      () => this.#ctx.epochs.invalidate(this.name, valid, timeoutMs),
      (left) => this.#ctx.invalidations?.invalidateTags(this.name, valid, left),
    )
    this.#ctx.events.emit('invalidate', { namespace: this.name, tags: valid })
  }

  /**
   * Deletes every key of this namespace matching a glob over user keys, on every master. The namespace part of
   * the pattern is escaped, so `users` never reaches into `users*` or `user`.
   */
  async deletePattern(glob: string): Promise<number> {
    this.#assertOpen()
    if (typeof glob !== 'string' || glob.length === 0)
      throw new KeyshardError('ERR_KEY', 'deletePattern needs a non-empty glob')
    const timeoutMs = this.#ctx.timeouts.bulkMs
    return announcedAfter(
      timeoutMs,
      () =>
        this.#ctx.store.deleteMatching(namespacePattern(this.#ctx.prefix, this.name, glob), { timeoutMs }),
      // Coarse but safe: the L1 cannot evaluate the glob against what other instances hold.
      (left) => this.#ctx.invalidations?.clearNamespace(this.name, left),
    )
  }

  /** One page of user keys across every master. Pass the returned cursor back until it is `undefined`. */
  async keys(options: KeysOptions = {}): Promise<KeysPage> {
    this.#assertOpen()
    const count = options.count ?? 100
    if (!Number.isInteger(count) || count < 1)
      throw new RangeError(`keys({ count }) must be a positive integer, got ${count}`)
    const page = await this.#ctx.store.scan(
      namespacePattern(this.#ctx.prefix, this.name, options.match ?? '*'),
      options.cursor ?? '0',
      count,
      {
        timeoutMs: this.#ctx.timeouts.bulkMs,
      },
    )
    return {
      keys: page.keys.map((full) => userKeyFrom(full, this.#ctx.prefix, this.name)),
      cursor: page.cursor === '0' ? undefined : page.cursor,
    }
  }

  /** Deletes every entry and every tag epoch of this namespace, on every master, and nothing else. */
  async clear(): Promise<number> {
    this.#assertOpen()
    const timeoutMs = this.#ctx.timeouts.flushMs
    const entries = await announcedAfter(
      timeoutMs,
      async (left) => {
        const deleted = await this.#ctx.store.deleteMatching(
          namespacePattern(this.#ctx.prefix, this.name, '*'),
          { timeoutMs },
        )
        // Only what the first pass left of the call's deadline: flushMs bounds the whole clear(). The entries are
        // gone by now, and tag epochs left behind are harmless (a later entry of the namespace reuses them), so a
        // failure here is reported rather than failing a clear that did its work.
        await this.#ctx.store
          .deleteMatching(
            this.#ctx.epochs.epochPattern(escapeGlob(this.#ctx.prefix), escapeGlob(this.name)),
            {
              timeoutMs: left(),
            },
          )
          .catch((error: unknown) => {
            this.#ctx.events.emit('error', {
              error: asKeyshardError(error, 'ERR_COMMAND'),
              operation: 'clear',
              namespace: this.name,
            })
          })
        return deleted
      },
      (left) => this.#ctx.invalidations?.clearNamespace(this.name, left),
    )
    this.#ctx.events.emit('clear', { namespace: this.name })
    return entries
  }

  /**
   * INCRBY in one round trip; the TTL applies only when this call creates the key. The server stores the counter
   * as decimal text, so a namespace whose encoder would read that text as another value (MessagePack reads "5" as
   * 53) refuses with ERR_ENCODE before anything is written.
   */
  async increment(key: string, by = 1, options: IncrementOptions = {}): Promise<number> {
    const full = this.fullKey(key)
    if (!Number.isSafeInteger(by)) throw new RangeError(`increment(by) must be a safe integer, got ${by}`)
    const ttlMs = resolveTtl(options.ttl, this.#defaultTtlMs)
    if (!readsCounterText(this.#codec.encoder)) {
      throw new KeyshardError(
        'ERR_ENCODE',
        `increment("${key}") is refused: the server stores counters as decimal text, which the "${this.#codec.encoder.name}" encoder of namespace "${this.name}" cannot read back; keep counters in a namespace with the default (rich JSON) or a raw encoder`,
        { details: { namespace: this.name, key, encoder: this.#codec.encoder.name } },
      )
    }
    const next = await this.#ctx.store.increment(full, by, ttlMs, { timeoutMs: this.#ctx.timeouts.atomicMs })
    this.#ctx.invalidations?.invalidateKeys(this.name, [full])
    return next
  }

  /** SET NX PX. An entry that exists but is no longer valid (tag invalidated) counts as absent. */
  async setIfAbsent(key: string, value: T, options: SetOptions = {}): Promise<boolean> {
    const full = this.fullKey(key)
    const ttlMs = resolveTtl(options.ttl, this.#defaultTtlMs)
    const tags = TagEpochs.validateTags(options.tags)
    const timeoutMs = this.#ctx.timeouts.atomicMs
    const bytes = await this.#encode(value, tags, ttlMs, timeoutMs)
    let written = await this.#ctx.store.set(full, bytes, ttlMs, { timeoutMs, onlyIfAbsent: true })
    if (!written) {
      const raw = await this.#ctx.store.get(full, { timeoutMs })
      // No cleanup of an undecodable entry here: the compare-and-set below expects those bytes and replaces them.
      const current = raw === null ? undefined : await this.#decodeChecked(key, full, raw, timeoutMs, false)
      if (!isLive(current, Date.now())) {
        written = await this.#ctx.store.compareAndSet(full, raw, bytes, ttlMs, { timeoutMs })
      }
    }
    if (written) {
      this.#ctx.invalidations?.invalidateKeys(this.name, [full])
      this.#ctx.events.emit('set', { namespace: this.name, key })
    }
    return written
  }

  /**
   * Optimistic read-modify-write: `fn` sees the current value (or undefined) and returns the next one; the write
   * only lands if nobody changed the entry in between, else it retries up to `maxComputeRetries` and then
   * rejects with ERR_CONFLICT. Returning `undefined` from `fn` leaves the entry as it is.
   */
  async compute(
    key: string,
    fn: (current: T | undefined) => T | undefined | Promise<T | undefined>,
    options: ComputeOptions = {},
  ): Promise<T | undefined> {
    const full = this.fullKey(key)
    const ttlMs = resolveTtl(options.ttl, this.#defaultTtlMs)
    const tags = TagEpochs.validateTags(options.tags)
    const timeoutMs = this.#ctx.timeouts.atomicMs
    const attempts = this.#ctx.maxComputeRetries + 1
    for (let attempt = 0; attempt < attempts; attempt++) {
      const raw = await this.#ctx.store.get(full, { timeoutMs })
      const entry = raw === null ? undefined : await this.#decodeChecked(key, full, raw, timeoutMs, false)
      const next = await fn(isLive(entry, Date.now()) ? entry.value : undefined)
      if (next === undefined) return undefined
      const bytes = await this.#encode(next, tags, ttlMs, timeoutMs)
      if (await this.#ctx.store.compareAndSet(full, raw, bytes, ttlMs, { timeoutMs })) {
        this.#ctx.invalidations?.invalidateKeys(this.name, [full])
        this.#ctx.events.emit('set', { namespace: this.name, key })
        return next
      }
    }
    throw new KeyshardError(
      'ERR_CONFLICT',
      `compute("${key}") lost the race ${attempts} times; raise maxComputeRetries or reduce contention on this key`,
      { details: { namespace: this.name, key, attempts } },
    )
  }

  /** One key: the common read, without the arrays of the batch path. */
  async #readEntry(key: string, full: string, timeoutMs: number): Promise<StoredEntry<T> | undefined> {
    const raw = await this.#ctx.store.get(full, { timeoutMs })
    return raw === null ? undefined : this.#decodeChecked(key, full, raw, timeoutMs)
  }

  /**
   * Decoded, and dropped when one of its tags was invalidated since it was written. Synchronous for untagged
   * entries, so the common read pays for no extra promise.
   */
  #decodeChecked(
    key: string,
    full: string,
    raw: Buffer,
    timeoutMs: number,
    dropUndecodable = true,
  ): StoredEntry<T> | undefined | Promise<StoredEntry<T> | undefined> {
    const entry = this.#decodeEntry(key, full, raw, dropUndecodable)
    if (entry === undefined || entry.tags.length === 0) return entry
    return this.#ctx.epochs
      .areCurrent(this.name, [entry.tags], timeoutMs)
      .then(([current]) => (current ? entry : undefined))
  }

  /**
   * get() with an L1. An entry that records no expiry of its own (plain writes, counters, raw values, entries of
   * other writers) may stay in L1 only as long as its key's TTL, read in the same round trip.
   */
  async #getFillingL1(key: string, full: string, l1: L1Tier, timeoutMs: number): Promise<T | undefined> {
    const generation = l1.generation
    const entry = await this.#readEntryWithEnd(key, full, timeoutMs)
    const value = this.#reportRead(key, entry)
    if (value !== undefined && entry !== undefined) this.#fillL1(full, entry, generation)
    return value
  }

  /** #readEntry with when the entry ends in Valkey, for reads that fill an L1 (see #getFillingL1). */
  async #readEntryWithEnd(
    key: string,
    full: string,
    timeoutMs: number,
  ): Promise<(StoredEntry<T> & { endsAt: number }) | undefined> {
    const readAt = Date.now()
    const read = await this.#ctx.store.getWithTtl(full, { timeoutMs })
    if (read === null) return undefined
    const checked = this.#decodeChecked(key, full, read.value, timeoutMs)
    const entry = checked instanceof Promise ? await checked : checked
    return entry === undefined ? undefined : { ...entry, endsAt: endsAt(entry, read.ttlMs, readAt) }
  }

  /** #readEntries with when each entry ends in Valkey, as #readEntryWithEnd, for getMany with an L1. */
  async #readEntriesWithEnd(
    keys: readonly string[],
    fulls: string[],
    timeoutMs: number,
  ): Promise<Array<(StoredEntry<T> & { endsAt: number }) | undefined>> {
    const readAt = Date.now()
    const reads = await this.#ctx.store.getManyWithTtl(fulls, { timeoutMs })
    const entries = await this.#decodeAndCheck(
      keys,
      fulls,
      reads.map((read) => read?.value ?? null),
      timeoutMs,
    )
    return entries.map((entry, i) =>
      entry === undefined
        ? undefined
        : { ...entry, endsAt: endsAt(entry, (reads[i] as StoreValueWithTtl).ttlMs, readAt) },
    )
  }

  /** Reads, decodes and tag-checks entries: one read round trip plus at most one per node for tags. */
  async #readEntries(
    keys: readonly string[],
    fulls: string[],
    timeoutMs: number,
  ): Promise<Array<StoredEntry<T> | undefined>> {
    const raws = await this.#ctx.store.getMany(fulls, { timeoutMs })
    return this.#decodeAndCheck(keys, fulls, raws, timeoutMs)
  }

  async #decodeAndCheck(
    keys: readonly string[],
    fulls: readonly string[],
    raws: ReadonlyArray<Buffer | null>,
    timeoutMs: number,
  ): Promise<Array<StoredEntry<T> | undefined>> {
    const entries = new Array<StoredEntry<T> | undefined>(raws.length).fill(undefined)
    let tagged = 0
    for (let i = 0; i < raws.length; i++) {
      const raw = raws[i]
      if (raw === null || raw === undefined) continue
      const entry = this.#decodeEntry(keys[i] as string, fulls[i] as string, raw)
      entries[i] = entry
      if (entry !== undefined && entry.tags.length > 0) tagged++
    }
    if (tagged === 0) return entries
    const checked = entries.flatMap((e, i) => (e !== undefined && e.tags.length > 0 ? [i] : []))
    const current = await this.#ctx.epochs.areCurrent(
      this.name,
      checked.map((i) => (entries[i] as StoredEntry<T>).tags),
      timeoutMs,
    )
    checked.forEach((entryIndex, i) => {
      if (!current[i]) entries[entryIndex] = undefined
    })
    return entries
  }

  /** Undecodable bytes are reported and removed, and read as a miss. */
  #decodeEntry(key: string, full: string, raw: Buffer, dropUndecodable = true): StoredEntry<T> | undefined {
    try {
      const decoded = this.#codec.decode(raw)
      return {
        value: decoded.value as T,
        raw,
        tags: decoded.tags,
        expiresAt: decoded.expiresAt,
        staleUntil: decoded.staleUntil,
      }
    } catch (error) {
      this.#reportUndecodable(key, full, raw, error, dropUndecodable)
      return undefined
    }
  }

  #reportUndecodable(key: string, full: string, raw: Buffer, error: unknown, drop: boolean): void {
    const err =
      error instanceof KeyshardError
        ? error
        : new KeyshardError('ERR_DECODE', `Could not decode the value stored at "${key}"`, { cause: error })
    this.#ctx.events.emit('error', { error: err, operation: 'decode', namespace: this.name, key })
    if (!drop) return
    this.#ctx.store
      .compareAndDelete(full, raw, { timeoutMs: this.#ctx.timeouts.operationMs })
      .catch((cleanupError: unknown) => {
        this.#ctx.events.emit('error', {
          error: asKeyshardError(cleanupError, 'ERR_COMMAND'),
          operation: 'decode-cleanup',
          namespace: this.name,
          key,
        })
      })
  }

  /** #reportRead for each entry of a batch, with one clock read. */
  #reportReads(
    keys: readonly string[],
    entries: ReadonlyArray<StoredEntry<T> | undefined>,
  ): Array<T | undefined> {
    const now = Date.now()
    // Every index set, none left a hole: callers iterate with for…in / map, which skip holes (Keyv 5 does).
    const values = new Array<T | undefined>(entries.length)
    for (let i = 0; i < entries.length; i++) values[i] = this.#reportRead(keys[i] as string, entries[i], now)
    return values
  }

  #reportRead(key: string, entry: StoredEntry<T> | undefined, now = Date.now()): T | undefined {
    if (!isLive(entry, now)) {
      this.#ctx.events.emit('miss', { namespace: this.name, key })
      return undefined
    }
    this.#ctx.events.emit('hit', { namespace: this.name, key, tier: 'l2' })
    return entry.value
  }

  #failRead<R>(error: unknown, operation: string, key: string | undefined, miss: R): R {
    const err = asKeyshardError(error, 'ERR_COMMAND')
    if (this.#ctx.onError === 'throw' || err.code === 'ERR_KEY') throw err
    this.#ctx.events.emit('error', {
      error: err,
      operation,
      namespace: this.name,
      ...(key === undefined ? {} : { key }),
    })
    return miss
  }

  #fillL1(full: string, entry: StoredEntry<T> & { endsAt: number }, generation: number): void {
    this.#ctx.l1?.fill(
      full,
      this.name,
      entry.value,
      entry.tags.map((t) => t.tag),
      entry.endsAt,
      entry.raw.length,
      generation,
    )
  }

  /**
   * getOrSet's write: logical expiry in the envelope, physical expiry ttl + grace so stale values survive. The
   * tags come with the epochs read-through pinned for them (before the loader ran), sealed as they are.
   */
  async #writeLoaded({
    key,
    full,
    value,
    tags,
    ttlMs,
    graceMs,
    timeoutMs,
    keepExpiry,
  }: LoadedWrite<T>): Promise<number> {
    const encoded = this.#codec.prepare(value)
    const physicalMs = physicalTtlMs(ttlMs, graceMs)
    const now = Date.now()
    const bytes =
      (graceMs > 0 || keepExpiry) && ttlMs !== null
        ? this.#codec.seal(encoded, {
            tags,
            expiresAt: now + ttlMs,
            staleUntil: now + ttlMs + graceMs,
          })
        : this.#codec.seal(encoded, { tags })
    await this.#ctx.store.set(full, bytes, physicalMs, { timeoutMs })
    this.#ctx.invalidations?.invalidateKeys(this.name, [full])
    this.#ctx.events.emit('set', { namespace: this.name, key })
    return bytes.length
  }

  /** Synchronous without tags, so the common untagged write pays for no extra promise. */
  #encode(
    value: T,
    tags: string[],
    ttlMs: number | null,
    timeoutMs: number,
  ): StoreValue | Promise<StoreValue> {
    // Encoded before the epochs are touched, so an unencodable value writes nothing at all.
    const encoded = this.#codec.prepare(value)
    if (tags.length === 0) return this.#codec.seal(encoded, { tags: [] })
    return this.#ctx.epochs
      .ensure(this.name, tags, ttlMs, timeoutMs)
      .then((epochs) => this.#codec.seal(encoded, { tags: epochs }))
  }

  async #ensureEpochsFor(
    prepared: ReadonlyArray<{ tags: string[]; ttlMs: number | null }>,
    timeoutMs: number,
  ): Promise<Map<string, string>> {
    // One epoch per tag for the whole batch, kept alive as long as its longest-lived entry.
    const lifetimes = new Map<string, number | null>()
    for (const p of prepared) {
      for (const tag of p.tags) {
        const prev = lifetimes.get(tag)
        lifetimes.set(tag, prev === null || p.ttlMs === null ? null : Math.max(prev ?? 0, p.ttlMs))
      }
    }
    const byLifetime = new Map<number | null, string[]>()
    for (const [tag, ttl] of lifetimes) byLifetime.set(ttl, [...(byLifetime.get(ttl) ?? []), tag])
    const epochs = new Map<string, string>()
    await Promise.all(
      [...byLifetime].map(async ([ttl, tags]) => {
        for (const e of await this.#ctx.epochs.ensure(this.name, tags, ttl, timeoutMs))
          epochs.set(e.tag, e.epoch)
      }),
    )
    return epochs
  }

  #assertOpen(): void {
    if (this.#ctx.state.closed) {
      throw new KeyshardError(
        'ERR_CLOSED',
        `The cache behind namespace "${this.name}" is closed; create a new cache`,
      )
    }
  }

  #fullKeys(keys: readonly string[]): string[] {
    if (!Array.isArray(keys)) throw new KeyshardError('ERR_KEY', 'Expected an array of keys')
    return keys.map((key) => this.fullKey(key))
  }
}

/**
 * When an entry ends in Valkey (absolute ms, 0: never): the earlier of its logical expiry and its key's TTL as
 * read with it. `readAt` is taken before the read was sent, so the result is never later than the server's own.
 */
function endsAt(entry: { expiresAt: number }, ttlMs: number | null, readAt: number): number {
  if (ttlMs === null) return entry.expiresAt
  const physical = readAt + ttlMs
  return entry.expiresAt > 0 ? Math.min(entry.expiresAt, physical) : physical
}

const COUNTER_SAMPLES = ['0', '7', '-12', String(Number.MAX_SAFE_INTEGER)]
const counterTextReaders = new WeakMap<Encoder, boolean>()

/**
 * Whether `encoder` reads the decimal text INCRBY stores as what it says: the number itself (rich JSON), or the
 * exact text or bytes (the raw encoders, which store any bytes as they are). Counters are always stored bare,
 * so transformers never see them. Checked once per encoder.
 */
function readsCounterText(encoder: Encoder): boolean {
  let reads = counterTextReaders.get(encoder)
  if (reads === undefined) {
    reads = isBytesTransparent(encoder) || COUNTER_SAMPLES.every((text) => decodesTo(encoder, text))
    counterTextReaders.set(encoder, reads)
  }
  return reads
}

function decodesTo(encoder: Encoder, text: string): boolean {
  try {
    return encoder.decode(Buffer.from(text)) === Number(text)
  } catch {
    return false
  }
}

/** Past its logical expiry an entry only lives on for getOrSet's grace window; every other operation sees none. */
function isLive<T>(entry: StoredEntry<T> | undefined, now: number): entry is StoredEntry<T> {
  return entry !== undefined && !(entry.expiresAt > 0 && entry.expiresAt <= now)
}
