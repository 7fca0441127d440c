import { type Counter, type Histogram, type MeterProvider, metrics } from '@opentelemetry/api'
import type { CacheEvents } from '../events.js'
import { StatsCollector } from './stats.js'

export interface MetricsOptions {
  /** Where instruments are created. @default the global provider from `@opentelemetry/api` (a no-op without an SDK) */
  meterProvider?: MeterProvider
}

/**
 * Feeds both `cache.stats()` and OpenTelemetry from the cache's own events, so every code path that emits an
 * event is counted once and no operation needs a second reporting call. Latency is the only thing reported
 * directly (events carry no durations).
 */
export class CacheObserver {
  readonly stats = new StatsCollector()
  readonly #hits: Counter | undefined
  readonly #misses: Counter | undefined
  readonly #stale: Counter | undefined
  readonly #errors: Counter | undefined
  readonly #loaderCalls: Counter | undefined
  readonly #duration: Histogram | undefined

  constructor(options: MetricsOptions | false = {}) {
    if (options === false) return
    const meter = (options.meterProvider ?? metrics).getMeter('@keyshard/core')
    this.#hits = meter.createCounter('keyshard.cache.hits', { description: 'Reads answered from the cache' })
    this.#misses = meter.createCounter('keyshard.cache.misses', {
      description: 'Reads that found no valid entry',
    })
    this.#stale = meter.createCounter('keyshard.cache.stale', {
      description: 'Stale values served inside their grace window',
    })
    this.#errors = meter.createCounter('keyshard.cache.errors', {
      description: 'Errors the cache handled and reported',
    })
    this.#loaderCalls = meter.createCounter('keyshard.cache.loader.calls', {
      description: 'Read-through loader invocations',
    })
    this.#duration = meter.createHistogram('keyshard.cache.operation.duration', {
      description: 'Duration of cache operations',
      unit: 'ms',
    })
  }

  attach(events: CacheEvents): void {
    const s = this.stats
    events.on('hit', ({ namespace, tier }) => {
      s.hits++
      if (tier === 'l1') s.l1Hits++
      this.#hits?.add(1, { namespace, tier })
    })
    events.on('miss', ({ namespace }) => {
      s.misses++
      this.#misses?.add(1, { namespace })
    })
    events.on('stale', ({ namespace, reason }) => {
      s.staleServed++
      this.#stale?.add(1, { namespace, reason })
    })
    events.on('error', ({ namespace, operation, error }) => {
      s.errors++
      this.#errors?.add(1, { namespace: namespace ?? '', operation, code: error.code })
    })
    events.on('loader:call', ({ namespace }) => {
      s.loaderCalls++
      this.#loaderCalls?.add(1, { namespace })
    })
  }

  latency(operation: string, namespace: string, ms: number): void {
    this.stats.recordLatency(operation, ms)
    this.#duration?.record(ms, { operation, namespace })
  }
}
