import { LRUCache } from 'lru-cache'
import { KeyshardError } from '../errors.js'
import type { MemoryStoreOptions } from '../types.js'
import { globMatcher } from './glob.js'
import { MemoryBus } from './memory-bus.js'
import type {
  PublishOptions,
  ScanPage,
  Store,
  StoreCommandOptions,
  StoreHealth,
  StoreSetEntry,
  StoreValue,
  StoreValueWithTtl,
} from './store.js'

export { MemoryBus } from './memory-bus.js'

interface Entry {
  value: Buffer
  /** Absolute ms timestamp on the injected clock, or null for no expiry. */
  expiresAt: number | null
}

export interface MemoryStoreStats {
  entries: number
  bytes: number
}

export type MemoryStoreConstructorOptions = MemoryStoreOptions & {
  /** Share one bus between stores so they see each other's pub/sub messages. */
  bus?: MemoryBus
  /** Clock for TTLs (tests inject a fake one). */
  now?: () => number
}

const DEFAULT_MAX_ENTRIES = 100_000
const DEFAULT_MAX_BYTES = 256 * 1024 * 1024
/** The integers INCRBY accepts (Valkey's string2ll): `0`, or digits without a leading zero after an optional `-`. */
const INTEGER = /^(0|-?[1-9][0-9]*)$/
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/**
 * The embedded default store: Valkey semantics (PTTL codes, INCRBY integer rules, SET NX, glob SCAN) over a
 * bounded LRU, so the same contract suite passes over memory, standalone and cluster.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const
  readonly bus: MemoryBus
  readonly #now: () => number
  readonly #lru: LRUCache<string, Entry>
  readonly #maxBytes: number
  readonly #unsubscribers = new Set<() => void>()
  #closed = false

  constructor(options: MemoryStoreConstructorOptions = {}) {
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new KeyshardError('ERR_CONFIG', `memory.maxEntries must be a positive integer, got ${maxEntries}`)
    }
    if (!Number.isInteger(maxBytes) || maxBytes < 1) {
      throw new KeyshardError('ERR_CONFIG', `memory.maxBytes must be a positive integer, got ${maxBytes}`)
    }
    this.#maxBytes = maxBytes
    this.bus = options.bus ?? new MemoryBus()
    this.#now = options.now ?? Date.now
    this.#lru = new LRUCache<string, Entry>({
      max: maxEntries,
      maxSize: maxBytes,
      // Counted like the wire payload: key bytes plus value bytes (at least 1, lru-cache rejects 0).
      sizeCalculation: (entry, key) => Math.max(1, Buffer.byteLength(key) + entry.value.length),
    })
  }

  /** Live entry count and accounted bytes (expired-but-unread entries included until touched). */
  stats(): MemoryStoreStats {
    return { entries: this.#lru.size, bytes: this.#lru.calculatedSize }
  }

  #check(): void {
    if (this.#closed) throw new KeyshardError('ERR_CLOSED', 'the memory store is closed')
  }

  #live(key: string): Entry | undefined {
    const entry = this.#lru.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt !== null && entry.expiresAt <= this.#now()) {
      this.#lru.delete(key)
      return undefined
    }
    return entry
  }

  #expiry(ttlMs: number | null): number | null {
    if (ttlMs === null) return null
    if (!Number.isInteger(ttlMs) || ttlMs <= 0) {
      // Valkey rejects `SET ... PX 0` and fractional expiries; do the same so memory never hides a caller bug.
      throw new KeyshardError(
        'ERR_COMMAND',
        `ERR invalid expire time: ttlMs must be a positive integer, got ${ttlMs}`,
      )
    }
    return this.#now() + ttlMs
  }

  /** lru-cache silently drops an entry larger than maxSize; Valkey would keep it, so refuse it loudly instead. */
  #assertFits(key: string, value: StoreValue): void {
    const size =
      Buffer.byteLength(key) + (typeof value === 'string' ? Buffer.byteLength(value) : value.length)
    if (size > this.#maxBytes) {
      throw new KeyshardError(
        'ERR_VALUE_TOO_LARGE',
        `The entry is ${size} bytes, over the memory store's maxBytes of ${this.#maxBytes}`,
        { details: { bytes: size, maxBytes: this.#maxBytes } },
      )
    }
  }

  #write(key: string, value: StoreValue, expiresAt: number | null): void {
    this.#assertFits(key, value)
    this.#lru.set(key, { value: Buffer.from(value), expiresAt })
  }

  async get(key: string, _o: StoreCommandOptions): Promise<Buffer | null> {
    this.#check()
    const entry = this.#live(key)
    return entry === undefined ? null : Buffer.from(entry.value)
  }

  async getMany(keys: readonly string[], _o: StoreCommandOptions): Promise<Array<Buffer | null>> {
    this.#check()
    return keys.map((key) => {
      const entry = this.#live(key)
      return entry === undefined ? null : Buffer.from(entry.value)
    })
  }

  async getWithTtl(key: string, _o: StoreCommandOptions): Promise<StoreValueWithTtl | null> {
    this.#check()
    return this.#withTtl(this.#live(key))
  }

  async getManyWithTtl(
    keys: readonly string[],
    _o: StoreCommandOptions,
  ): Promise<Array<StoreValueWithTtl | null>> {
    this.#check()
    return keys.map((key) => this.#withTtl(this.#live(key)))
  }

  #withTtl(entry: Entry | undefined): StoreValueWithTtl | null {
    if (entry === undefined) return null
    const ttlMs = entry.expiresAt === null ? null : Math.max(0, entry.expiresAt - this.#now())
    return { value: Buffer.from(entry.value), ttlMs }
  }

  async set(
    key: string,
    value: StoreValue,
    ttlMs: number | null,
    o: StoreCommandOptions & { onlyIfAbsent?: boolean },
  ): Promise<boolean> {
    this.#check()
    if (o.onlyIfAbsent === true && this.#live(key) !== undefined) return false
    this.#write(key, value, this.#expiry(ttlMs))
    return true
  }

  async setMany(entries: readonly StoreSetEntry[], _o: StoreCommandOptions): Promise<void> {
    this.#check()
    // Validate every TTL before writing anything, so a bad entry does not leave a partial batch behind.
    const expiries = entries.map((e) => {
      this.#assertFits(e.key, e.value)
      return this.#expiry(e.ttlMs)
    })
    for (const [i, e] of entries.entries()) this.#write(e.key, e.value, expiries[i] ?? null)
  }

  async delete(keys: readonly string[], _o: StoreCommandOptions): Promise<boolean[]> {
    this.#check()
    return keys.map((key) => {
      const existed = this.#live(key) !== undefined
      if (existed) this.#lru.delete(key)
      return existed
    })
  }

  async exists(keys: readonly string[], _o: StoreCommandOptions): Promise<boolean[]> {
    this.#check()
    return keys.map((key) => this.#live(key) !== undefined)
  }

  async pttl(key: string, _o: StoreCommandOptions): Promise<number> {
    this.#check()
    const entry = this.#live(key)
    if (entry === undefined) return -2
    if (entry.expiresAt === null) return -1
    return Math.max(0, entry.expiresAt - this.#now())
  }

  async expire(key: string, ttlMs: number | null, _o: StoreCommandOptions): Promise<boolean> {
    this.#check()
    const entry = this.#live(key)
    if (entry === undefined) return false
    if (ttlMs !== null && ttlMs <= 0) {
      // PEXPIRE with a non-positive TTL deletes the key, as in Valkey.
      this.#lru.delete(key)
      return true
    }
    entry.expiresAt = this.#expiry(ttlMs)
    return true
  }

  async increment(key: string, by: number, ttlMs: number | null, _o: StoreCommandOptions): Promise<number> {
    this.#check()
    if (!Number.isSafeInteger(by)) {
      throw new KeyshardError('ERR_COMMAND', `increment amount must be a safe integer, got ${by}`, {
        details: { key },
      })
    }
    const entry = this.#live(key)
    let current = 0n
    if (entry !== undefined) {
      const text = entry.value.toString('latin1')
      // BigInt because the server counts in int64, beyond the integers a Number holds exactly.
      const parsed = INTEGER.test(text) ? BigInt(text) : null
      if (parsed === null || parsed < INT64_MIN || parsed > INT64_MAX) {
        throw new KeyshardError('ERR_COMMAND', 'ERR value is not an integer or out of range', {
          details: { key },
        })
      }
      current = parsed
    }
    const next = current + BigInt(by)
    if (next < INT64_MIN || next > INT64_MAX) {
      throw new KeyshardError('ERR_COMMAND', 'ERR increment or decrement would overflow', {
        details: { key },
      })
    }
    // Stored as ASCII decimal like Valkey; an existing key keeps its TTL.
    this.#write(
      key,
      Buffer.from(String(next), 'latin1'),
      entry === undefined ? this.#expiry(ttlMs) : entry.expiresAt,
    )
    return Number(next)
  }

  async compareAndSet(
    key: string,
    expected: Buffer | null,
    value: StoreValue,
    ttlMs: number | null,
    _o: StoreCommandOptions,
  ): Promise<boolean> {
    this.#check()
    const entry = this.#live(key)
    const matches = expected === null ? entry === undefined : entry?.value.equals(expected) === true
    if (!matches) return false
    this.#write(key, value, this.#expiry(ttlMs))
    return true
  }

  async compareAndDelete(key: string, expected: Buffer, _o: StoreCommandOptions): Promise<boolean> {
    this.#check()
    const entry = this.#live(key)
    if (entry === undefined || !entry.value.equals(expected)) return false
    this.#lru.delete(key)
    return true
  }

  async ensureEpochs(
    keys: readonly string[],
    candidates: readonly string[],
    ttlMs: number | null,
    _o: StoreCommandOptions,
  ): Promise<string[]> {
    this.#check()
    if (keys.length !== candidates.length) {
      throw new KeyshardError(
        'ERR_COMMAND',
        `ensureEpochs needs one candidate per key (${keys.length} keys, ${candidates.length} candidates)`,
      )
    }
    return keys.map((key, i) => {
      const entry = this.#live(key)
      if (entry === undefined) {
        const candidate = candidates[i] as string
        this.#write(key, Buffer.from(candidate), this.#expiry(ttlMs))
        return candidate
      }
      if (ttlMs === null) entry.expiresAt = null
      else if (entry.expiresAt !== null) {
        // Extend, never shorten.
        const wanted = this.#now() + ttlMs
        if (wanted > entry.expiresAt) entry.expiresAt = wanted
      }
      return entry.value.toString()
    })
  }

  async readEpochs(keys: readonly string[], _o: StoreCommandOptions): Promise<Array<string | null>> {
    this.#check()
    return keys.map((key) => this.#live(key)?.value.toString() ?? null)
  }

  async scan(match: string, cursor: string, count: number, _o: StoreCommandOptions): Promise<ScanPage> {
    this.#check()
    const after = decodeCursor(cursor)
    const matches = globMatcher(match)
    const now = this.#now()
    // Walking keys in sorted order with the last examined key as the cursor means deletions between pages never
    // make a surviving key be skipped.
    const pending: string[] = []
    for (const [key, entry] of this.#lru.entries()) {
      if (after !== null && key <= after) continue
      if (entry.expiresAt !== null && entry.expiresAt <= now) continue
      pending.push(key)
    }
    pending.sort(compareKeys)
    const budget = Math.max(1, Math.floor(count))
    const examined = pending.slice(0, budget)
    const keys = examined.filter((key) => matches(key))
    const last = examined[examined.length - 1]
    const done = pending.length <= budget || last === undefined
    return { keys, cursor: done ? '0' : encodeCursor(last) }
  }

  async deleteMatching(match: string, _o: StoreCommandOptions): Promise<number> {
    this.#check()
    const matches = globMatcher(match)
    const now = this.#now()
    let deleted = 0
    for (const [key, entry] of [...this.#lru.entries()]) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) {
        this.#lru.delete(key)
        continue
      }
      if (matches(key)) {
        this.#lru.delete(key)
        deleted++
      }
    }
    return deleted
  }

  async flushAll(_o: StoreCommandOptions): Promise<void> {
    this.#check()
    this.#lru.clear()
  }

  async publish(channel: string, message: string, o?: PublishOptions): Promise<void> {
    this.#check()
    this.bus.publish(channel, message)
    // The bus delivers in setImmediate callbacks queued just now; one queued after them runs once they all have.
    if (o?.fenced) await new Promise<void>((resolve) => setImmediate(resolve))
  }

  async subscribe(
    channel: string,
    onMessage: (message: string) => void,
    onLinkChange?: (up: boolean) => void,
  ): Promise<() => Promise<void>> {
    this.#check()
    const off = this.bus.subscribe(channel, onMessage, onLinkChange)
    this.#unsubscribers.add(off)
    return async () => {
      off()
      this.#unsubscribers.delete(off)
    }
  }

  async health(_o: StoreCommandOptions): Promise<StoreHealth> {
    this.#check()
    return {
      kind: 'memory',
      ok: true,
      nodes: [{ address: 'memory', reachable: true, role: 'memory', latencyMs: 0, slots: [] }],
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const off of this.#unsubscribers) off()
    this.#unsubscribers.clear()
    this.#lru.clear()
  }
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url')
}

function decodeCursor(cursor: string): string | null {
  if (cursor === '0' || cursor === '') return null
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw new KeyshardError('ERR_COMMAND', `invalid scan cursor ${JSON.stringify(cursor)}`)
  }
  return Buffer.from(cursor, 'base64url').toString('utf8')
}
