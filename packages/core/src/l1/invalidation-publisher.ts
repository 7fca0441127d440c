import { randomUUID } from 'node:crypto'
import type { Store } from '../store/store.js'
import { withTimeout } from '../store/with-timeout.js'

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

/**
 * How a namespace announces its mutations to the L1 tiers of every instance.
 *
 * Key invalidations are fire-and-forget: they ride on every write, and waiting there would add round trips to the
 * hot path. The broad ones (tags, clear, flush) resolve once the message has been sent to the other instances (see
 * InvalidationPublisher.announce), because their callers are promised that nothing older is served once they
 * resolve. They never reject: the server-side change already happened, so a lost announcement is reported as an
 * `error` event and waited for at most `timeoutMs` (omitted or 0: no deadline of its own).
 */
export interface Invalidations {
  invalidateKeys(namespace: string, fullKeys: readonly string[]): void
  invalidateTags(namespace: string, tags: readonly string[], timeoutMs?: number): Promise<void>
  clearNamespace(namespace: string, timeoutMs?: number): Promise<void>
  /** Every namespace of the prefix, after the server was flushed. */
  invalidateAll(timeoutMs?: number): Promise<void>
}

/**
 * Publishes invalidations on `${prefix}__inv` without keeping an L1 of its own: the L1 tier uses it for its
 * announcements, and a cache without L1 (`publishInvalidations: true`) uses it alone, so that writers that do
 * not cache in process still keep other instances' L1 coherent. A failure is reported, never thrown into the
 * mutation that triggered it.
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

  invalidateTags(namespace: string, tags: readonly string[], timeoutMs?: number): Promise<void> {
    if (tags.length === 0) return Promise.resolve()
    return this.announce({ i: this.id, n: namespace, t: [...tags] }, timeoutMs)
  }

  clearNamespace(namespace: string, timeoutMs?: number): Promise<void> {
    return this.announce({ i: this.id, n: namespace, c: 1 }, timeoutMs)
  }

  invalidateAll(timeoutMs?: number): Promise<void> {
    return this.announce({ i: this.id, f: 1 }, timeoutMs)
  }

  /** Fire-and-forget, for the hot path: a failure is reported. */
  publish(message: InvalidationMessage): void {
    if (this.#closed) return
    this.#store
      .publish(this.channel, JSON.stringify(message))
      .catch((error: unknown) => this.#onError(error, 'l1-publish'))
  }

  /**
   * Resolves once the other instances have been sent the message, or after `timeoutMs` (0: no deadline of its
   * own; the store sends PUBLISH without one), and never rejects.
   *
   * The PUBLISH reply alone proves too little: it reaches this process before the subscribers' copies do (measured:
   * a reader in this process still answered from its old L1 copy in 94 to 100 of 100 trials). Hence the fence: the
   * store PINGs the connection the PUBLISH went over once its reply is in (see PublishOptions.fenced), and the node
   * answers that only after it has written the PUBLISH's messages, so they are in every subscriber's socket (on the
   * node published to; see README, L1 coherence). A PING, not a second PUBLISH, so that an ACL user allowed only
   * the invalidation channel can send it. The turn of the event loop after it lets this process read its own
   * subscriber sockets (and the memory bus deliver) before the caller goes on.
   */
  async announce(message: InvalidationMessage, timeoutMs = 0): Promise<void> {
    if (this.#closed) return
    const sent = async () => {
      await this.#store.publish(this.channel, JSON.stringify(message), { fenced: true })
      await new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)))
    }
    try {
      await withTimeout(sent(), timeoutMs, 'PUBLISH')
    } catch (error) {
      this.#onError(error, 'l1-publish')
    }
  }

  close(): void {
    this.#closed = true
  }
}
