import { randomUUID } from 'node:crypto'
import type { Store } from '../store/store.js'

/** What one mutation tells the other instances. Keys are full keys; the channel is per prefix. */
export type InvalidationMessage = NamespaceInvalidation | FlushInvalidation

export interface NamespaceInvalidation {
  /** Sender instance id, so an instance ignores its own echoes. */
  i: string
  n: string
  k?: string[]
  t?: string[]
  c?: 1
}

/**
 * After `flushAll`: every namespace. It names none, so an instance that predates this message reads it as malformed,
 * which also flushes its whole L1 (and reports the message).
 */
export interface FlushInvalidation {
  i: string
  f: 1
}

/**
 * The message in `raw`, or undefined when it is not one: anyone who can PUBLISH may write to the channel, and a
 * malformed message must not throw inside the subscriber's handler.
 */
export function parseInvalidation(raw: string): InvalidationMessage | undefined {
  let message: unknown
  try {
    message = JSON.parse(raw)
  } catch {
    return undefined
  }
  if (typeof message !== 'object' || message === null) return undefined
  const { i, n, k, t, c, f } = message as Record<string, unknown>
  if (typeof i !== 'string') return undefined
  if (f !== undefined) return f === 1 ? { i, f } : undefined
  const strings = (v: unknown) =>
    v === undefined || (Array.isArray(v) && v.every((x) => typeof x === 'string'))
  if (typeof n !== 'string' || !strings(k) || !strings(t) || !(c === undefined || c === 1)) return undefined
  return message as NamespaceInvalidation
}

/** How a namespace announces its mutations to the L1 tiers of every instance. */
export interface Invalidations {
  invalidateKeys(namespace: string, fullKeys: readonly string[]): void
  invalidateTags(namespace: string, tags: readonly string[]): void
  clearNamespace(namespace: string): void
  /** Every namespace of the prefix, after the server was flushed. */
  invalidateAll(): void
}

/**
 * Publishes invalidations on `${prefix}__inv` without keeping an L1 of its own: the L1 tier uses it for its
 * announcements, and a cache without L1 (`publishInvalidations: true`) uses it alone, so that writers that do
 * not cache in process still keep other instances' L1 coherent. Publishing is fire-and-forget: a failure is
 * reported, never thrown into the write that triggered it.
 */
export class InvalidationPublisher implements Invalidations {
  readonly id = randomUUID()
  readonly channel: string
  readonly #store: Store
  readonly #onError: (error: unknown, operation: string) => void
  #closed = false

  constructor(store: Store, prefix: string, onError: (error: unknown, operation: string) => void) {
    this.#store = store
    this.channel = `${prefix}__inv`
    this.#onError = onError
  }

  invalidateKeys(namespace: string, fullKeys: readonly string[]): void {
    if (fullKeys.length > 0) this.publish({ i: this.id, n: namespace, k: [...fullKeys] })
  }

  invalidateTags(namespace: string, tags: readonly string[]): void {
    if (tags.length > 0) this.publish({ i: this.id, n: namespace, t: [...tags] })
  }

  clearNamespace(namespace: string): void {
    this.publish({ i: this.id, n: namespace, c: 1 })
  }

  invalidateAll(): void {
    this.publish({ i: this.id, f: 1 })
  }

  publish(message: InvalidationMessage): void {
    if (this.#closed) return
    this.#store
      .publish(this.channel, JSON.stringify(message))
      .catch((error: unknown) => this.#onError(error, 'l1-publish'))
  }

  close(): void {
    this.#closed = true
  }
}
