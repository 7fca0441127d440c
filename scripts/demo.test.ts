import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..')

it('`pnpm demo --smoke` tours the cluster, serves every example app, and leaves nothing running', async () => {
  const { stdout } = await run(
    process.execPath,
    ['--conditions=@keyshard/source', '--import', 'tsx', 'scripts/demo.ts', '--smoke'],
    { cwd: root, timeout: 110_000 },
  )
  const shards = new Set([...stdout.matchAll(/served by (\S+) \(slot \d+\)/g)].map((m) => m[1]))
  expect(shards.size).toBe(3)
  expect(stdout).toContain('9/9 misses, across every shard')
  expect(stdout).toMatch(/keyv-example\s+http:\/\/127\.0\.0\.1:\d+\//)
  expect(stdout).toContain('Demo smoke check passed.')
  // The example apps run in their own process groups (npx -> pnpm -> sh -> node); the demo must stop them all.
  const appDir = join(root, 'apps', 'keyv-example')
  const { stdout: cwdList } = await run('sh', [
    '-c',
    `ls -l /proc/*/cwd 2>/dev/null | grep -c ' ${appDir}$' || true`,
  ])
  expect(Number(cwdList.trim())).toBe(0)
})
