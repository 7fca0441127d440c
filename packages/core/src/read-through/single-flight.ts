/** Concurrent callers for one key share one in-flight promise; the entry is dropped once it settles. */
export class SingleFlight<V> {
  readonly #inFlight = new Map<string, Promise<V>>()

  /** The promise callers of `key` share right now, if any. */
  get(key: string): Promise<V> | undefined {
    return this.#inFlight.get(key)
  }

  run(key: string, work: () => Promise<V>): Promise<V> {
    const existing = this.#inFlight.get(key)
    if (existing) return existing
    const promise = work().finally(() => {
      if (this.#inFlight.get(key) === promise) this.#inFlight.delete(key)
    })
    this.#inFlight.set(key, promise)
    return promise
  }

  get size(): number {
    return this.#inFlight.size
  }
}
