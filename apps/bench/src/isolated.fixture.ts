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
}
