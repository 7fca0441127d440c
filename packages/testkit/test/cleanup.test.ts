import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { eventually, isAlive } from './helpers.js'

const fixture = fileURLToPath(new URL('./fixtures/orphan.ts', import.meta.url))

async function runOrphan(mode: 'exit' | 'throw' | 'wait', signal?: NodeJS.Signals) {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (d) => {
    err += d
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const started = await new Promise<{ pid: number; dir: string }>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!))
    })
    child.once('exit', (code) => reject(new Error(`fixture exited early (${code}): ${err}`)))
  })
  if (signal) child.kill(signal)
  await exited
  return started
}

describe('cleanup of servers a process leaves behind', () => {
  for (const [mode, signal] of [
    ['exit', undefined],
    ['throw', undefined],
    ['wait', 'SIGTERM'],
    ['wait', 'SIGINT'],
  ] as const) {
    it(`kills the server and removes its directory on ${signal ?? mode}`, async () => {
      const { pid, dir } = await runOrphan(mode, signal)
      expect(pid).toBeGreaterThan(0)
      await eventually(() => !isAlive(pid), 5_000)
      expect(existsSync(dir)).toBe(false)
    })
  }
})
