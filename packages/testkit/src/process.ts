import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis, type RedisOptions } from 'iovalkey'
import { findServerBinary } from './binary.js'
import { track } from './cleanup.js'

export const LOOPBACK = '127.0.0.1'
export const LOG_FILE = 'server.log'

/** Last lines of a server's log, for error messages. */
export function logTail(dir: string, lines = 25): string {
  const path = join(dir, LOG_FILE)
  if (!existsSync(path)) return '(no log written)'
  const text = readFileSync(path, 'utf8').trimEnd()
  return text.split('\n').slice(-lines).join('\n') || '(log is empty)'
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Options for a short-lived admin connection that fails fast instead of retrying. */
export function adminOptions(port: number, extra: RedisOptions = {}): RedisOptions {
  return {
    host: LOOPBACK,
    port,
    lazyConnect: true,
    connectTimeout: 2_000,
    commandTimeout: 5_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    // The ready check runs INFO, which an auth-protected server refuses before our PING can tell it is up.
    enableReadyCheck: false,
    ...extra,
  }
}

/** Runs `fn` on a fresh connection to the node and closes it afterwards. */
export async function withClient<T>(
  port: number,
  fn: (client: Redis) => Promise<T>,
  extra: RedisOptions = {},
): Promise<T> {
  const client = new Redis(adminOptions(port, extra))
  // Errors surface through the awaited commands; the listener only keeps iovalkey from logging them.
  client.on('error', () => {})
  try {
    await client.connect()
    return await fn(client)
  } finally {
    client.disconnect()
  }
}

/**
 * One server process that can be killed and started again on the same port and directory.
 * The binary is spawned directly (no daemonize), with stdout/stderr going to `server.log` in its directory.
 */
export class ServerProcess {
  private child: ChildProcess | undefined
  private exitPromise: Promise<void> = Promise.resolve()
  private untrack: (() => void) | undefined
  private resumeTimer: NodeJS.Timeout | undefined

  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly args: string[],
    /** Extra options (TLS) needed for the readiness PING. */
    private readonly pingOptions: RedisOptions = {},
  ) {}

  get pid(): number | undefined {
    return this.child?.pid
  }

  get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  async start(timeoutMs = 10_000): Promise<void> {
    if (this.alive) throw new Error(`Server on port ${this.port} is already running (pid ${this.pid})`)
    const bin = findServerBinary()
    const log = openSync(join(this.dir, LOG_FILE), 'a')
    let child: ChildProcess
    try {
      child = spawn(bin.path, this.args, { cwd: this.dir, stdio: ['ignore', log, log] })
    } finally {
      closeSync(log)
    }
    // The server must not keep the test process alive; cleanup.ts kills it on exit.
    child.unref()
    this.child = child
    this.exitPromise = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve()
      else child.once('exit', () => resolve())
    })
    let spawnError: Error | undefined
    child.once('error', (err) => {
      spawnError = err
    })
    this.untrack?.()
    this.untrack = track(() => (this.alive ? child.pid : undefined), this.dir)

    const deadline = Date.now() + timeoutMs
    while (true) {
      if (spawnError)
        throw new Error(`Could not spawn ${bin.path}: ${spawnError.message}`, { cause: spawnError })
      if (!this.alive) {
        throw new Error(
          `${bin.path} exited during startup on port ${this.port} (code ${child.exitCode}, signal ` +
            `${child.signalCode}). Log tail from ${this.dir}:\n${logTail(this.dir)}`,
        )
      }
      if (await this.ping()) return
      if (Date.now() > deadline) {
        await this.kill()
        throw new Error(
          `${bin.path} on port ${this.port} did not answer PING within ${timeoutMs} ms. ` +
            `Log tail from ${this.dir}:\n${logTail(this.dir)}`,
        )
      }
      await sleep(25)
    }
  }

  private async ping(): Promise<boolean> {
    try {
      const reply = await withClient(this.port, (c) => c.ping(), this.pingOptions)
      return reply === 'PONG'
    } catch (err) {
      // A server that asks for credentials is up; the readiness check carries none.
      return /NOAUTH|WRONGPASS/.test((err as Error).message)
    }
  }

  /** Sends `signal` (default SIGKILL) and waits until the process is gone. Keeps the directory. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    clearTimeout(this.resumeTimer)
    const child = this.child
    if (!child || !this.alive) return
    // Hold the loop open until the exit event arrives; the unref'd child alone would let Node quit mid-await.
    child.ref()
    // A stopped process only acts on SIGKILL; continue it so other signals take effect.
    if (signal !== 'SIGKILL') child.kill('SIGCONT')
    child.kill(signal)
    await this.exitPromise
  }

  /** SIGSTOP: the server stops answering but keeps its connections open (simulates a hung node). */
  freeze(): void {
    clearTimeout(this.resumeTimer)
    if (this.alive) this.child?.kill('SIGSTOP')
  }

  /** SIGCONT after `freeze()`. */
  thaw(): void {
    clearTimeout(this.resumeTimer)
    if (this.alive) this.child?.kill('SIGCONT')
  }

  /** Freezes the server for `ms` and resolves once it runs again. */
  pause(ms: number): Promise<void> {
    this.freeze()
    return new Promise((resolve) => {
      this.resumeTimer = setTimeout(() => {
        this.thaw()
        resolve()
      }, ms)
    })
  }

  /** Forgets the process in the exit tracker (after the caller removed the directory). */
  forget(): void {
    this.untrack?.()
    this.untrack = undefined
  }
}

/** Arguments every test server gets: loopback only, no persistence, its own directory. */
export function baseArgs(dir: string): string[] {
  return ['--bind', LOOPBACK, '--daemonize', 'no', '--save', '', '--appendonly', 'no', '--dir', dir]
}
