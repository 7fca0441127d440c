import { EventEmitter } from 'node:events'
import type { KeyshardError } from './errors.js'

export type CacheTier = 'l1' | 'l2'

/** Payloads of every event a cache emits. Keys are user keys (without prefix or namespace). */
export interface CacheEventMap {
  hit: { namespace: string; key: string; tier: CacheTier }
  miss: { namespace: string; key: string }
  /**
   * A value past its TTL but inside its grace window was served. `refreshing`: another caller or instance holds
   * the load lock and is refreshing it.
   */
  stale: {
    namespace: string
    key: string
    reason: 'loader-error' | 'loader-timeout' | 'circuit-open' | 'refreshing'
  }
  set: { namespace: string; key: string }
  delete: { namespace: string; key: string }
  invalidate: { namespace: string; tags: string[] }
  clear: { namespace: string }
  'loader:call': { namespace: string; key: string }
  'loader:error': { namespace: string; key: string; error: unknown }
  'lock:wait': { namespace: string; key: string; waitedMs: number }
  error: { error: KeyshardError; operation: string; namespace?: string; key?: string }
}

export type CacheEventName = keyof CacheEventMap
export type CacheListener<E extends CacheEventName> = (payload: CacheEventMap[E]) => void

/**
 * Typed events. Unlike a bare EventEmitter, an `error` with no listener is dropped rather than thrown: an error
 * event reports something the cache already handled (a decode failure served as a miss), it must never crash
 * the process of a user who did not subscribe.
 */
export class CacheEvents {
  readonly #emitter = new EventEmitter()

  constructor() {
    this.#emitter.setMaxListeners(0)
  }

  on<E extends CacheEventName>(event: E, listener: CacheListener<E>): this {
    this.#emitter.on(event, listener)
    return this
  }

  once<E extends CacheEventName>(event: E, listener: CacheListener<E>): this {
    this.#emitter.once(event, listener)
    return this
  }

  off<E extends CacheEventName>(event: E, listener: CacheListener<E>): this {
    this.#emitter.off(event, listener)
    return this
  }

  /** Cheap guard so hot paths skip building payloads nobody listens to. */
  wants(event: CacheEventName): boolean {
    return this.#emitter.listenerCount(event) > 0
  }

  emit<E extends CacheEventName>(event: E, payload: CacheEventMap[E]): void {
    if (this.#emitter.listenerCount(event) === 0) return
    this.#emitter.emit(event, payload)
  }

  removeAll(): void {
    this.#emitter.removeAllListeners()
  }
}
