/** Per-operation latency summary. Percentiles come from the most recent samples (see LatencyReservoir). */
export interface LatencySummary {
  count: number
  p50: number
  p99: number
  max: number
}

export interface CacheStats {
  hits: number
  misses: number
  /** hits / (hits + misses); 0 before the first read. */
  hitRate: number
  /** Hits answered by the in-process L1 (included in `hits`). */
  l1Hits: number
  staleServed: number
  errors: number
  loaderCalls: number
  /** Keyed by operation name (`get`, `getMany`, `set`, `getOrSet`, …), in milliseconds. */
  latency: Record<string, LatencySummary>
}

/**
 * A fixed ring of the latest samples. Sorting a copy on `stats()` is cheap at this size, costs nothing on the
 * hot path beyond one array write, and needs no histogram dependency. Older samples fall out, so percentiles
 * describe recent behaviour rather than the whole process lifetime.
 */
export class LatencyReservoir {
  readonly #samples: Float64Array
  #next = 0
  #filled = 0
  #count = 0
  #max = 0

  constructor(size = 2048) {
    this.#samples = new Float64Array(size)
  }

  record(ms: number): void {
    this.#samples[this.#next] = ms
    this.#next = (this.#next + 1) % this.#samples.length
    if (this.#filled < this.#samples.length) this.#filled++
    this.#count++
    if (ms > this.#max) this.#max = ms
  }

  summary(): LatencySummary {
    const sorted = this.#samples.slice(0, this.#filled).sort()
    return { count: this.#count, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: this.#max }
  }
}

/** Nearest-rank percentile over sorted samples; 0 when there are none. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank] as number
}

/** In-process counters behind `cache.stats()`. */
export class StatsCollector {
  hits = 0
  misses = 0
  l1Hits = 0
  staleServed = 0
  errors = 0
  loaderCalls = 0
  readonly #latency = new Map<string, LatencyReservoir>()

  recordLatency(operation: string, ms: number): void {
    let reservoir = this.#latency.get(operation)
    if (reservoir === undefined) {
      reservoir = new LatencyReservoir()
      this.#latency.set(operation, reservoir)
    }
    reservoir.record(ms)
  }

  snapshot(): CacheStats {
    const reads = this.hits + this.misses
    const latency: Record<string, LatencySummary> = {}
    for (const [op, reservoir] of this.#latency) latency[op] = reservoir.summary()
    return {
      hits: this.hits,
      misses: this.misses,
      hitRate: reads === 0 ? 0 : this.hits / reads,
      l1Hits: this.l1Hits,
      staleServed: this.staleServed,
      errors: this.errors,
      loaderCalls: this.loaderCalls,
      latency,
    }
  }
}
