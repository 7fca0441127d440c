import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { BenchEnv, Topology } from './env.js'
import { type Contender, describeError, type LoadOptions, type LoadResult } from './harness.js'

type RequestBody =
  | { type: 'setup'; module: string; name: string; env: BenchEnv; topology: Topology }
  | { type: 'run'; op: string; opts: LoadOptions }
  | { type: 'counters' }
  | { type: 'close' }

export type Request = { id: number } & RequestBody

export type Response = { id: number } & ({ ok: true; value: unknown } | { ok: false; error: string })

/** What the bench's TypeScript sources need to run: tsx, and workspace packages resolved to their src/. */
const SOURCE_LOADER = ['--conditions=@keyshard/source', '--import', 'tsx']

/** This process's flags (e.g. `--cpu-prof`, so a profile covers the contenders too), with the loader when missing. */
function childExecArgv(): string[] {
  return process.execArgv.includes('tsx') ? process.execArgv : [...process.execArgv, ...SOURCE_LOADER]
}

type Pending = { resolve(value: unknown): void; reject(error: Error): void }

/**
 * A contender running in a child process of its own. Libraries measured in one process share JIT feedback
 * (Keyv's call sites see every store class, iovalkey's every caller) and each other's heap and GC, which
 * measured here slowed some contenders and not others; an application runs one of them, so each gets a
 * fresh process, set up once and kept warm across the interleaved rounds.
 */
export class IsolatedContender {
  readonly #child: ChildProcess
  readonly #pending = new Map<number, Pending>()
  #nextId = 0
  #exited: string | undefined

  private constructor(readonly name: string) {
    this.#child = fork(fileURLToPath(new URL('./contender-process.ts', import.meta.url)), [], {
      execArgv: childExecArgv(),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    this.#child.on('message', (response: Response) => {
      const pending = this.#pending.get(response.id)
      if (pending === undefined) return
      this.#pending.delete(response.id)
      if (response.ok) pending.resolve(response.value)
      else pending.reject(new Error(response.error))
    })
    this.#child.on('exit', (code, signal) => {
      this.#exited = `contender process '${name}' exited (${signal ?? `code ${code}`})`
      for (const pending of this.#pending.values()) pending.reject(new Error(this.#exited))
      this.#pending.clear()
    })
  }

  /**
   * Starts the process and builds sandbox `name` of `module` (a module URL exporting `sandboxes`) in it.
   * Rejects with the sandbox's own error, after stopping the process, if it cannot be built.
   */
  static async start(
    module: string,
    name: string,
    env: BenchEnv,
    topology: Topology,
  ): Promise<IsolatedContender> {
    const contender = new IsolatedContender(name)
    try {
      await contender.#request({ type: 'setup', module, name, env, topology })
      return contender
    } catch (error) {
      await contender.close()
      throw error
    }
  }

  /** A comparison entry measuring `op` of this sandbox. */
  contender(op: string): Contender {
    return { name: this.name, run: (opts) => this.run(op, opts) }
  }

  run(op: string, opts: LoadOptions): Promise<LoadResult> {
    return this.#request({ type: 'run', op, opts }) as Promise<LoadResult>
  }

  counters(): Promise<Record<string, number>> {
    return this.#request({ type: 'counters' }) as Promise<Record<string, number>>
  }

  /** Closes the sandbox (its connections, its keys) and waits for the process to exit. Idempotent. */
  async close(): Promise<void> {
    if (this.#exited === undefined) {
      const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()))
      await this.#request({ type: 'close' }).catch(() => undefined)
      if (this.#child.connected) this.#child.disconnect()
      // A sandbox that hangs in its clean-up must not hang the bench run.
      const kill = setTimeout(() => this.#child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(kill)
    }
  }

  #request(request: RequestBody): Promise<unknown> {
    if (this.#exited !== undefined) return Promise.reject(new Error(this.#exited))
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#child.send({ ...request, id } satisfies Request)
    })
  }
}

/**
 * One library in several processes of its own, used in turn: round r of a comparison runs in process r mod n.
 * A process can keep the speed it started with (measured here: `@keyv/redis` cluster get at 10.7 and 10.1 µs of
 * client CPU in one process's two rounds, 7.8 and 7.6 µs in another's), so one process per library is a draw;
 * the median round over several processes is steadier.
 */
export class ContenderGroup {
  constructor(
    readonly name: string,
    readonly members: readonly IsolatedContender[],
  ) {}

  /** A comparison entry measuring `op`, each call of its `run` in the next process of the group. */
  contender(op: string): Contender {
    let next = 0
    return {
      name: this.name,
      run: (opts) => (this.members[next++ % this.members.length] as IsolatedContender).run(op, opts),
    }
  }

  /** Each counter summed over the group's processes. */
  async counters(): Promise<Record<string, number>> {
    const sum: Record<string, number> = {}
    for (const member of this.members)
      for (const [key, value] of Object.entries(await member.counters())) sum[key] = (sum[key] ?? 0) + value
    return sum
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => m.close()))
  }
}

/**
 * Starts every named sandbox of `module` in `env.processes` processes, one after another so that no fill
 * competes with another's. A sandbox that cannot be built is returned with its error instead (its other
 * processes stopped), for the scenario to report as failing.
 */
export async function startAll(
  module: string,
  names: readonly string[],
  env: BenchEnv,
  topology: Topology,
): Promise<{ live: ContenderGroup[]; failed: Map<string, string> }> {
  const live: ContenderGroup[] = []
  const failed = new Map<string, string>()
  for (const name of names) {
    const members: IsolatedContender[] = []
    try {
      for (let i = 0; i < env.processes; i++)
        members.push(await IsolatedContender.start(module, name, env, topology))
      live.push(new ContenderGroup(name, members))
    } catch (error) {
      await Promise.all(members.map((m) => m.close()))
      failed.set(name, describeError(error))
    }
  }
  return { live, failed }
}

/** The load of a comparison between groups: `env.load.rounds` rounds for each of a contender's processes. */
export function comparisonLoad(
  env: BenchEnv,
  overrides: Partial<LoadOptions> = {},
): LoadOptions & { rounds: number } {
  return { ...env.load, ...overrides, rounds: env.load.rounds * env.processes }
}

/** How a table's contenders were run, for its notes. */
export function isolationNote(env: BenchEnv): string {
  const processes =
    env.processes === 1 ? 'a process of its own' : `${env.processes} processes of its own, used in turn`
  return `Each contender in ${processes} (see the bench README); median of ${comparisonLoad(env).rounds} interleaved rounds.`
}

/** A row value for a contender that did not run. */
export function notRun(error: string): LoadResult {
  return { ops: 0, opsPerSec: 0, p50Ms: Number.NaN, p99Ms: Number.NaN, cpuUsPerOp: Number.NaN, error }
}
