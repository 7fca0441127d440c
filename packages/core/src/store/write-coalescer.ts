import type { Writable } from 'node:stream'

/**
 * Keyshard's auto-pipelining, done at the socket: the first command of a tick corks the connections' sockets and
 * a `process.nextTick` uncorks them, so everything issued in that tick (and the promise continuations run with
 * it) leaves in one write per node while each command still goes through the client's normal path. A hold
 * `until: 'turn'` uncorks in `setImmediate` instead, so that what the turn's other reply events issue joins it.
 *
 * Why not iovalkey's `enableAutoPipelining`: it builds a `Pipeline` per tick with a promise and a callback per
 * command, and keeps only one of them in flight per node. Measured in apps/bench (100 callers, 1 KiB GET) it
 * costs ≈ 9–13 µs of client CPU per GET standalone and 15–19 µs on a cluster, against ≈ 4–6 µs and 10–11 µs
 * for plain commands written into a corked socket.
 */
export class WriteCoalescer {
  readonly #sockets: () => Iterable<Writable | undefined>
  #corked: Writable[] | undefined
  #tickScheduled = false

  /** `sockets` lists the sockets commands may be written to now (it is read once per tick). */
  constructor(sockets: () => Iterable<Writable | undefined>) {
    this.#sockets = sockets
  }

  /**
   * Call before writing a command. `'turn'` keeps the sockets corked until the end of this event-loop turn
   * (`setImmediate`) instead of this tick; a `'tick'` hold meanwhile still flushes at the end of its tick.
   */
  hold(until: 'tick' | 'turn' = 'tick'): void {
    if (this.#corked !== undefined) {
      if (until === 'tick' && !this.#tickScheduled) {
        this.#tickScheduled = true
        process.nextTick(this.#release)
      }
      return
    }
    const corked: Writable[] = []
    for (const socket of this.#sockets()) {
      if (socket?.writable) {
        socket.cork()
        corked.push(socket)
      }
    }
    this.#corked = corked
    this.#tickScheduled = until === 'tick'
    if (until === 'tick') process.nextTick(this.#release)
    else setImmediate(this.#release)
  }

  readonly #release = (): void => {
    const corked = this.#corked
    this.#corked = undefined
    this.#tickScheduled = false
    // A release left over from an earlier hold may uncork a newer one early: that costs batching, never order.
    // A socket closed meanwhile is uncorked too: its buffered writes are discarded with it, and the commands
    // already fail through the client's own close handling.
    if (corked !== undefined) for (const socket of corked) socket.uncork()
  }
}
