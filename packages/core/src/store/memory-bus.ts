/**
 * In-process pub/sub hub. Several MemoryStores sharing one bus behave like several processes on one Valkey:
 * each sees the others' messages. Delivery is asynchronous, as it would be over a network.
 */
type Listener = {
  onMessage: (message: string) => void
  onLinkChange: ((up: boolean) => void) | undefined
}

export class MemoryBus {
  readonly #channels = new Map<string, Set<Listener>>()

  publish(channel: string, message: string): void {
    const listeners = this.#channels.get(channel)
    if (listeners === undefined) return
    for (const listener of [...listeners]) {
      setImmediate(() => {
        // A listener removed before delivery must not receive the message.
        if (this.#channels.get(channel)?.has(listener)) listener.onMessage(message)
      })
    }
  }

  subscribe(
    channel: string,
    onMessage: (message: string) => void,
    onLinkChange?: (up: boolean) => void,
  ): () => void {
    const listener: Listener = { onMessage, onLinkChange }
    let set = this.#channels.get(channel)
    if (set === undefined) {
      set = new Set()
      this.#channels.set(channel, set)
    }
    set.add(listener)
    return () => {
      const current = this.#channels.get(channel)
      if (current === undefined) return
      current.delete(listener)
      if (current.size === 0) this.#channels.delete(channel)
    }
  }

  /** Number of active subscriptions on a channel (tests). */
  subscriberCount(channel: string): number {
    return this.#channels.get(channel)?.size ?? 0
  }

  /**
   * Test hook: reports the link down to every subscriber, then up again on the next turn, as a reconnecting
   * client would. Messages published while "down" are still delivered; callers that care test the callbacks.
   */
  simulateLinkDrop(): void {
    const all = [...this.#channels.values()].flatMap((s) => [...s])
    for (const l of all) l.onLinkChange?.(false)
    setImmediate(() => {
      for (const l of all) l.onLinkChange?.(true)
    })
  }
}
