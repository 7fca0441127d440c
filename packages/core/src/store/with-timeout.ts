import { KeyshardError } from '../errors.js'

/**
 * Races `promise` against a deadline. The underlying command keeps running (Valkey has no cancel), but the caller
 * gets ERR_TIMEOUT on time and the timer never outlives the race.
 */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) return promise
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new KeyshardError('ERR_TIMEOUT', `${what} timed out after ${timeoutMs}ms`, {
          details: { timeoutMs },
        }),
      )
    }, timeoutMs)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

/**
 * QUIT (which lets queued replies arrive) when the connection is up, bounded by `ms`; otherwise, or when the
 * server does not answer in time, the connection is simply dropped.
 */
export async function quitWithin(
  client: { status: string; quit(): Promise<unknown>; disconnect(): void },
  ms: number,
): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect()
    return
  }
  try {
    await withTimeout(client.quit(), ms, 'QUIT')
  } catch {
    client.disconnect()
  }
}
