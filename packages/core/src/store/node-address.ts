import type { Cluster, Redis } from 'iovalkey'

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
