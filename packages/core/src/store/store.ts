/**
 * The wire boundary. Everything above a Store (namespaces, tags, envelopes, TTL rules, events) is shared by every
 * topology, so memory, standalone and cluster behave the same by construction. A Store only moves bytes by full
 * key; it never sees namespaces, tags or encoders.
 *
 * Keys here are already fully built (prefix + namespace + user key). TTLs are whole milliseconds, `null` means
 * no expiry. Every multi-key method must be cluster-safe: group by hash slot, pipeline per node, keep input order.
 */
export type StoreKind = 'memory' | 'single' | 'cluster'

/**
 * A value on its way to the store. Text formats hand their string through and it is written as its UTF-8 bytes:
 * the same bytes as `Buffer.from(text)`, without the copy (the client encodes strings straight onto the socket).
 * Reads always return Buffers.
 */
export type StoreValue = Buffer | string

export interface StoreSetEntry {
  key: string
  value: StoreValue
  ttlMs: number | null
}

/** A value and its remaining TTL, read together so that a copy kept in process never outlives the key. */
export interface StoreValueWithTtl {
  value: Buffer
  /** Whole ms left when the server answered (0: expiring now); `null` when the key has no expiry. */
  ttlMs: number | null
}

export interface ScanPage {
  keys: string[]
  /** Opaque; `'0'` when every master has been scanned completely. */
  cursor: string
}

export interface NodeHealth {
  address: string
  reachable: boolean
  role: 'master' | 'replica' | 'memory' | 'unknown'
  latencyMs: number | null
  /** Slot ranges served by this master, `[start, end]` inclusive; empty for replicas and standalone nodes. */
  slots: Array<[number, number]>
  error?: string
}

export interface StoreHealth {
  kind: StoreKind
  ok: boolean
  nodes: NodeHealth[]
  /** Cluster only: `cluster_state` as the seed node reports it and how many of the 16384 slots are covered. */
  clusterState?: string
  slotsCovered?: number
}

export interface StoreCommandOptions {
  /** Per-call deadline in ms; the store rejects with ERR_TIMEOUT when it passes. */
  timeoutMs: number
}

export interface PublishOptions {
  /**
   * Resolve only after a PING sent once the PUBLISH reply arrived, on the same connection, has been answered. The
   * PUBLISH reply alone can reach us before the subscribers' copies leave the server; the PING is processed in a
   * later event-loop iteration of the server, by which time the PUBLISH's messages to its subscribers are written.
   * A PING needs no channel permission, so an ACL user allowed only the invalidation channel can send it.
   */
  fenced?: boolean
}

export interface Store {
  readonly kind: StoreKind

  get(key: string, o: StoreCommandOptions): Promise<Buffer | null>
  /** Results in input order; one round trip per node. */
  getMany(keys: readonly string[], o: StoreCommandOptions): Promise<Array<Buffer | null>>
  /** `get` plus the key's PTTL in the same round trip, both answered by the node that holds the value. */
  getWithTtl(key: string, o: StoreCommandOptions): Promise<StoreValueWithTtl | null>
  /** `getMany` plus each key's PTTL, each key's two answers from the same node; one round trip per node. */
  getManyWithTtl(keys: readonly string[], o: StoreCommandOptions): Promise<Array<StoreValueWithTtl | null>>
  /** SET with PX (or without expiry when ttlMs is null). `onlyIfAbsent` is NX; returns whether it was written. */
  set(
    key: string,
    value: StoreValue,
    ttlMs: number | null,
    o: StoreCommandOptions & { onlyIfAbsent?: boolean },
  ): Promise<boolean>
  setMany(entries: readonly StoreSetEntry[], o: StoreCommandOptions): Promise<void>
  /** UNLINK each key; returns per-key whether it existed, in input order. */
  delete(keys: readonly string[], o: StoreCommandOptions): Promise<boolean[]>
  /** Per-key existence, in input order. */
  exists(keys: readonly string[], o: StoreCommandOptions): Promise<boolean[]>
  /** PTTL semantics: -2 missing, -1 no expiry, else remaining ms. */
  pttl(key: string, o: StoreCommandOptions): Promise<number>
  /** PEXPIRE (or PERSIST when ttlMs is null); returns whether the key exists. */
  expire(key: string, ttlMs: number | null, o: StoreCommandOptions): Promise<boolean>
  /** INCRBY in one round trip; the TTL is applied only when this call created the key. */
  increment(key: string, by: number, ttlMs: number | null, o: StoreCommandOptions): Promise<number>
  /**
   * Atomic compare-and-set: writes `value` only if the key currently holds exactly `expected` (`null` = absent).
   * Returns whether it wrote.
   */
  compareAndSet(
    key: string,
    expected: Buffer | null,
    value: StoreValue,
    ttlMs: number | null,
    o: StoreCommandOptions,
  ): Promise<boolean>

  /** Deletes the key only if it still holds exactly `expected` (lock release, cleanup of unreadable values). */
  compareAndDelete(key: string, expected: Buffer, o: StoreCommandOptions): Promise<boolean>

  /**
   * Tag epochs. For each key: if absent, store `candidates[i]` (with ttlMs, or no expiry when null); then make sure
   * the key lives at least `ttlMs` (never shorten it; a null ttl makes it persistent). Returns the epoch each key
   * now holds. One round trip per node.
   */
  ensureEpochs(
    keys: readonly string[],
    candidates: readonly string[],
    ttlMs: number | null,
    o: StoreCommandOptions,
  ): Promise<string[]>
  /** Current epochs (null when absent), in input order; one round trip per node. */
  readEpochs(keys: readonly string[], o: StoreCommandOptions): Promise<Array<string | null>>

  /** One page of a cluster-wide SCAN over every master with a glob `match` (already escaped by the caller). */
  scan(match: string, cursor: string, count: number, o: StoreCommandOptions): Promise<ScanPage>
  /** SCAN every master for `match` and UNLINK the matches in per-slot batches; returns how many were deleted. */
  deleteMatching(match: string, o: StoreCommandOptions): Promise<number>
  /** FLUSHDB on every master. The caller enforces `allowUnsafeFlush`. */
  flushAll(o: StoreCommandOptions): Promise<void>

  /**
   * Pub/Sub for cross-instance coherence. `subscribe` resolves once the subscription is active. With `fenced`,
   * `publish` resolves only once the node has also written the message to its subscribers (see PublishOptions).
   */
  publish(channel: string, message: string, o?: PublishOptions): Promise<void>
  subscribe(
    channel: string,
    onMessage: (message: string) => void,
    onLinkChange?: (up: boolean) => void,
  ): Promise<() => Promise<void>>

  health(o: StoreCommandOptions): Promise<StoreHealth>
  /** Waits for in-flight commands, then closes every connection. Idempotent. */
  close(): Promise<void>
}
