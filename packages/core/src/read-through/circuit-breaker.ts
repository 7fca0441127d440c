export interface CircuitBreakerOptions {
  /** Consecutive loader failures that open the circuit. @default 5 */
  failureThreshold?: number
  /** How long the circuit stays open before one probe call is let through (half-open). @default 10_000 */
  openMs?: number
}

export type CircuitState = 'closed' | 'open' | 'half-open'

/**
 * Protects a failing data source from a thundering retry: after `failureThreshold` consecutive failures, loader
 * calls are refused for `openMs`; then exactly one probe is allowed, whose outcome closes or re-opens the circuit.
 */
export class CircuitBreaker {
  readonly #threshold: number
  readonly #openMs: number
  #failures = 0
  #openedAt = 0
  #state: CircuitState = 'closed'
  #probeInFlight = false
  #probeStartedAt = 0

  constructor(
    options: CircuitBreakerOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.#threshold = options.failureThreshold ?? 5
    this.#openMs = options.openMs ?? 10_000
    if (!Number.isInteger(this.#threshold) || this.#threshold < 1) {
      throw new RangeError(
        `circuitBreaker.failureThreshold must be a positive integer, got ${this.#threshold}`,
      )
    }
    if (!(this.#openMs > 0))
      throw new RangeError(`circuitBreaker.openMs must be positive, got ${this.#openMs}`)
  }

  get state(): CircuitState {
    if (this.#state === 'open' && this.now() - this.#openedAt >= this.#openMs) this.#state = 'half-open'
    return this.#state
  }

  /**
   * Whether a loader call may start now. In half-open state only the first caller gets through; a probe that has
   * not settled within `openMs` (a loader that never returns) no longer blocks the next one.
   */
  tryAcquire(): boolean {
    const state = this.state
    if (state === 'closed') return true
    if (
      state === 'half-open' &&
      (!this.#probeInFlight || this.now() - this.#probeStartedAt >= this.#openMs)
    ) {
      this.#probeInFlight = true
      this.#probeStartedAt = this.now()
      return true
    }
    return false
  }

  onSuccess(): void {
    this.#failures = 0
    this.#probeInFlight = false
    this.#state = 'closed'
  }

  onFailure(): void {
    this.#probeInFlight = false
    this.#failures++
    if (this.#state === 'half-open' || this.#failures >= this.#threshold) {
      this.#state = 'open'
      this.#openedAt = this.now()
    }
  }
}
