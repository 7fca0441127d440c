/** One call in progress, with what it was started with, shared by every caller of its key. */
export interface Flight<V, C> {
  readonly result: Promise<V>
  readonly context: C
}

/** Concurrent callers for one key share one in-flight call; the entry is dropped once it settles. */
export class SingleFlight<V, C = undefined> {
  readonly #inFlight = new Map<string, Flight<V, C>>()

  /** The call callers of `key` share right now, if any. */
  get(key: string): Flight<V, C> | undefined {
    return this.#inFlight.get(key)
  }

  /** Starts `work` unless a call for `key` is already in flight; `context` travels with it to later callers. */
  run(key: string, work: () => Promise<V>, context: C): Flight<V, C> {
    const existing = this.#inFlight.get(key)
    if (existing) return existing
    const flight: Flight<V, C> = {
      result: work().finally(() => {
        if (this.#inFlight.get(key) === flight) this.#inFlight.delete(key)
      }),
      context,
    }
    this.#inFlight.set(key, flight)
    return flight
  }

  get size(): number {
    return this.#inFlight.size
  }
}
