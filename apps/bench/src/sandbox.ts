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

/**
 * Builds one library's sandbox. A factory imports its library itself, and a sandbox module imports none at its
 * top: a contender process must load only what it measures. Measured here, loading `@keyv/valkey` (and with it
 * iovalkey 0.3.3, beside the core's 0.4.0) without ever calling it made Keyshard's cluster get through Keyv cost
 * 7.7–9.9 µs of client CPU in most processes, against 5.8 µs without it.
 */
export type SandboxFactory = (env: BenchEnv, topology: Topology) => Promise<Sandbox>

/** What a contender module exports: its sandboxes by contender name. */
export type SandboxModule = { sandboxes: Record<string, SandboxFactory> }
