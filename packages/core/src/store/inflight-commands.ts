import { KeyshardError } from '../errors.js'

interface Entry {
  readonly deadline: number
  readonly timeoutMs: number
  readonly what: string
  readonly reject: (error: unknown) => void
  expired: boolean
}

/**
 * The commands a store has issued and not yet seen settle. It enforces their deadlines with one timer for all
 * of them, armed for the earliest deadline, instead of a timer and a promise race per command: on the hot path
 * a command costs one promise and a Set entry. It also lets close() wait for what is still on the wire.
 */
export class InflightCommands {
  readonly #pending = new Set<Entry>()
  #timer: NodeJS.Timeout | undefined
  #timerAt = Number.POSITIVE_INFINITY
  #onDrained: Array<() => void> = []

  get size(): number {
    return this.#pending.size
  }

  /**
   * Settles like `command`, with its rejection passed through `mapError`, or rejects with ERR_TIMEOUT once
   * `timeoutMs` has passed (0 or Infinity: no deadline). Valkey cannot cancel a command, so a timed-out one stays
   * tracked until its reply arrives.
   */
  track<T>(
    command: Promise<T>,
    timeoutMs: number,
    what: string,
    mapError: (error: unknown, what: string) => unknown,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timed = Number.isFinite(timeoutMs) && timeoutMs > 0
      const entry: Entry = {
        deadline: timed ? performance.now() + timeoutMs : Number.POSITIVE_INFINITY,
        timeoutMs,
        what,
        reject,
        expired: !timed,
      }
      this.#pending.add(entry)
      if (timed && entry.deadline < this.#timerAt) this.#arm(entry.deadline)
      command.then(
        (value) => {
          this.#settle(entry)
          resolve(value)
        },
        (error: unknown) => {
          this.#settle(entry)
          reject(mapError(error, what))
        },
      )
    })
  }

  /** Resolves once nothing is in flight. */
  drained(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#onDrained.push(resolve))
  }

  #settle(entry: Entry): void {
    this.#pending.delete(entry)
    if (this.#pending.size > 0) return
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
      this.#timerAt = Number.POSITIVE_INFINITY
    }
    const waiting = this.#onDrained
    this.#onDrained = []
    for (const resolve of waiting) resolve()
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = setTimeout(this.#sweep, Math.max(0, Math.ceil(at - performance.now())))
  }

  readonly #sweep = (): void => {
    this.#timer = undefined
    this.#timerAt = Number.POSITIVE_INFINITY
    const now = performance.now()
    let next = Number.POSITIVE_INFINITY
    for (const entry of this.#pending) {
      if (entry.expired) continue
      if (entry.deadline <= now) {
        entry.expired = true
        entry.reject(
          new KeyshardError('ERR_TIMEOUT', `${entry.what} timed out after ${entry.timeoutMs}ms`, {
            details: { timeoutMs: entry.timeoutMs },
          }),
        )
      } else if (entry.deadline < next) {
        next = entry.deadline
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next)
  }
}
