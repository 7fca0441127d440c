import { keySlot } from './key-slot.js'
import type { Cluster, Redis } from 'iovalkey'
import { nodeAddress } from './node-address.js'

/**
 * Redirects and cluster states the cluster client handles itself (follow, refresh the slot map, retry): a
 * command sent straight to a node that answers one of these is sent again through the cluster client.
 */
const CLUSTER_REPLY = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|LOADING|MASTERDOWN|READONLY)\b/

/**
 * The connection a single-key command goes to, read from iovalkey's own slot map and connection pool, so the
 * hot path skips the cluster client's per-command routing: it builds a redirect handler (several closures) for
 * every command, which measured ≈ 1.7 µs of the ≈ 8.4 µs of client CPU a Keyshard GET costs on a 3-master
 * cluster (apps/bench, interleaved). iovalkey still owns topology and connections: the router only looks
 * them up, and anything it cannot place (unknown slot, node not ready) or that a node redirects goes through
 * the cluster client as before (`needsClusterClient`).
 */
export class NodeRouter {
  readonly #cluster: Cluster
  readonly #replicaReads: boolean
  readonly #byAddress = new Map<string, Redis>()

  constructor(cluster: Cluster, readFrom: 'primary' | 'replica') {
    this.#cluster = cluster
    this.#replicaReads = readFrom === 'replica'
    for (const node of cluster.nodes('all')) this.#byAddress.set(nodeAddress(node), node)
    cluster.on('+node', (node: Redis) => this.#byAddress.set(nodeAddress(node), node))
    cluster.on('-node', (node: Redis) => {
      const address = nodeAddress(node)
      if (this.#byAddress.get(address) === node) this.#byAddress.delete(address)
    })
  }

  /** The slot's master, when it has a ready connection. */
  primary(key: string): Redis | undefined {
    const owners = this.#cluster.slots[keySlot(key)]
    return owners === undefined ? undefined : this.#ready(owners[0])
  }

  /** Where a read goes: a random replica of the slot with replica reads (as iovalkey's `scaleReads`), else its master. */
  reader(key: string): Redis | undefined {
    return this.readerOfSlot(keySlot(key))
  }

  /** {@link reader} for a slot. */
  readerOfSlot(slot: number): Redis | undefined {
    const owners = this.#cluster.slots[slot]
    if (owners === undefined) return undefined
    if (this.#replicaReads && owners.length > 1) {
      return this.#ready(owners[1 + Math.floor(Math.random() * (owners.length - 1))])
    }
    return this.#ready(owners[0])
  }

  #ready(address: string | undefined): Redis | undefined {
    const node = address === undefined ? undefined : this.#byAddress.get(address)
    return node?.status === 'ready' ? node : undefined
  }
}

/**
 * Whether a multi-key command was refused because its slot is moving (keys split between two nodes): the keys
 * can still be read one by one, each following its own redirect.
 */
export function isSlotMoving(error: unknown): boolean {
  const e = error as { name?: unknown; message?: unknown } | null
  return (
    e?.name === 'ReplyError' && typeof e.message === 'string' && /^(TRYAGAIN|ASK|MOVED)\b/.test(e.message)
  )
}

/** Whether a command was refused because its key holds another type (`WRONGTYPE`). */
export function isWrongType(error: Error): boolean {
  return error.name === 'ReplyError' && error.message.startsWith('WRONGTYPE')
}

/**
 * Whether a command that failed on a node it was sent to directly should be sent again through the cluster
 * client: a redirect or cluster-state reply, or a link failure (the cluster client reconnects and re-routes).
 * Any other reply (WRONGTYPE, OOM…) is the answer and would be the same again.
 */
export function needsClusterClient(error: unknown): boolean {
  const e = error as { name?: unknown; message?: unknown } | null
  if (e?.name !== 'ReplyError') return true
  return typeof e.message === 'string' && CLUSTER_REPLY.test(e.message)
}
