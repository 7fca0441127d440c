import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { parseDuration, resolveTtl } from '../duration.js'
import { asKeyshardError, KeyshardError } from '../errors.js'
import type { CacheEventMap, CacheEvents } from '../events.js'
import type { L1Tier } from '../l1/l1-tier.js'
import type { CacheObserver } from '../observability/metrics.js'
import type { Store } from '../store/store.js'
import { type TagEpoch, TagEpochs } from '../tag-epochs.js'
import type { Duration, GetOrSetOptions, Loader, LoaderContext, ReadThroughOptions, Ttl } from '../types.js'
import { CircuitBreaker } from './circuit-breaker.js'
import { RateLimiter } from './rate-limiter.js'
import { type Flight, SingleFlight } from './single-flight.js'

const NO_BYTES = Buffer.alloc(0)

/** What read-through needs to know about a stored entry. */
export interface ReadThroughEntry<T> {
  value: T
  raw: Buffer
  tags: readonly TagEpoch[]
  /** 0: never logically expires (no grace metadata). */
  expiresAt: number
  staleUntil: number
  /**
   * When the key ends in Valkey as read with the value (absolute ms, 0: never), read only when there is an L1: an
   * entry that records no expiry of its own (a plain write) must not outlive its key there.
   */
  endsAt?: number
}

/** What getOrSet stores for a loaded value. */
export interface LoadedWrite<T> {
  key: string
  full: string
  value: T
  /** Sealed as given: read-through decides which epoch each tag carries (see ReadThrough#epochsFor). */
  tags: TagEpoch[]
  ttlMs: number | null
  graceMs: number
  timeoutMs: number
  /** Record the logical expiry even without grace (early refresh needs it). */
  keepExpiry: boolean
}

/** The namespace operations read-through is built on; the namespace keeps every encoding and tag rule. */
export interface ReadThroughHost<T> {
  readonly name: string
  readonly defaultTtlMs: number | null
  /** Decoded and tag-checked, but not filtered by logical expiry. Rejects when the store fails. */
  read(key: string, full: string, timeoutMs: number): Promise<ReadThroughEntry<T> | undefined>
  /** Encodes and writes, then invalidates L1s; resolves with the encoded size. */
  write(entry: LoadedWrite<T>): Promise<number>
  /** The current epoch of each tag (created if missing), kept alive for an entry living `lifetimeMs`. */
  ensureEpochs(tags: readonly string[], lifetimeMs: number | null, timeoutMs: number): Promise<TagEpoch[]>
  /** Whether every tag of the entry still has the epoch it was written with. Rejects when the store fails. */
  isCurrent(entry: ReadThroughEntry<T>, timeoutMs: number): Promise<boolean>
  assertOpen(): void
}

export interface ResolvedReadThroughDefaults {
  graceMs: number
  softTimeoutMs: number | undefined
  hardTimeoutMs: number | undefined
  lockTtlMs: number
  lockTimeoutMs: number
  circuitBreaker: ConstructorParameters<typeof CircuitBreaker>[0] | false
  rateLimit: ConstructorParameters<typeof RateLimiter>[0] | undefined
}

/** Bad values are ERR_CONFIG at createCache, not a RangeError at the first getOrSet. */
export function resolveReadThroughDefaults(options: ReadThroughOptions = {}): ResolvedReadThroughDefaults {
  try {
    const circuitBreaker = options.circuitBreaker === undefined ? {} : options.circuitBreaker
    // Built once here only to validate their options; each namespace gets its own later.
    if (circuitBreaker !== false) new CircuitBreaker(circuitBreaker)
    if (options.rateLimit !== undefined) new RateLimiter(options.rateLimit)
    return {
      graceMs: options.grace === undefined ? 0 : positiveOrZero(options.grace, 'grace'),
      softTimeoutMs: options.timeout === undefined ? undefined : positiveOrZero(options.timeout, 'timeout'),
      hardTimeoutMs:
        options.hardTimeout === undefined ? undefined : positiveOrZero(options.hardTimeout, 'hardTimeout'),
      lockTtlMs: options.lock?.ttl === undefined ? 10_000 : positiveOrZero(options.lock.ttl, 'lock.ttl'),
      lockTimeoutMs:
        options.lock?.timeout === undefined ? 5_000 : positiveOrZero(options.lock.timeout, 'lock.timeout'),
      circuitBreaker,
      rateLimit: options.rateLimit,
    }
  } catch (error) {
    throw new KeyshardError(
      'ERR_CONFIG',
      `readThrough: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
        details: { option: 'readThrough' },
      },
    )
  }
}

/** 0 turns the feature off for one call (e.g. no grace although the cache has one). */
function positiveOrZero(d: Duration, what: string): number {
  return d === 0 ? 0 : parseDuration(d, what)
}

/** How long the store keeps an entry getOrSet wrote: its TTL plus the grace window it may be served stale in. */
export function physicalTtlMs(ttlMs: number | null, graceMs: number): number | null {
  return ttlMs === null ? null : ttlMs + graceMs
}

/** One in-process load, shared with the stale entry it may fall back on. */
type SharedFlight = Flight<unknown, ReadThroughEntry<unknown> | undefined>

/** Per-cache state shared by every view of a namespace: in-flight loads, breakers and limiters. */
export class ReadThroughShared {
  readonly flights = new SingleFlight<unknown, ReadThroughEntry<unknown> | undefined>()
  readonly #breakers = new Map<string, CircuitBreaker | undefined>()
  readonly #limiters = new Map<string, RateLimiter | undefined>()
  readonly #background = new Set<Promise<unknown>>()

  constructor(
    readonly defaults: ResolvedReadThroughDefaults,
    readonly ctx: {
      store: Store
      events: CacheEvents
      prefix: string
      operationMs: number
      l1?: L1Tier | undefined
      observer?: CacheObserver | undefined
    },
  ) {}

  breaker(namespace: string): CircuitBreaker | undefined {
    if (!this.#breakers.has(namespace)) {
      const o = this.defaults.circuitBreaker
      this.#breakers.set(namespace, o === false ? undefined : new CircuitBreaker(o))
    }
    return this.#breakers.get(namespace)
  }

  limiter(namespace: string): RateLimiter | undefined {
    if (!this.#limiters.has(namespace)) {
      const o = this.defaults.rateLimit
      this.#limiters.set(namespace, o === undefined ? undefined : new RateLimiter(o))
    }
    return this.#limiters.get(namespace)
  }

  /** Keeps background work (refreshes, late writes) visible to close(), which waits for it briefly. */
  track(work: Promise<unknown>): void {
    const settled = work.catch(() => undefined)
    this.#background.add(settled)
    void settled.finally(() => this.#background.delete(settled))
  }

  async drain(maxMs: number): Promise<void> {
    if (this.#background.size === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all(this.#background),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, maxMs)
      }),
    ])
    clearTimeout(timer)
  }
}

interface Resolved {
  ttlMs: number | null
  tags: string[]
  graceMs: number
  softTimeoutMs: number | undefined
  hardTimeoutMs: number | undefined
  lockTtlMs: number
  lockTimeoutMs: number
  earlyRefreshMs: number
}

/** What getOrSet's first read found, handed to the flight it starts on a miss. */
type ReadOutcome<T> = { stale: ReadThroughEntry<T> | undefined } | { error: unknown }

const TIMED_OUT: unique symbol = Symbol('timed out')

/** How one loader call runs. */
interface LoadCall<T> {
  /** A value to fall back on (loader failure, timeout, open circuit); also handed to the loader as `ctx.stale`. */
  stale?: ReadThroughEntry<T> | undefined
  /** false (fail-open): the write goes to the background, so the caller is not held by a store that just failed. */
  storeUp: boolean
  /** Receives the write's completion. */
  done?: { promise?: Promise<void> }
  /** An early refresh nobody waits for. */
  background?: boolean
  /** What is left of the caller's hardTimeout after it waited for another instance's load. */
  hardTimeoutMs?: number | undefined
}

/** The epochs of the tags known before a loader ran, requested as it started. */
interface PinnedEpochs {
  lifetimeMs: number | null
  epochs: Promise<TagEpoch[]>
}

/**
 * getOrSet for one namespace view. The order of a miss:
 *  1. in-process single flight on the full key — one load per process;
 *  2. `SET lock token NX PX lockTtl` — one load across processes; waiters poll the entry with 5→50 ms backoff
 *     (a waiter also retries the lock, so a crashed owner is replaced as soon as its lock expires);
 *  3. the loader, guarded by the namespace's rate limit and circuit breaker, with soft/hard timeouts;
 *  4. the write (logical expiry ttl, physical expiry ttl + grace), then the owner releases its lock by token.
 * Any store failure on the way switches to fail-open: the loader answers, the write goes to the background.
 * A caller waiting for someone else's load (steps 1 and 2) stops at its own timeouts, as it would for its own.
 */
export class ReadThrough<T> {
  readonly #host: ReadThroughHost<T>
  readonly #shared: ReadThroughShared

  constructor(host: ReadThroughHost<T>, shared: ReadThroughShared) {
    this.#host = host
    this.#shared = shared
  }

  /** `${prefix}__l:${namespace}:${key}`: a user key's {hash tag} is the lock key's first one, so they share a slot. */
  lockKey(key: string): string {
    return `${this.#shared.ctx.prefix}__l:${this.#host.name}:${key}`
  }

  async getOrSet(key: string, full: string, loader: Loader<T>, options: GetOrSetOptions = {}): Promise<T> {
    if (typeof loader !== 'function')
      throw new KeyshardError('ERR_LOADER', `getOrSet("${key}") needs a loader function`)
    const started = performance.now()
    try {
      // First, so a bad option is refused whichever path answers, an L1 hit included.
      const resolved = this.#resolve(options)
      const l1 = this.#shared.ctx.l1
      const cached = l1?.get(full)
      if (cached !== undefined) {
        this.#shared.ctx.events.emit('hit', { namespace: this.#host.name, key, tier: 'l1' })
        return cached.value as T
      }
      const flights = this.#shared.flights
      // A load under way for this key is shared, read included.
      const flying = flights.get(full)
      if (flying !== undefined) return await this.#join(key, flying, resolved)
      // The read itself is outside the flight: a hit, the common case, pays for no flight bookkeeping (measured
      // ≈ 1 µs of client CPU per hit); a miss or a failed read starts one, which callers that missed together
      // share, so the loader still runs once per process.
      const generation = l1?.generation ?? 0
      let read: ReadOutcome<T>
      try {
        const entry = await this.#host.read(key, full, this.#shared.ctx.operationMs)
        if (entry !== undefined && isFresh(entry, Date.now()))
          return this.#hit(key, full, loader, resolved, entry, generation)
        read = { stale: entry !== undefined && isStaleUsable(entry, Date.now()) ? entry : undefined }
      } catch (error) {
        read = { error }
      }
      // Another caller may have started the load while this one was reading.
      const underWay = flights.get(full)
      if (underWay !== undefined) return await this.#join(key, underWay, resolved)
      const stale = 'stale' in read ? read.stale : undefined
      return (await flights.run(full, () => this.#load(key, full, loader, resolved, read), stale).result) as T
    } finally {
      this.#shared.ctx.observer?.latency('getOrSet', this.#host.name, performance.now() - started)
    }
  }

  #resolve(o: GetOrSetOptions): Resolved {
    const d = this.#shared.defaults
    return {
      ttlMs: resolveTtl(o.ttl, this.#host.defaultTtlMs),
      tags: TagEpochs.validateTags(o.tags),
      graceMs: o.grace === undefined ? d.graceMs : positiveOrZero(o.grace, 'grace'),
      softTimeoutMs: o.timeout === undefined ? d.softTimeoutMs : positiveOrZero(o.timeout, 'timeout'),
      hardTimeoutMs:
        o.hardTimeout === undefined ? d.hardTimeoutMs : positiveOrZero(o.hardTimeout, 'hardTimeout'),
      lockTtlMs: o.lock?.ttl === undefined ? d.lockTtlMs : positiveOrZero(o.lock.ttl, 'lock.ttl'),
      lockTimeoutMs:
        o.lock?.timeout === undefined ? d.lockTimeoutMs : positiveOrZero(o.lock.timeout, 'lock.timeout'),
      earlyRefreshMs: o.earlyRefresh === undefined ? 0 : positiveOrZero(o.earlyRefresh, 'earlyRefresh'),
    }
  }

  /** A fresh entry from the store: reported, kept in L1, refreshed early when it is about to expire. */
  #hit(
    key: string,
    full: string,
    loader: Loader<T>,
    o: Resolved,
    entry: ReadThroughEntry<T>,
    generation: number,
  ): T {
    this.#shared.ctx.events.emit('hit', { namespace: this.#host.name, key, tier: 'l2' })
    this.#fillL1(full, entry, generation, o.earlyRefreshMs)
    if (o.earlyRefreshMs > 0 && entry.expiresAt > 0 && entry.expiresAt - Date.now() <= o.earlyRefreshMs) {
      this.#refreshEarly(key, full, loader, o, entry)
    }
    return entry.value
  }

  /**
   * A caller sharing a load already under way in this process waits by its own timeouts, as for a load of its
   * own: the soft one when the load has a stale value to fall back on, else the hard one. The load goes on and
   * stores its value whoever stops waiting.
   */
  async #join(key: string, flight: SharedFlight, o: Resolved): Promise<T> {
    // A miss like the starter's, as a caller waiting on another instance's lock counts one: otherwise hitRate
    // would depend on whether the callers of a missing key share a process.
    this.#shared.ctx.events.emit('miss', { namespace: this.#host.name, key })
    const result = flight.result as Promise<T>
    const stale = flight.context as ReadThroughEntry<T> | undefined
    const limit = (stale === undefined ? undefined : o.softTimeoutMs) ?? o.hardTimeoutMs
    if (limit === undefined) return result
    const started = performance.now()
    const outcome = await raceTimeout(result, limit)
    if (outcome !== TIMED_OUT) return outcome
    if (stale !== undefined) {
      if (await this.#stillCurrent(key, stale)) {
        this.#shared.ctx.events.emit('stale', { namespace: this.#host.name, key, reason: 'loader-timeout' })
        return stale.value
      }
      // Invalidated or unverifiable: from here on the caller waits as one that joined with nothing stale would.
      const hardLeft = remaining(o.hardTimeoutMs, started)
      const late = hardLeft === undefined ? await result : await raceTimeout(result, hardLeft)
      if (late !== TIMED_OUT) return late
      throw this.#timedOut(key, o.hardTimeoutMs as number)
    }
    throw this.#timedOut(key, limit)
  }

  /** The flight after a read that found no fresh entry (or failed): see the class comment for the order. */
  async #load(key: string, full: string, loader: Loader<T>, o: Resolved, read: ReadOutcome<T>): Promise<T> {
    const { events } = this.#shared.ctx
    if ('error' in read) {
      this.#reportStoreError(read.error, key)
      return this.#callLoader(key, full, loader, o, { storeUp: false })
    }
    const { stale } = read
    events.emit('miss', { namespace: this.#host.name, key })

    const lockKey = this.lockKey(key)
    const token = Buffer.from(randomBytes(12).toString('base64url'))
    const lock = await this.#tryLock(lockKey, token, o.lockTtlMs, key)
    if (lock === 'down') return this.#callLoader(key, full, loader, o, { stale, storeUp: false })
    if (lock === 'owned') return this.#loadAsOwner(key, full, loader, o, { stale }, lockKey, token)

    // Someone else is loading. A usable stale value is served at once instead of waiting (stale-while-revalidate).
    if (stale !== undefined) {
      events.emit('stale', { namespace: this.#host.name, key, reason: 'refreshing' })
      return stale.value
    }
    const waitStarted = Date.now()
    const deadline = waitStarted + o.lockTimeoutMs
    // The hardTimeout covers the wait and any load this caller does after it.
    const hardDeadline = o.hardTimeoutMs === undefined ? undefined : waitStarted + o.hardTimeoutMs
    const hardTimeoutLeft = () =>
      hardDeadline === undefined ? undefined : Math.max(1, hardDeadline - Date.now())
    let delay = 5
    for (;;) {
      await sleep(Math.min(delay, Math.max(1, Math.min(deadline, hardDeadline ?? deadline) - Date.now())))
      delay = Math.min(delay * 2, 50)
      this.#host.assertOpen()
      let current: ReadThroughEntry<T> | undefined
      try {
        current = await this.#host.read(key, full, this.#shared.ctx.operationMs)
      } catch (error) {
        this.#reportStoreError(error, key)
        this.#reportWait(key, waitStarted)
        return this.#callLoader(key, full, loader, o, { storeUp: false, hardTimeoutMs: hardTimeoutLeft() })
      }
      if (current !== undefined && isFresh(current, Date.now())) {
        this.#reportWait(key, waitStarted)
        return current.value
      }
      if (hardDeadline !== undefined && Date.now() >= hardDeadline) {
        // Nothing stale to answer with (it would have been served at once): the owner's load goes on without us.
        this.#reportWait(key, waitStarted)
        throw this.#timedOut(key, o.hardTimeoutMs as number)
      }
      if (Date.now() >= deadline) {
        // The owner is alive but slow (its lock has not expired): stop waiting and load ourselves.
        this.#reportWait(key, waitStarted)
        return this.#callLoader(key, full, loader, o, { storeUp: true, hardTimeoutMs: hardTimeoutLeft() })
      }
      const retry = await this.#tryLock(lockKey, token, o.lockTtlMs, key)
      if (retry === 'down') {
        this.#reportWait(key, waitStarted)
        return this.#callLoader(key, full, loader, o, { storeUp: false, hardTimeoutMs: hardTimeoutLeft() })
      }
      if (retry === 'owned') {
        // The previous owner died (its lock expired without an entry), or finished just after our last read.
        this.#reportWait(key, waitStarted)
        return this.#loadAsOwner(key, full, loader, o, { hardTimeoutMs: hardTimeoutLeft() }, lockKey, token)
      }
    }
  }

  /** Refreshes an entry close to expiry in the background; only the instance that wins the lock loads. */
  #refreshEarly(key: string, full: string, loader: Loader<T>, o: Resolved, entry: ReadThroughEntry<T>): void {
    const lockKey = this.lockKey(key)
    const token = Buffer.from(randomBytes(12).toString('base64url'))
    const refresh = this.#tryLock(lockKey, token, o.lockTtlMs, key).then((lock) =>
      lock === 'owned'
        ? this.#loadAsOwner(key, full, loader, o, { stale: entry, background: true }, lockKey, token)
        : undefined,
    )
    this.#shared.track(refresh)
  }

  /**
   * Holding the lock: loads and stores, then releases. `load.stale` is the entry this instance read before locking
   * (stale, or fresh for an early refresh).
   */
  async #loadAsOwner(
    key: string,
    full: string,
    loader: Loader<T>,
    o: Resolved,
    load: Pick<LoadCall<T>, 'stale' | 'background' | 'hardTimeoutMs'>,
    lockKey: string,
    token: Buffer,
  ): Promise<T> {
    const replacing = load.stale
    // Another instance may have loaded, stored and released between our read and our lock: use what it stored
    // instead of loading the key a second time.
    let current: ReadThroughEntry<T> | undefined
    try {
      current = await this.#host.read(key, full, this.#shared.ctx.operationMs)
    } catch (error) {
      this.#reportStoreError(error, key)
    }
    if (
      current !== undefined &&
      isFresh(current, Date.now()) &&
      !current.raw.equals(replacing?.raw ?? NO_BYTES)
    ) {
      this.#release(key, lockKey, token, Promise.resolve())
      return current.value
    }
    const done: { promise?: Promise<void> } = {}
    try {
      return await this.#callLoader(key, full, loader, o, { ...load, storeUp: true, done })
    } finally {
      // Released only after the entry is written (even when a soft timeout answered the caller early).
      this.#release(key, lockKey, token, done.promise ?? Promise.resolve())
    }
  }

  /** Deletes the lock once `after` settles, and only if it is still ours: an expired lock may be someone else's. */
  #release(key: string, lockKey: string, token: Buffer, after: Promise<void>): void {
    const release = after.then(() =>
      this.#shared.ctx.store.compareAndDelete(lockKey, token, { timeoutMs: this.#shared.ctx.operationMs }),
    )
    this.#shared.track(release.catch((error: unknown) => this.#reportStoreError(error, key, 'lock-release')))
  }

  /** Calls the loader and stores its value (see LoadCall). */
  async #callLoader(
    key: string,
    full: string,
    loader: Loader<T>,
    o: Resolved,
    call: LoadCall<T>,
  ): Promise<T> {
    const { stale, storeUp, done = {}, background = false, hardTimeoutMs = o.hardTimeoutMs } = call
    const ns = this.#host.name
    const { events } = this.#shared.ctx
    // A background refresh serves nobody: its fallbacks are not "stale served", and no soft timeout applies.
    const servedStale = (reason: CacheEventMap['stale']['reason']): T => {
      if (!background) events.emit('stale', { namespace: ns, key, reason })
      return (stale as ReadThroughEntry<T>).value
    }
    const breaker = this.#shared.breaker(ns)
    const limiter = this.#shared.limiter(ns)
    // The breaker first: a call it refuses must not spend a rate-limit token.
    const why =
      breaker !== undefined && !breaker.tryAcquire()
        ? breaker.state === 'open'
          ? 'its circuit breaker is open after repeated failures'
          : 'its circuit breaker is half-open and already probing the loader'
        : limiter !== undefined && !limiter.tryAcquire()
          ? 'its rate limit is exhausted'
          : undefined
    if (why !== undefined) {
      // Not re-checked: no loader ran since the entry was tag-checked on read, so this answers as that read did.
      if (stale !== undefined) return servedStale('circuit-open')
      throw new KeyshardError(
        'ERR_LOADER',
        `The loader for "${key}" in namespace "${ns}" was not called: ${why}`,
        {
          details: { namespace: ns, key },
        },
      )
    }

    let ttlMs = o.ttlMs
    let tags = o.tags
    let skipped = false
    const ctx: LoaderContext<T> = {
      stale: stale?.value,
      setTtl: (ttl: Ttl) => {
        ttlMs = resolveTtl(ttl, this.#host.defaultTtlMs)
      },
      setTags: (next: readonly string[]) => {
        tags = TagEpochs.validateTags(next)
      },
      skip: () => {
        skipped = true
      },
    }
    // Taken before the loader reads its data, so an invalidation that resolves while it runs makes its value
    // unreadable: it finds these epochs already pinned, and moves the L1 generation past this one.
    const start = { generation: this.#shared.ctx.l1?.generation ?? 0, pinned: this.#pinEpochs(o) }
    events.emit('loader:call', { namespace: ns, key })
    // The loader waits for the pin to reach the server: sent alongside it, the pin could queue behind this
    // connection's other traffic and land after an invalidateTag that resolved during the load, sealing the old
    // value with a fresh epoch. Inside `loaded`, so the caller's timeouts cover the wait; a failed pin is
    // reported by the write.
    const loaded = (start.pinned?.epochs.then(noop, noop) ?? Promise.resolve())
      .then(() => loader(ctx))
      .then(
        (value) => {
          breaker?.onSuccess()
          return value
        },
        (error: unknown) => {
          breaker?.onFailure()
          events.emit('loader:error', { namespace: ns, key, error })
          throw error
        },
      )
    const stored = loaded.then(async (value) => {
      if (skipped || value === undefined) return
      const write = this.#write(
        {
          key,
          full,
          value,
          ttlMs,
          graceMs: o.graceMs,
          timeoutMs: this.#shared.ctx.operationMs,
          keepExpiry: o.earlyRefreshMs > 0,
        },
        tags,
        start,
        o.earlyRefreshMs,
      )
      if (storeUp) await write
      else this.#shared.track(write)
    })
    done.promise = stored.catch(() => undefined)

    const soft = stale !== undefined && !background ? o.softTimeoutMs : undefined
    const limit = soft ?? hardTimeoutMs
    const loaderStarted = performance.now()
    // The stale entry was tag-checked when it was read, before the loader ran; an invalidateTag that resolved
    // since must still keep it from being served. A background refresh serves nobody, so it does not check.
    const servable = (s: ReadThroughEntry<T>): boolean | Promise<boolean> =>
      background || this.#stillCurrent(key, s)
    let outcome: T | typeof TIMED_OUT
    try {
      outcome = limit === undefined ? await loaded : await raceTimeout(loaded, limit)
    } catch (error) {
      if (stale !== undefined && (await servable(stale))) return servedStale('loader-error')
      // Loader errors reach the caller unchanged, so `instanceof` checks on the application's own errors work.
      throw error
    }
    if (outcome === TIMED_OUT) {
      // The load goes on and still stores its value; the caller gets the stale value or a timeout now.
      this.#shared.track(stored)
      if (stale === undefined) throw this.#timedOut(key, o.hardTimeoutMs as number)
      if (await servable(stale)) return servedStale('loader-timeout')
      // Invalidated or unverifiable: the caller waits as one with nothing stale would, up to its hardTimeout
      // counted from the loader's start; the loader's own error, if it fails meanwhile, is rethrown.
      const hardLeft = remaining(hardTimeoutMs, loaderStarted)
      const late = hardLeft === undefined ? await loaded : await raceTimeout(loaded, hardLeft)
      if (late === TIMED_OUT) throw this.#timedOut(key, o.hardTimeoutMs as number)
      await stored.catch(() => undefined)
      return late
    }
    await stored.catch(() => undefined)
    return outcome
  }

  /**
   * Whether a stale entry read before a load may still be served after it. Untagged entries answer without a
   * round trip. The check is bounded by the operation timeout, like the read before the load, not by what is left
   * of the hardTimeout: a stale value due at the hardTimeout itself needs this round trip too. A check that fails
   * (store down or slow) counts as invalidated: DESIGN's fail-open promises an answer from the loader, never an
   * entry that may have been invalidated, and an invalidateTag may have resolved before the store became
   * unreachable. The failure is reported as an error event.
   */
  #stillCurrent(key: string, stale: ReadThroughEntry<T>): boolean | Promise<boolean> {
    if (stale.tags.length === 0) return true
    return this.#host.isCurrent(stale, this.#shared.ctx.operationMs).catch((error: unknown) => {
      this.#reportStoreError(error, key, 'getOrSet-stale-check')
      return false
    })
  }

  /** Asks for the epochs of the tags given up front; awaited only when the value is written. */
  #pinEpochs(o: Resolved): PinnedEpochs | undefined {
    if (o.tags.length === 0) return undefined
    const lifetimeMs = physicalTtlMs(o.ttlMs, o.graceMs)
    const epochs = this.#host.ensureEpochs(o.tags, lifetimeMs, this.#shared.ctx.operationMs)
    // A load that fails or skips never awaits them; its write reports a failure to get them.
    epochs.catch(() => undefined)
    return { lifetimeMs, epochs }
  }

  /**
   * The epochs a loaded value is sealed with. A tag given up front keeps the epoch pinned before the loader ran,
   * so an invalidation during the load leaves the value unreadable; a tag the loader added (ctx.setTags) gets
   * its current epoch now. Tags are ensured again when the loader made the entry outlive the pinned epochs
   * (ctx.setTtl), only to keep them alive as long as the entry.
   */
  async #epochsFor(
    tags: readonly string[],
    lifetimeMs: number | null,
    pinned: PinnedEpochs | undefined,
  ): Promise<TagEpoch[]> {
    if (tags.length === 0) return []
    const early = new Map((pinned === undefined ? [] : await pinned.epochs).map((e) => [e.tag, e]))
    const outlived = pinned !== undefined && !outlasts(pinned.lifetimeMs, lifetimeMs)
    const rest = outlived ? tags : tags.filter((tag) => !early.has(tag))
    const now =
      rest.length === 0 ? [] : await this.#host.ensureEpochs(rest, lifetimeMs, this.#shared.ctx.operationMs)
    const current = new Map(now.map((e) => [e.tag, e]))
    return tags.map((tag) => (early.get(tag) ?? current.get(tag)) as TagEpoch)
  }

  async #write(
    entry: Omit<LoadedWrite<T>, 'tags'>,
    tags: readonly string[],
    start: { generation: number; pinned: PinnedEpochs | undefined },
    earlyRefreshMs: number,
  ): Promise<void> {
    const l1 = this.#shared.ctx.l1
    try {
      const epochs = await this.#epochsFor(tags, physicalTtlMs(entry.ttlMs, entry.graceMs), start.pinned)
      const size = await this.#host.write({ ...entry, tags: epochs })
      // The write's own key invalidation moved the generation by one. Anything more arrived since the loader
      // started (a tag invalidation may have made this very entry invalid in Valkey), so the next read fills.
      if (l1 !== undefined && l1.generation === start.generation + 1) {
        const expiresAt = entry.ttlMs === null ? 0 : Date.now() + entry.ttlMs
        l1.fill(
          entry.full,
          this.#host.name,
          entry.value,
          tags,
          l1ExpiresAt(expiresAt, earlyRefreshMs),
          size,
          l1.generation,
        )
      }
    } catch (error) {
      this.#reportStoreError(error, entry.key, 'getOrSet-write')
    }
  }

  async #tryLock(
    lockKey: string,
    token: Buffer,
    ttlMs: number,
    key: string,
  ): Promise<'owned' | 'held' | 'down'> {
    try {
      const ok = await this.#shared.ctx.store.set(lockKey, token, Math.max(1, ttlMs), {
        timeoutMs: this.#shared.ctx.operationMs,
        onlyIfAbsent: true,
      })
      return ok ? 'owned' : 'held'
    } catch (error) {
      this.#reportStoreError(error, key, 'lock')
      return 'down'
    }
  }

  #fillL1(full: string, entry: ReadThroughEntry<T>, generation: number, earlyRefreshMs: number): void {
    this.#shared.ctx.l1?.fill(
      full,
      this.#host.name,
      entry.value,
      entry.tags.map((t) => t.tag),
      earliest(l1ExpiresAt(entry.expiresAt, earlyRefreshMs), entry.endsAt ?? 0),
      entry.raw.length,
      generation,
    )
  }

  #timedOut(key: string, timeoutMs: number): KeyshardError {
    const ns = this.#host.name
    return new KeyshardError(
      'ERR_TIMEOUT',
      `No value for "${key}" in namespace "${ns}" within ${timeoutMs} ms (hardTimeout); the load goes on and stores its value`,
      { details: { namespace: ns, key, timeoutMs } },
    )
  }

  #reportWait(key: string, started: number): void {
    this.#shared.ctx.events.emit('lock:wait', {
      namespace: this.#host.name,
      key,
      waitedMs: Date.now() - started,
    })
  }

  #reportStoreError(error: unknown, key: string, operation = 'getOrSet'): void {
    this.#shared.ctx.events.emit('error', {
      error: asKeyshardError(error, 'ERR_COMMAND'),
      operation,
      namespace: this.#host.name,
      key,
    })
  }
}

/**
 * The L1 copy ends where the early-refresh window starts: L1 hits never look at expiry, so inside the window the
 * reads must reach Valkey for one of them to start the refresh.
 */
function l1ExpiresAt(expiresAt: number, earlyRefreshMs: number): number {
  return expiresAt > 0 && earlyRefreshMs > 0 ? expiresAt - earlyRefreshMs : expiresAt
}

/** The earlier of two expiry times, 0 standing for never. */
function earliest(a: number, b: number): number {
  return a === 0 ? b : b === 0 ? a : Math.min(a, b)
}

/** Whether epochs kept alive for `kept` ms cover an entry living `needed` ms (null: no expiry). */
function outlasts(kept: number | null, needed: number | null): boolean {
  return kept === null || (needed !== null && kept >= needed)
}

function isFresh(entry: { expiresAt: number }, now: number): boolean {
  return entry.expiresAt === 0 || now < entry.expiresAt
}

function isStaleUsable(entry: { expiresAt: number; staleUntil: number }, now: number): boolean {
  return entry.expiresAt !== 0 && (entry.staleUntil === 0 || now < entry.staleUntil)
}

/** What is left of `totalMs` (undefined: no limit) since `started` (performance.now()), never negative. */
function remaining(totalMs: number | undefined, started: number): number | undefined {
  return totalMs === undefined ? undefined : Math.max(0, totalMs - (performance.now() - started))
}

function noop(): void {}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function raceTimeout<V>(work: Promise<V>, ms: number): Promise<V | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      work,
      new Promise<typeof TIMED_OUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMED_OUT), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}
