import { keySlot } from './key-slot.js'

/** Input indices of `keys` grouped by hash slot, so each group can go in one command without CROSSSLOT. */
export function groupBySlot(keys: readonly string[]): number[][] {
  const groups = new Map<number, number[]>()
  keys.forEach((key, i) => {
    const slot = keySlot(key)
    const group = groups.get(slot)
    if (group) group.push(i)
    else groups.set(slot, [i])
  })
  return [...groups.values()]
}
