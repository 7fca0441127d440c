/**
 * Runs a broad mutation, then its announcement, under one deadline of `timeoutMs` for the whole call (0: none), so
 * the caller waits at most its timeout, not the mutation's plus the announcement's. The mutation is handed
 * `left()`, the time still left in ms (0 when there is no deadline, at least 1 otherwise, since 0 would mean none),
 * for its own later steps. The announcement is awaited with what is left (at least 1 ms) when the mutation
 * succeeded, so the caller's promise covers the other instances' L1 too; it is sent without waiting, within the
 * call's timeout, when the mutation failed (it may have applied part-way): `announce` never rejects, and a failure
 * or a timeout is reported by it.
 */
export async function announcedAfter<T>(
  timeoutMs: number,
  mutation: (left: () => number) => Promise<T>,
  announce: (timeoutMs: number) => Promise<void> | undefined,
): Promise<T> {
  const deadline = Number.isFinite(timeoutMs) && timeoutMs > 0 ? performance.now() + timeoutMs : undefined
  const remaining = () => (deadline === undefined ? 0 : Math.ceil(deadline - performance.now()))
  let result: T
  try {
    result = await mutation(() => (deadline === undefined ? 0 : Math.max(1, remaining())))
  } catch (error) {
    // Not waited for, but bounded by the call's own timeout, so an announcement to a hung node is reported.
    void announce(deadline === undefined ? 0 : timeoutMs)
    throw error
  }
  // At least 1 ms: a mutation answered right on the deadline still has its announcement awaited or reported as
  // timed out, never skipped in silence.
  await announce(deadline === undefined ? 0 : Math.max(1, remaining()))
  return result
}
