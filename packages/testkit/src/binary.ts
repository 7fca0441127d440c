import { execFileSync } from 'node:child_process'
import { accessSync, constants, existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'

export type ServerFlavor = 'valkey' | 'redis'

export interface ServerBinary {
  /** Absolute path (or the path given in `VALKEY_SERVER_BIN`) of the server executable. */
  path: string
  flavor: ServerFlavor
  /** Version reported by `--version`, e.g. `7.0.15`. */
  version: string
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this directory
    }
  }
  return undefined
}

function describe(path: string): ServerBinary {
  let output: string
  try {
    output = execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 })
  } catch (err) {
    throw new Error(`Server binary ${path} could not be run with --version: ${(err as Error).message}`, {
      cause: err,
    })
  }
  const version = /v=(\S+)/.exec(output)?.[1] ?? 'unknown'
  // Valkey prints "Valkey server v=..."; older Valkey builds and Redis print "Redis server v=...".
  const flavor: ServerFlavor = /valkey/i.test(output) || /valkey/i.test(path) ? 'valkey' : 'redis'
  return { path, flavor, version }
}

let cached: ServerBinary | undefined
let cachedFor: string | undefined

/**
 * Finds the server executable: `VALKEY_SERVER_BIN` when set, else `valkey-server` on PATH, else
 * `redis-server` on PATH (wire-compatible).
 */
export function findServerBinary(): ServerBinary {
  const override = process.env.VALKEY_SERVER_BIN
  const key = `${override ?? ''}|${process.env.PATH ?? ''}`
  if (cached && cachedFor === key) return cached
  let found: ServerBinary
  if (override) {
    if (!existsSync(override)) {
      throw new Error(`VALKEY_SERVER_BIN points at ${override}, which does not exist`)
    }
    found = describe(override)
  } else {
    const path = onPath('valkey-server') ?? onPath('redis-server')
    if (!path) {
      throw new Error(
        'No server binary found for the Keyshard tests. Set VALKEY_SERVER_BIN to a valkey-server/redis-server ' +
          'executable, or put valkey-server or redis-server on PATH ' +
          '(e.g. `apt-get install valkey-server` or `apt-get install redis-server`, `brew install valkey`).',
      )
    }
    found = describe(path)
  }
  cached = found
  cachedFor = key
  return found
}
