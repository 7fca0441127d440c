import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RedisOptions } from 'iovalkey'
import { freePort } from './ports.js'
import { baseArgs, LOOPBACK, logTail, ServerProcess } from './process.js'
import { generateTls } from './tls.js'

export interface AclUser {
  username: string
  password: string
  /**
   * ACL rules after `on >password`, space separated.
   * @default '~* &* +@all'
   */
  rules?: string
}

export interface StartServerOptions {
  /** Sets `requirepass` (the password of the `default` user). */
  password?: string
  /** Extra ACL users, created with `--user`. */
  aclUsers?: AclUser[]
  /** Serve TLS only (plain port disabled), with a freshly generated CA and certificate. */
  tls?: boolean
  /** Extra server arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[]
}

export interface TestServer {
  readonly host: '127.0.0.1'
  readonly port: number
  /** `127.0.0.1:<port>` */
  readonly address: string
  /** Pid of the current process (changes after `restart()`). */
  readonly pid: number
  /** Whether the process is running. */
  readonly alive: boolean
  /** Temp directory holding `server.log` (and the TLS files). */
  readonly dir: string
  readonly tls?: { ca: string; cert: string; key: string }
  /** Options for an iovalkey client that can talk to this server (password and TLS included). */
  clientOptions(): RedisOptions
  /** Sends a signal (default SIGKILL) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Starts the server again on the same port and directory (data is not persisted). */
  restart(): Promise<void>
  /** SIGSTOP for `ms`, then SIGCONT; resolves once the server runs again. */
  pause(ms: number): Promise<void>
  /** SIGSTOP until `thaw()`. */
  freeze(): void
  thaw(): void
  /** Kills the server and removes its directory. */
  stop(): Promise<void>
}

const PORT_ATTEMPTS = 3

/** Starts a standalone server on a free loopback port; resolves once it answers PING. */
export async function startServer(opts: StartServerOptions = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'keyshard-server-'))
  try {
    const tls = opts.tls ? await generateTls(dir) : undefined
    const extra: string[] = []
    if (opts.password !== undefined) extra.push('--requirepass', opts.password)
    for (const user of opts.aclUsers ?? []) {
      const rules = (user.rules ?? '~* &* +@all').split(/\s+/).filter(Boolean)
      extra.push('--user', user.username, 'on', `>${user.password}`, ...rules)
    }
    const pingOptions: RedisOptions = tls ? { tls: { ca: tls.ca } } : {}

    let proc: ServerProcess | undefined
    for (let attempt = 1; !proc; attempt++) {
      const port = await freePort()
      const portArgs = tls
        ? [
            '--port',
            '0',
            '--tls-port',
            String(port),
            '--tls-cert-file',
            tls.certFile,
            '--tls-key-file',
            tls.keyFile,
            '--tls-ca-cert-file',
            tls.caFile,
            '--tls-auth-clients',
            'no',
          ]
        : ['--port', String(port)]
      const candidate = new ServerProcess(
        port,
        dir,
        [...baseArgs(dir), ...portArgs, ...extra, ...(opts.args ?? [])],
        pingOptions,
      )
      try {
        await candidate.start()
        proc = candidate
      } catch (err) {
        candidate.forget()
        // Another process may grab the port between probing and binding; try a different one.
        if (attempt < PORT_ATTEMPTS && /already in use/i.test(logTail(dir))) continue
        throw err
      }
    }
    return makeServer(proc, tls, opts)
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}

function makeServer(
  proc: ServerProcess,
  tls: Awaited<ReturnType<typeof generateTls>> | undefined,
  opts: StartServerOptions,
): TestServer {
  let stopped = false
  return {
    host: LOOPBACK,
    port: proc.port,
    address: `${LOOPBACK}:${proc.port}`,
    get pid() {
      return proc.pid ?? -1
    },
    get alive() {
      return proc.alive
    },
    dir: proc.dir,
    ...(tls ? { tls: { ca: tls.ca, cert: tls.cert, key: tls.key } } : {}),
    clientOptions() {
      return {
        host: LOOPBACK,
        port: proc.port,
        ...(opts.password !== undefined ? { password: opts.password } : {}),
        ...(tls ? { tls: { ca: tls.ca } } : {}),
      }
    },
    kill: (signal) => proc.kill(signal),
    async restart() {
      if (stopped) throw new Error(`Server ${LOOPBACK}:${proc.port} was stopped and cannot be restarted`)
      await proc.kill()
      await proc.start()
    },
    pause: (ms) => proc.pause(ms),
    freeze: () => proc.freeze(),
    thaw: () => proc.thaw(),
    async stop() {
      stopped = true
      await proc.kill()
      rmSync(proc.dir, { recursive: true, force: true })
      proc.forget()
    },
  }
}
