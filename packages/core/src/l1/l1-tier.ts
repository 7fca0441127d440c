import { LRUCache } from 'lru-cache'
import { configError, optionalInteger, parseDurationFrom } from '../config.js'
import { KeyshardError } from '../errors.js'
import type { Store } from '../store/store.js'
import type { L1Options } from '../types.js'
import {
  type InvalidationMessage,
  InvalidationPublisher,
  type Invalidations,
  parseInvalidation,
} from './invalidation-publisher.js'

const KEY_GENERATIONS_CAP = 10_000

export interface ResolvedL1Options {
  maxEntries: number
  maxBytes: number
  ttlMs: number
}

interface L1Entry {
  value: unknown
  namespace: string
  tags: readonly string[]
  /** Absolute ms: the earlier of the L1 ttl and the entry's own expiry. */
  expiresAt: number
}

/**
 * The in-process tier. Values are kept decoded (no decode on a hit, which is the point of an L1), so a hit hands
 * every caller the same object: callers must treat cached values as read-only.
 *
 * Coherence: every mutation drops the local entries and publishes one message on `${prefix}__inv`; every other
 * instance drops what the message names. A tag message drops every L1 entry of that namespace carrying the tag
 * (an O(L1 size) walk, bounded by maxEntries), which needs no tag epochs on the hit path.
 *
 * Two rules keep it safe rather than merely fast:
 * - The L1 is only used while the subscription is up. When the link drops it is flushed and bypassed (every read
 *   goes to Valkey) until the subscriber has re-subscribed, since messages sent meanwhile are lost.
 * - A read that fetched from Valkey may fill the L1 only if no invalidation of that key (or tag/clear/link change)
 *   arrived since it started (generation counters), so a slow read cannot resurrect a value that was
 *   invalidated while it was in flight.
 */
export class L1Tier implements Invalidations {
  readonly #publisher: InvalidationPublisher
  readonly #lru: LRUCache<string, L1Entry>
  readonly #ttlMs: number
  readonly #store: Store
  readonly #onError: (error: unknown, operation: string) => void
  #up = false
  /** Bumped by every invalidation; a read remembers it and may fill only if nothing relevant moved since. */
  #generation = 0
  /** The generation of the last invalidation that touched unknown keys (tag, clear, link change). */
  #broadGeneration = 0
  /** Per-key generation of recent key invalidations, so writes to other keys do not block fills. */
  readonly #keyGenerations = new Map<string, number>()
  #unsubscribe: (() => Promise<void>) | undefined
  #closed = false

  constructor(
    store: Store,
    prefix: string,
    options: ResolvedL1Options,
    onError: (error: unknown, operation: string) => void,
  ) {
    this.#store = store
    this.#publisher = new InvalidationPublisher(store, prefix, onError)
    this.#ttlMs = options.ttlMs
    this.#onError = onError
    this.#lru = new LRUCache<string, L1Entry>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: () => 1,
    })
    // Sizes are passed per set(); the calculation above is only a fallback lru-cache insists on.
  }

  /** Subscribes; resolves once the L1 is usable, or after reporting why it stays bypassed. */
  async start(): Promise<void> {
    try {
      const unsubscribe = await this.#store.subscribe(
        this.channel,
        (message) => this.#onMessage(message),
        (up) => this.#setLink(up),
      )
      if (this.#closed) {
        await unsubscribe()
        return
      }
      this.#unsubscribe = unsubscribe
      this.#setLink(true)
    } catch (error) {
      this.#onError(error, 'l1-subscribe')
    }
  }

  get id(): string {
    return this.#publisher.id
  }

  get channel(): string {
    return this.#publisher.channel
  }

  get up(): boolean {
    return this.#up
  }

  get size(): number {
    return this.#lru.size
  }

  /** Take before reading Valkey; pass to fill(). */
  get generation(): number {
    return this.#generation
  }

  get(fullKey: string, now = Date.now()): { value: unknown } | undefined {
    if (!this.#up) return undefined
    const entry = this.#lru.get(fullKey)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= now) {
      this.#lru.delete(fullKey)
      return undefined
    }
    return entry
  }

  /**
   * @param ownExpiresAt when the entry itself ends (absolute ms; 0: never), so L1 never outlives it in Valkey: its
   *   logical expiry, or for an entry that records none, the key's TTL as read with the value.
   * @param size bytes counted against maxBytes (the encoded size).
   */
  fill(
    fullKey: string,
    namespace: string,
    value: unknown,
    tags: readonly string[],
    ownExpiresAt: number,
    size: number,
    generation: number,
  ): void {
    if (!this.#up || value === undefined) return
    if (this.#broadGeneration > generation || (this.#keyGenerations.get(fullKey) ?? 0) > generation) return
    const now = Date.now()
    const expiresAt = ownExpiresAt > 0 ? Math.min(ownExpiresAt, now + this.#ttlMs) : now + this.#ttlMs
    if (expiresAt <= now) return
    this.#lru.set(
      fullKey,
      { value, namespace, tags, expiresAt },
      { size: Math.max(1, size + fullKey.length) },
    )
  }

  invalidateKeys(namespace: string, fullKeys: readonly string[]): void {
    if (fullKeys.length === 0) return
    this.#apply({ i: this.id, n: namespace, k: [...fullKeys] })
    this.#publisher.invalidateKeys(namespace, fullKeys)
  }

  invalidateTags(namespace: string, tags: readonly string[], timeoutMs?: number): Promise<void> {
    if (tags.length === 0) return Promise.resolve()
    this.#apply({ i: this.id, n: namespace, t: [...tags] })
    return this.#publisher.invalidateTags(namespace, tags, timeoutMs)
  }

  clearNamespace(namespace: string, timeoutMs?: number): Promise<void> {
    this.#apply({ i: this.id, n: namespace, c: 1 })
    return this.#publisher.clearNamespace(namespace, timeoutMs)
  }

  invalidateAll(timeoutMs?: number): Promise<void> {
    this.#apply({ i: this.id, f: 1 })
    return this.#publisher.invalidateAll(timeoutMs)
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#publisher.close()
    this.#up = false
    this.#lru.clear()
    const unsubscribe = this.#unsubscribe
    this.#unsubscribe = undefined
    if (unsubscribe) await unsubscribe().catch(() => undefined)
  }

  #setLink(up: boolean): void {
    if (this.#closed) return
    this.#broadGeneration = ++this.#generation
    this.#lru.clear()
    this.#up = up
  }

  #onMessage(raw: string): void {
    const message = parseInvalidation(raw)
    if (message === undefined) {
      // We cannot tell what it meant to invalidate, so drop everything rather than risk serving it.
      this.#broadGeneration = ++this.#generation
      this.#lru.clear()
      this.#onError(
        new KeyshardError(
          'ERR_COMMAND',
          `Ignored a malformed message on ${this.channel}; the L1 was flushed`,
          {
            details: { message: raw.slice(0, 200) },
          },
        ),
        'l1-message',
      )
      return
    }
    if (message.i !== this.id) this.#apply(message)
  }

  #apply(message: InvalidationMessage): void {
    const generation = ++this.#generation
    if ('f' in message) {
      this.#broadGeneration = generation
      this.#lru.clear()
      return
    }
    if (message.t || message.c) this.#broadGeneration = generation
    if (message.k) {
      for (const key of message.k) {
        this.#lru.delete(key)
        this.#keyGenerations.set(key, generation)
      }
      // Bounded bookkeeping: past the cap, forget per-key history and treat it as one broad invalidation.
      if (this.#keyGenerations.size > KEY_GENERATIONS_CAP) {
        this.#keyGenerations.clear()
        this.#broadGeneration = generation
      }
    }
    if (message.t) {
      const tags = new Set(message.t)
      const doomed: string[] = []
      for (const [key, entry] of this.#lru.entries()) {
        if (entry.namespace === message.n && entry.tags.some((tag) => tags.has(tag))) doomed.push(key)
      }
      for (const key of doomed) this.#lru.delete(key)
    }
    if (message.c) {
      const doomed: string[] = []
      for (const [key, entry] of this.#lru.entries()) if (entry.namespace === message.n) doomed.push(key)
      for (const key of doomed) this.#lru.delete(key)
    }
  }
}

/** Bad values are an ERR_CONFIG naming the option, like every other option of createCache. */
export function resolveL1Options(options: L1Options): ResolvedL1Options {
  if (options === null || typeof options !== 'object') {
    throw configError(
      { option: 'l1' },
      `must be an object or false, got ${options === null ? 'null' : typeof options}`,
    )
  }
  return {
    maxEntries: optionalInteger(options.maxEntries, 1, 'l1.maxEntries') ?? 10_000,
    maxBytes: optionalInteger(options.maxBytes, 1, 'l1.maxBytes') ?? 64 * 1024 * 1024,
    ttlMs: options.ttl === undefined ? 60_000 : parseDurationFrom(options.ttl, { option: 'l1.ttl' }),
  }
}
