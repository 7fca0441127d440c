import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Redis } from 'iovalkey'
import { freeClusterPort } from './ports.js'
import { baseArgs, LOOPBACK, logTail, ServerProcess, sleep, withClient } from './process.js'

const SLOTS = 16_384

export interface StartClusterOptions {
  /** @default 3 */
  masters?: number
  /** @default 1 */
  replicasPerMaster?: number
  /**
   * `cluster-node-timeout` in ms: how long a node may be unreachable before it is failed over.
   * @default 2000
   */
  nodeTimeoutMs?: number
  /** Extra server arguments for every node. */
  args?: string[]
  /**
   * How long to wait for the cluster to become healthy.
   * @default 30000
   */
  timeoutMs?: number
}

export type NodeRole = 'master' | 'replica'

export interface ClusterNode {
  readonly host: '127.0.0.1'
  readonly port: number
  /** `127.0.0.1:<port>` */
  readonly address: string
  /** Cluster node id (`CLUSTER MYID`); stable across restarts because nodes.conf is kept. */
  readonly id: string
  readonly pid: number
  readonly alive: boolean
  /** Role as last observed; `refreshRole()` (or the cluster helpers) update it. */
  readonly role: NodeRole
  readonly dir: string
  refreshRole(): Promise<NodeRole>
}

export interface TestCluster {
  readonly nodes: readonly ClusterNode[]
  /** Every node's address, usable as client seeds. */
  readonly seeds: string[]
  /** Live nodes whose last observed role is master. */
  masters(): ClusterNode[]
  /** Live nodes whose last observed role is replica. */
  replicas(): ClusterNode[]
  /** Re-reads ROLE on every live node. */
  refreshRoles(): Promise<void>
  /** The node serving `slot` as master, per the first live node's slot map. */
  masterForSlot(slot: number): Promise<ClusterNode>
  /** SIGKILL (or `signal`) a node; it keeps its directory so `restart` rejoins it. */
  kill(node: ClusterNode, signal?: NodeJS.Signals): Promise<void>
  /** Starts a killed node again on the same port and nodes.conf; it rejoins the cluster. */
  restart(node: ClusterNode): Promise<void>
  /** `CLUSTER FAILOVER` on a replica; resolves once it reports itself master. */
  failover(replica: ClusterNode, opts?: { timeoutMs?: number }): Promise<void>
  /** SIGSTOP the node for `ms`, then SIGCONT. */
  pause(node: ClusterNode, ms: number): Promise<void>
  /** Moves one slot (and its keys) from one master to another. */
  migrateSlot(slot: number, from: ClusterNode, to: ClusterNode): Promise<void>
  /** Waits until every live node reports cluster_state:ok and they all agree on which master owns each slot. */
  waitForHealthy(timeoutMs?: number): Promise<void>
  /** Kills every node and removes the directories. */
  stop(): Promise<void>
}

class Node implements ClusterNode {
  readonly host = LOOPBACK
  id = ''
  role: NodeRole = 'master'

  constructor(readonly proc: ServerProcess) {}

  get port(): number {
    return this.proc.port
  }
  get address(): string {
    return `${LOOPBACK}:${this.proc.port}`
  }
  get pid(): number {
    return this.proc.pid ?? -1
  }
  get alive(): boolean {
    return this.proc.alive
  }
  get dir(): string {
    return this.proc.dir
  }

  run<T>(fn: (client: Redis) => Promise<T>): Promise<T> {
    return withClient(this.port, fn)
  }

  call(...args: (string | number)[]): Promise<unknown> {
    const [command, ...rest] = args
    return this.run((c) => c.call(String(command), ...rest))
  }

  async refreshRole(): Promise<NodeRole> {
    const reply = (await this.call('ROLE')) as unknown[]
    this.role = reply[0] === 'master' ? 'master' : 'replica'
    return this.role
  }
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      if (await check()) return
      lastError = undefined
    } catch (err) {
      lastError = err
    }
    await sleep(50)
  }
  const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : ''
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${reason}`)
}

function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

/** `CLUSTER NODES` rows as [id, flags] pairs. */
function parseNodes(text: string): Array<{ id: string; flags: string[]; masterId: string }> {
  return text
    .trim()
    .split('\n')
    .map((line) => line.split(' '))
    .map((f) => ({ id: f[0] ?? '', flags: (f[2] ?? '').split(','), masterId: f[3] ?? '-' }))
}

/** Slot ranges mapped to the master's port, as one comparable string. */
async function slotMap(node: Node): Promise<string> {
  const slots = (await node.call('CLUSTER', 'SLOTS')) as Array<
    [number, number, [string, number, ...unknown[]]]
  >
  return slots
    .map(([start, end, master]) => `${start}-${end}@${master[1]}`)
    .sort()
    .join(',')
}

async function startNode(nodeTimeoutMs: number, args: string[]): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), 'keyshard-cluster-'))
  for (let attempt = 1; ; attempt++) {
    const port = await freeClusterPort()
    const proc = new ServerProcess(port, dir, [
      ...baseArgs(dir),
      '--port',
      String(port),
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      String(nodeTimeoutMs),
      // Replicas must be promotable however long their master was gone.
      '--cluster-replica-validity-factor',
      '0',
      // Replicas sync right away instead of waiting 5 s for more replicas to share a diskless transfer.
      '--repl-diskless-sync-delay',
      '0',
      ...args,
    ])
    try {
      await proc.start()
      const node = new Node(proc)
      node.id = String(await node.call('CLUSTER', 'MYID'))
      return node
    } catch (err) {
      await proc.kill()
      proc.forget()
      if (attempt < 3 && /already in use/i.test(logTail(dir))) continue
      rmSync(dir, { recursive: true, force: true })
      throw err
    }
  }
}

/**
 * Starts `masters × (1 + replicasPerMaster)` cluster nodes on free loopback ports and joins them into one
 * cluster (slots split evenly over the masters). Resolves once every node reports `cluster_state:ok` and
 * every replica's link to its master is up.
 */
export async function startCluster(opts: StartClusterOptions = {}): Promise<TestCluster> {
  const masterCount = opts.masters ?? 3
  const replicasPerMaster = opts.replicasPerMaster ?? 1
  const nodeTimeoutMs = opts.nodeTimeoutMs ?? 2_000
  const timeoutMs = opts.timeoutMs ?? 30_000
  if (masterCount < 1 || replicasPerMaster < 0) throw new Error('startCluster needs at least one master')
  const total = masterCount * (1 + replicasPerMaster)

  const started = await Promise.allSettled(
    Array.from({ length: total }, () => startNode(nodeTimeoutMs, opts.args ?? [])),
  )
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const cluster = makeCluster(nodes)
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) {
    await cluster.stop()
    throw failed.reason
  }

  try {
    const masters = nodes.slice(0, masterCount)
    const replicas = nodes.slice(masterCount)
    await Promise.all(
      masters.map((m, i) => {
        const start = Math.floor((i * SLOTS) / masterCount)
        const end = Math.floor(((i + 1) * SLOTS) / masterCount) - 1
        return m.call('CLUSTER', 'ADDSLOTSRANGE', start, end)
      }),
    )
    // Every node meets every other one directly, so nobody waits for gossip to learn about the rest.
    await Promise.all(
      nodes.map((n) =>
        n.run(async (c) => {
          for (const other of nodes) if (other !== n) await c.call('CLUSTER', 'MEET', LOOPBACK, other.port)
        }),
      ),
    )
    await waitFor('all cluster nodes to know each other', timeoutMs, async () => {
      const views = await Promise.all(nodes.map((n) => n.call('CLUSTER', 'NODES')))
      return views.every((v) => {
        const rows = parseNodes(String(v))
        return rows.length === total && rows.every((r) => !r.flags.includes('handshake'))
      })
    })
    await Promise.all(
      replicas.map((r, i) => {
        const master = masters[i % masterCount]!
        r.role = 'replica'
        return r.call('CLUSTER', 'REPLICATE', master.id)
      }),
    )
    await cluster.waitForHealthy(timeoutMs)
    await waitFor('replicas to finish syncing with their masters', timeoutMs, async () => {
      const infos = await Promise.all(replicas.map((r) => r.call('INFO', 'replication')))
      return infos.every((i) => parseInfo(String(i)).master_link_status === 'up')
    })
    // Every node must also have seen the replica assignments, or clients may get partial topologies.
    await waitFor('every node to see every replica', timeoutMs, async () => {
      const views = await Promise.all(nodes.map((n) => n.call('CLUSTER', 'NODES')))
      return views.every(
        (v) => parseNodes(String(v)).filter((r) => r.flags.includes('slave')).length === replicas.length,
      )
    })
    if (replicas.length > 0) {
      // Redis 7 leaves a replica out of CLUSTER SLOTS while its replication offset is 0, so a client reading
      // the topology of a fresh cluster would see no replicas at all. FLUSHALL on the still-empty masters is
      // the one write that needs no key in their slots and advances every replica's offset.
      await Promise.all(masters.map((m) => m.call('FLUSHALL')))
      await waitFor('every node to advertise the replicas in CLUSTER SLOTS', timeoutMs, async () => {
        const views = await Promise.all(nodes.map((n) => n.call('CLUSTER', 'SLOTS') as Promise<unknown[][]>))
        return views.every((ranges) => ranges.every((range) => range.length >= 3 + replicasPerMaster))
      })
    }
    return cluster
  } catch (err) {
    await cluster.stop()
    throw err
  }
}

function makeCluster(nodes: Node[]): TestCluster {
  const own = (node: ClusterNode): Node => {
    const found = nodes.find((n) => n === node || n.port === node.port)
    if (!found) throw new Error(`${node.address} is not a node of this cluster`)
    return found
  }
  const live = () => nodes.filter((n) => n.alive)

  const cluster: TestCluster = {
    nodes,
    seeds: nodes.map((n) => n.address),
    masters: () => live().filter((n) => n.role === 'master'),
    replicas: () => live().filter((n) => n.role === 'replica'),
    async refreshRoles() {
      await Promise.all(live().map((n) => n.refreshRole()))
    },
    async masterForSlot(slot) {
      const probe = live()[0]
      if (!probe) throw new Error('No live node in the cluster')
      const slots = (await probe.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>
      const range = slots.find(([start, end]) => slot >= start && slot <= end)
      if (!range) throw new Error(`Slot ${slot} is not served by any node`)
      return own({ port: range[2][1] } as ClusterNode)
    },
    async kill(node, signal) {
      await own(node).proc.kill(signal)
    },
    async restart(node) {
      const n = own(node)
      await n.proc.kill()
      await n.proc.start()
      await n.refreshRole()
    },
    async failover(replica, opts = {}) {
      const n = own(replica)
      await n.call('CLUSTER', 'FAILOVER')
      let asked = Date.now()
      await waitFor(`${n.address} to become master`, opts.timeoutMs ?? 20_000, async () => {
        if ((await n.refreshRole()) === 'master') return true
        // The server gives up a manual failover after 5 s (e.g. votes refused on stale views); ask again.
        if (Date.now() - asked > 5_500) {
          asked = Date.now()
          await n.call('CLUSTER', 'FAILOVER')
        }
        return false
      })
      await cluster.waitForHealthy(opts.timeoutMs ?? 20_000)
    },
    pause: (node, ms) => own(node).proc.pause(ms),
    async migrateSlot(slot, from, to) {
      const src = own(from)
      const dst = own(to)
      await dst.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', src.id)
      await src.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', dst.id)
      await src.run(async (c) => {
        while (true) {
          const keys = (await c.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[]
          if (keys.length === 0) break
          await c.call('MIGRATE', LOOPBACK, dst.port, '', 0, 5_000, 'KEYS', ...keys)
        }
      })
      // The new owner first, so the old one never redirects to a node that still refuses the slot.
      await dst.call('CLUSTER', 'SETSLOT', slot, 'NODE', dst.id)
      await src.call('CLUSTER', 'SETSLOT', slot, 'NODE', dst.id)
      await cluster.refreshRoles()
      await Promise.all(
        live()
          .filter((m) => m.role === 'master')
          .filter((m) => m !== src && m !== dst)
          .map((m) => m.call('CLUSTER', 'SETSLOT', slot, 'NODE', dst.id)),
      )
      await cluster.waitForHealthy()
    },
    async waitForHealthy(timeoutMs = 30_000) {
      await waitFor('the cluster to be healthy (cluster_state:ok and one slot map)', timeoutMs, async () => {
        const nodesUp = live()
        const infos = await Promise.all(nodesUp.map((n) => n.call('CLUSTER', 'INFO')))
        if (!infos.every((i) => parseInfo(String(i)).cluster_state === 'ok')) return false
        const maps = await Promise.all(nodesUp.map(slotMap))
        if (new Set(maps).size !== 1) return false
        // Only masters that are up may own slots, or clients are sent to a dead node.
        const owners = new Set((maps[0] ?? '').split(',').map((r) => Number(r.split('@')[1])))
        if (![...owners].every((port) => nodesUp.some((n) => n.port === port))) return false
        // Every live node must see the others as up and agree on who replicates whom; otherwise a
        // failover right after (votes) or a client's topology read can still act on stale roles.
        const liveIds = new Set(nodesUp.map((n) => n.id))
        const views = await Promise.all(nodesUp.map((n) => n.call('CLUSTER', 'NODES')))
        const signatures = views.map((v) => {
          const rows = parseNodes(String(v)).filter((r) => liveIds.has(r.id))
          if (rows.length !== liveIds.size) return 'incomplete'
          if (rows.some((r) => r.flags.some((f) => f === 'fail' || f === 'fail?' || f === 'handshake'))) {
            return 'failing'
          }
          return rows
            .map((r) => `${r.id}:${r.flags.includes('master') ? 'master' : r.masterId}`)
            .sort()
            .join(',')
        })
        return signatures[0] !== 'incomplete' && signatures[0] !== 'failing' && new Set(signatures).size === 1
      })
      await cluster.refreshRoles()
    },
    async stop() {
      await Promise.all(
        nodes.map(async (n) => {
          await n.proc.kill()
          rmSync(n.dir, { recursive: true, force: true })
          n.proc.forget()
        }),
      )
    },
  }
  return cluster
}
