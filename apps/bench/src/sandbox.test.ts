import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const MODULES = [
  './scenarios/core-sandboxes.ts',
  './scenarios/get-or-set-sandboxes.ts',
  './scenarios/keyv-sandboxes.ts',
  './scenarios/serialization-sandboxes.ts',
]
// Client libraries, by a piece of their installed path (CommonJS ones land in the module cache when imported).
const CLIENTS = ['/iovalkey@', '/ioredis@', '/@redis/client@', '/bentocache@', '/cache-manager@', '/@keyv/']

/** Every CommonJS file loaded in a fresh process that imports `modules` and nothing else. */
function loadedBy(modules: string[]): string[] {
  const urls = modules.map((m) => new URL(m, import.meta.url).href)
  const script = `
    import { createRequire } from 'node:module'
    for (const url of ${JSON.stringify(urls)}) await import(url)
    console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)))`
  const out = execFileSync(
    process.execPath,
    ['--conditions=@keyshard/source', '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' },
  )
  return JSON.parse(out) as string[]
}

describe('sandbox modules', () => {
  it('load no client library until a sandbox is built, so each contender process holds only its own', () => {
    const loaded = loadedBy(MODULES)
    expect(loaded.length).toBeGreaterThan(0)
    expect(loaded.filter((path) => CLIENTS.some((c) => path.includes(c)))).toEqual([])
  })

  it('would see a client a module imported at its top (the check itself works)', () => {
    const loaded = loadedBy(['iovalkey'].map((m) => import.meta.resolve(m)))
    expect(loaded.some((path) => path.includes('/iovalkey@'))).toBe(true)
  })
})
