import type { BenchEnv, Topology } from './env.js'
import type { Op } from './harness.js'

/**
 * One library set up for a scenario inside its own process: named ops the parent can measure, counters it can
 * read afterwards (e.g. loader calls), and the clean-up.
 */
export interface Sandbox {
  ops: Record<string, Op>
  counters?(): Record<string, number>
  close(): Promise<void>
}

export type SandboxFactory = (env: BenchEnv, topology: Topology) => Promise<Sandbox>

/** What a contender module exports: its sandboxes by contender name. */
export type SandboxModule = { sandboxes: Record<string, SandboxFactory> }
