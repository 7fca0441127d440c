export interface RateLimiterOptions {
  /** Loader calls allowed per second, sustained. */
  perSecond: number
  /** Calls allowed in a burst above the sustained rate. @default max(1, perSecond) */
  burst?: number
}

/** A token bucket: at most `burst` calls at once, refilled at `perSecond`. Decides locally, costs no I/O. */
export class RateLimiter {
  readonly #rate: number
  readonly #burst: number
  #tokens: number
  #last: number

  constructor(
    options: RateLimiterOptions,
    private readonly now: () => number = Date.now,
  ) {
    if (!(options.perSecond > 0))
      throw new RangeError(`rateLimit.perSecond must be positive, got ${options.perSecond}`)
    this.#rate = options.perSecond / 1000
    // A sustained rate below 1/s still allows one call at a time.
    this.#burst = options.burst ?? Math.max(1, options.perSecond)
    if (!(this.#burst >= 1)) throw new RangeError(`rateLimit.burst must be at least 1, got ${this.#burst}`)
    this.#tokens = this.#burst
    this.#last = now()
  }

  tryAcquire(): boolean {
    const now = this.now()
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#rate)
    this.#last = now
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}
