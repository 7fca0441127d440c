import { appendFileSync, readFileSync } from 'node:fs'
import type { SandboxFactory } from './sandbox.js'

// Sandboxes for isolated.test.ts.
export const sandboxes: Record<string, SandboxFactory> = {
  counter: async () => {
    let calls = 0
    return {
      ops: {
        tick: async () => {
          calls++
        },
      },
      counters: () => ({ calls, pid: process.pid }),
      close: async () => undefined,
    }
  },
  broken: async () => {
    throw new Error('cannot connect to the peer')
  },
  // Builds in the first process to ask and fails in every later one; each process writes its pid to FLAKY_PIDS.
  flaky: async () => {
    const file = process.env.FLAKY_PIDS as string
    appendFileSync(file, `${process.pid}\n`)
    if (readFileSync(file, 'utf8').trim().split('\n').length > 1) throw new Error('second process refused')
    return { ops: {}, close: async () => undefined }
  },
}
