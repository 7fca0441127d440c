import type { Redis } from 'iovalkey'
import { KeyshardError } from '../errors.js'
import { nodeAddress } from './node-address.js'

/**
 * A SCAN over every master answers one opaque cursor: the address of the master it stands on and that node's own
 * cursor (`127.0.0.1:7001@1234`). The address, not the master's place in the list, because the list changes with
 * the topology between pages (a failover promotes a replica with another address), and a node cursor resumed on
 * another node skips part of it.
 */
export function scanCursor(node: Redis, nodeCursor: string): string {
  return `${nodeAddress(node)}@${nodeCursor}`
}

/**
 * Where to go on from a cursor, among the masters ordered by address. When the cursor's master no longer is one
 * (failed over), its keys are now on a node the scan may already have passed, so the scan starts over: SCAN may
 * return a key twice, never leave out one that was there throughout. (A key moved by resharding between pages
 * can still be missed, as by any cluster-wide SCAN.)
 */
export function resumeScan(masters: readonly Redis[], cursor: string): { index: number; nodeCursor: string } {
  if (cursor === '0') return { index: 0, nodeCursor: '0' }
  const at = cursor.lastIndexOf('@')
  const nodeCursor = cursor.slice(at + 1)
  if (at <= 0 || !/^\d+$/.test(nodeCursor)) {
    throw new KeyshardError('ERR_COMMAND', `SCAN: "${cursor}" is not a cursor this store returned`)
  }
  const address = cursor.slice(0, at)
  const index = masters.findIndex((node) => nodeAddress(node) === address)
  return index === -1 ? { index: 0, nodeCursor: '0' } : { index, nodeCursor }
}
