/** The keys a scenario's ops visit, from tables built once (see {@link keySequence}). */
export interface KeySequence {
  /** The key op call `i` of a single-key op uses. */
  key(i: number): string
  /** The keys op call `i` of a batch op uses: shared between calls, so not to be changed by the callee. */
  list(i: number): string[]
}

/** Spreads consecutive calls over the keys: prime, so every key is visited once per `count` calls. */
const STRIDE = 7919

/**
 * `prefix` + a number below `count`, call `i` taking number `i × 7919 mod count`; call `i` of a batch op takes the
 * `size` keys from call `i × size` on. Why tables: the ops built their keys in the measured phase, the bench's own
 * work in each contender's numbers. Profiled, a template string per key and an `Array.from` per call took 8 % of
 * @keyshard/keyv's client CPU per cluster getMany(100), and narrowed the ratios between contenders.
 */
export function keySequence(prefix: string, count: number, size = 1): KeySequence {
  if (count % STRIDE === 0 || count % size !== 0)
    throw new RangeError(
      `keySequence: count ${count} must not be a multiple of ${STRIDE} and must divide by ${size}`,
    )
  const keys = Array.from({ length: count }, (_, n) => `${prefix}${(n * STRIDE) % count}`)
  // Call i's list starts at key i × size mod count, so the lists repeat every count / size calls.
  const lists = Array.from({ length: count / size }, (_, l) => keys.slice(l * size, l * size + size))
  return {
    key: (i) => keys[i % count] as string,
    list: (i) => lists[i % lists.length] as string[],
  }
}
