import type { Cluster, Redis } from 'iovalkey'
import { SLOT_COUNT } from './key-slot.js'

/** `host:port`, the form error messages, health reports and CLUSTER NODES use. */
export function addressOf(host: string | undefined, port: number | undefined): string {
  return `${host ?? '?'}:${port ?? '?'}`
}

export function nodeAddress(node: Redis): string {
  return addressOf(node.options.host, node.options.port)
}

/**
 * The cluster's masters ordered by address. The subscriber listens on the first and invalidations are published
 * there (one node, no hop over the cluster bus), so both sides must order them the same way: this function.
 */
export function mastersByAddress(cluster: Cluster): Redis[] {
  return cluster.nodes('master').sort((a, b) => nodeAddress(a).localeCompare(nodeAddress(b)))
}

/** mastersByAddress(cluster)[0] without sorting (publish runs on every write with an L1). */
export function firstMasterByAddress(cluster: Cluster): Redis | undefined {
  let first: Redis | undefined
  let firstAddress = ''
  for (const node of cluster.nodes('master')) {
    const address = nodeAddress(node)
    if (first === undefined || address.localeCompare(firstAddress) < 0) {
      first = node
      firstAddress = address
    }
  }
  return first
}

/**
 * The masters that own slots according to the slot table, ordered by address, with the owners the client
 * holds no connection to. `cluster.nodes('master')` drops a node once its connection ends, so a walk over it would
 * skip that master's keys and report success; the slot table still names every owner.
 */
export function slotOwners(cluster: Cluster): { masters: Redis[]; unreachable: string[] } {
  const connections = new Map(cluster.nodes('all').map((n) => [nodeAddress(n), n]))
  const owners = new Set<string>()
  let unowned = 0
  for (let slot = 0; slot < SLOT_COUNT; slot++) {
    const address = cluster.slots[slot]?.[0]
    if (address === undefined) unowned++
    else owners.add(address)
  }
  const masters: Redis[] = []
  const unreachable: string[] = []
  for (const address of [...owners].sort((a, b) => a.localeCompare(b))) {
    const node = connections.get(address)
    // A node still in the pool may be connecting (iovalkey connects lazily): the command waits for it, or fails.
    if (node !== undefined && node.status !== 'end') masters.push(node)
    else unreachable.push(address)
  }
  if (unowned > 0) unreachable.push(`${unowned} slots with no known owner`)
  return { masters, unreachable }
}
