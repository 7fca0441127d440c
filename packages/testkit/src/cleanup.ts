import { rmSync } from 'node:fs'

interface Tracked {
  pid(): number | undefined
  dir: string
}

const tracked = new Set<Tracked>()
let installed = false

function killAllSync(): void {
  for (const entry of tracked) {
    const pid = entry.pid()
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    try {
      rmSync(entry.dir, { recursive: true, force: true })
    } catch {
      // best effort on the way out
    }
  }
  tracked.clear()
}

function onSignal(signal: NodeJS.Signals): void {
  killAllSync()
  // Only take over the default behaviour (exit) when nobody else handles the signal.
  if (process.listenerCount(signal) === 1) {
    process.removeListener(signal, onSignal)
    process.kill(process.pid, signal)
  }
}

function install(): void {
  if (installed) return
  installed = true
  // 'exit' handlers must be synchronous, so the kill is SIGKILL and the removal rmSync.
  process.on('exit', killAllSync)
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGHUP', onSignal)
  // The monitor variant observes a crash without changing Node's default crash behaviour.
  process.on('uncaughtExceptionMonitor', killAllSync)
}

/**
 * Registers a started server so it is killed and its directory removed when the process ends.
 * Returns the function that forgets it again (after a normal stop).
 */
export function track(pid: () => number | undefined, dir: string): () => void {
  install()
  const entry: Tracked = { pid, dir }
  tracked.add(entry)
  return () => {
    tracked.delete(entry)
  }
}

/** Number of servers this process started and has not stopped yet. */
export function trackedCount(): number {
  return tracked.size
}
