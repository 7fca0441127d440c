import { keySlot } from './key-slot.js'

export interface NodeGroup {
  /** Input indices of the keys in this group, in input order. */
  readonly indices: number[]
  /** Whether the keys span more than one slot (then a plain multi-key command would be CROSSSLOT). */
  readonly crossSlot: boolean
}

/**
 * Input indices of `keys` grouped by the master that serves their slot, so a node's share of a batch can go in
 * one command instead of one per slot: random keys almost never share a slot, so per-slot batches of N keys are
 * N commands. `ownerOf` maps a slot to its master as the client last saw it; keys of a slot it does not know are
 * grouped by slot alone, which is always safe.
 */
export function groupByNode(
  keys: readonly string[],
  ownerOf: (slot: number) => string | undefined,
): NodeGroup[] {
  const byNode = new Map<string, { indices: number[]; slot: number; crossSlot: boolean }>()
  const bySlot = new Map<number, number[]>()
  keys.forEach((key, i) => {
    const slot = keySlot(key)
    const owner = ownerOf(slot)
    if (owner === undefined) {
      const group = bySlot.get(slot)
      if (group) group.push(i)
      else bySlot.set(slot, [i])
      return
    }
    const group = byNode.get(owner)
    if (group === undefined) {
      byNode.set(owner, { indices: [i], slot, crossSlot: false })
    } else {
      group.indices.push(i)
      if (group.slot !== slot) group.crossSlot = true
    }
  })
  const out: NodeGroup[] = []
  for (const { indices, crossSlot } of byNode.values()) out.push({ indices, crossSlot })
  for (const indices of bySlot.values()) out.push({ indices, crossSlot: false })
  return out
}
