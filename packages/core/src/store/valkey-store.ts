import type { Cluster, Redis } from 'iovalkey'
import { KeyshardError } from '../errors.js'
import { SCRIPTS } from './scripts.js'
import { isSlotMoving, isWrongType, NodeRouter, needsClusterClient } from './node-router.js'
import { keySlot, SLOT_COUNT } from './key-slot.js'
import { type Retry, sendLean } from './lean-command.js'
import { sendBatch } from './reply-batch.js'
import type { WireCommand } from './resp.js'
import { groupBySlot } from './slot-groups.js'
import type {
  NodeHealth,
  PublishOptions,
  ScanPage,
  Store,
  StoreCommandOptions,
  StoreHealth,
  StoreSetEntry,
  StoreValue,
  StoreValueWithTtl,
} from './store.js'
import type { Subscriber } from './subscriber.js'
import { InflightCommands } from './inflight-commands.js'
import { firstMasterByAddress, mastersByAddress, nodeAddress, slotOwners } from './node-address.js'
import { resumeScan, scanCursor } from './scan-cursor.js'
import { quitWithin, withTimeout } from './with-timeout.js'
import { toKeyshardError } from './wire-errors.js'
import { WriteCoalescer } from './write-coalescer.js'

type Client = Redis | Cluster

const CLOSE_DRAIN_MS = 5000
/** How long close() waits for QUIT's reply: a hung server (SIGSTOP) would otherwise hold it forever. */
const QUIT_MS = 1000

/** The script commands `defineCommand` adds to the client. */
interface ScriptCommands {
  ksIncr(key: string, by: number, ttl: string): Promise<string>
  ksCas(
    key: string,
    expectAbsent: string,
    expected: Buffer | string,
    value: StoreValue,
    ttl: string,
  ): Promise<number>
  ksCad(key: string, expected: Buffer): Promise<number>
  ksPersist(key: string): Promise<number>
  ksEnsure(key: string, ttl: string, candidate: string): Promise<string>
  ksGetPrimary(key: string): Promise<string | null>
}

export interface ValkeyStoreOptions {
  offlineQueueLimit: number
  /** Where reads go on a cluster; standalone ignores it. */
  readFrom: 'primary' | 'replica'
  /** Write the commands issued in one tick together (the client's own auto-pipelining must be off). */
  autoPipelining: boolean
  /** Builds the dedicated subscriber connection for an address (`null` = the standalone server). */
  makeSubscriber: () => Subscriber
  /**
   * PINGs a node the cluster client holds no connection to (iovalkey only connects to nodes CLUSTER SLOTS
   * advertises; Redis 7 hides replicas that have not replicated anything yet). Resolves with the latency in ms.
   */
  pingAddress: (host: string, port: number) => Promise<number>
}

export function defineScripts(client: Client): void {
  for (const [name, def] of Object.entries(SCRIPTS)) client.defineCommand(name, def)
}

/**
 * A read of keys of one slot, in the two forms a cluster batch read needs (see #readSlotsByNode): as commands
 * written to the slot's node in a batch, and as one call through the cluster client, which follows redirects.
 */
interface SlotRead<R> {
  /** Adds the commands reading `keys`, all of one slot, to `into`. */
  commands(keys: readonly string[], into: WireCommand[]): void
  /**
   * One result per key from the replies to `commands(keys)`, which start at `at`; or the error reply that leaves
   * the slot to be read again (see #recoverSlotRead).
   */
  results(keys: readonly string[], replies: readonly unknown[], at: number): Array<R | null> | Error
  /** The same read through the cluster client. */
  onClient(keys: string[]): Promise<Array<R | null>>
}

/** The keys of one slot in a cluster read, where their results go, and where their commands start in the batch. */
interface SlotKeys {
  readonly slot: number
  readonly keys: string[]
  readonly indices: number[]
  at: number
}

function place<R>(group: SlotKeys, results: ReadonlyArray<R | null>, out: Array<R | null>): void {
  for (let j = 0; j < group.indices.length; j++) out[group.indices[j] as number] = results[j] ?? null
}

function ttlArg(ttlMs: number | null): string {
  return ttlMs === null ? '' : String(Math.max(1, Math.floor(ttlMs)))
}

export class ValkeyStore implements Store {
  readonly kind: 'single' | 'cluster'
  readonly #client: Client
  readonly #scripts: ScriptCommands
  readonly #offlineQueueLimit: number
  readonly #makeSubscriber: () => Subscriber
  readonly #pingAddress: (host: string, port: number) => Promise<number>
  #subscriber: Subscriber | undefined
  #offline = 0
  /** Commands issued and not yet settled: their deadlines, and what close() lets finish before QUIT. */
  readonly #inflight = new InflightCommands()
  readonly #coalescer: WriteCoalescer | undefined
  /** Cluster only: where single-key commands go without the cluster client's per-command routing. */
  readonly #router: NodeRouter | undefined
  /** Cluster only: a batch read's group of each slot while it groups its keys (see #readSlotsByNode). */
  readonly #groupOfSlot: Int32Array | undefined
  /**
   * When a single-key get/set leaves. On a cluster, replies from several masters arrive in one event-loop turn
   * and the callers they wake write to every master again; flushing at the end of each reply's tick writes
   * each master once per reply, flushing at the end of the turn once per turn. Interleaved A/B in apps/bench
   * (Keyv over Keyshard, 3 masters, 100 callers): +5–8 % get/set throughput. Standalone has one socket and no
   * such fan-out, and the wait only adds latency there (measured 20–40 % fewer gets), as it does for batch
   * commands, which are issued together anyway; those keep the per-tick flush.
   */
  readonly #singleKeyFlush: 'tick' | 'turn'
  #closing: Promise<void> | undefined
  #hasDelIfEq: Promise<boolean> | undefined

  constructor(client: Client, options: ValkeyStoreOptions) {
    this.#client = client
    this.#scripts = client as unknown as ScriptCommands
    this.kind = 'isCluster' in client && client.isCluster ? 'cluster' : 'single'
    this.#offlineQueueLimit = options.offlineQueueLimit
    this.#makeSubscriber = options.makeSubscriber
    this.#pingAddress = options.pingAddress
    this.#router = this.kind === 'cluster' ? new NodeRouter(client as Cluster, options.readFrom) : undefined
    this.#groupOfSlot = this.kind === 'cluster' ? new Int32Array(SLOT_COUNT) : undefined
    this.#singleKeyFlush = this.kind === 'cluster' ? 'turn' : 'tick'
    if (options.autoPipelining) {
      this.#coalescer = new WriteCoalescer(
        this.kind === 'single'
          ? () => [(client as Redis).stream]
          : () => (client as Cluster).nodes('all').map((node) => node.stream),
      )
    }
  }

  /**
   * Every command goes through here: closed check, the bounded offline queue (iovalkey's own queue is unbounded),
   * the per-call deadline and error mapping.
   */
  #run<R, T = R>(
    what: string,
    o: StoreCommandOptions,
    fn: () => Promise<R>,
    flush: 'tick' | 'turn' = 'tick',
    mapReply?: (reply: R) => T,
  ): Promise<T> {
    if (this.#closing) return Promise.reject(new KeyshardError('ERR_CLOSED', `${what}: the store is closed`))
    let queued = false
    if (this.#client.status !== 'ready') {
      if (this.#offline >= this.#offlineQueueLimit) {
        return Promise.reject(
          new KeyshardError(
            'ERR_OFFLINE_QUEUE_FULL',
            `${what}: the connection is ${this.#client.status} and ${this.#offline} commands already wait (offlineQueueLimit ${this.#offlineQueueLimit})`,
            { details: { status: this.#client.status, limit: this.#offlineQueueLimit } },
          ),
        )
      }
      queued = true
      this.#offline++
    }
    this.#coalescer?.hold(flush)
    let command: Promise<R>
    try {
      command = fn()
    } catch (error) {
      command = Promise.reject(error)
    }
    if (queued) command.then(this.#leaveOfflineQueue, this.#leaveOfflineQueue)
    return this.#inflight.track(command, o.timeoutMs, what, toKeyshardError, mapReply)
  }

  readonly #leaveOfflineQueue = (): void => {
    this.#offline--
  }

  #masters(): Redis[] {
    if (this.kind === 'single') return [this.#client as Redis]
    return mastersByAddress(this.#client as Cluster)
  }

  /** Every slot owner, for commands that must visit all keys: an unreachable owner fails them, never is skipped. */
  #allMasters(what: string): Redis[] {
    if (this.kind === 'single') return [this.#client as Redis]
    const { masters, unreachable } = slotOwners(this.#client as Cluster)
    if (unreachable.length > 0) {
      throw new KeyshardError(
        'ERR_CONNECT',
        `${what}: no connection to the master(s) owning some slots: ${unreachable.join(', ')}`,
        { details: { unreachable } },
      )
    }
    return masters
  }

  /**
   * The values of keys of one slot, in order: a GET for one key (random keys are one per slot, and a GET costs the
   * server and the parser less than an MGET of one), an MGET for more. Per key, a key of another type is nil, as
   * MGET answers it and as a standalone getMany's single MGET does; GET answers WRONGTYPE there.
   */
  readonly #mgetRead: SlotRead<Buffer> = {
    commands: (keys, into) => {
      into.push(keys.length === 1 ? ['get', keys[0] as string] : ['mget', ...keys])
    },
    results: (keys, replies, at) => {
      const reply = replies[at]
      if (keys.length > 1) return reply instanceof Error ? reply : (reply as Array<Buffer | null>)
      if (reply instanceof Error) return isWrongType(reply) ? [null] : reply
      return [reply as Buffer | null]
    },
    onClient: (keys) => this.#client.mgetBuffer(keys),
  }

  /** #mgetRead with each key's PTTL, read from the same copy of the value (see readWithTtl). */
  readonly #readWithTtlRead: SlotRead<StoreValueWithTtl> = {
    commands: (keys, into) => {
      into.push(['mget', ...keys])
      for (const key of keys) into.push(['pttl', key])
    },
    results: (keys, replies, at) => {
      for (let r = at; r <= at + keys.length; r++) if (replies[r] instanceof Error) return replies[r] as Error
      const values = replies[at] as Array<Buffer | null>
      return keys.map((_, i) => withTtl(values[i] ?? null, replies[at + 1 + i]))
    },
    onClient: (keys) => readWithTtl(this.#client, keys, 'MGET'),
  }

  /**
   * A cluster read of keys of any slots: per slot the commands of `read`, and every slot a node serves written to
   * it in one batch (reply-batch.ts): one write and one round trip per node, the servers running plain commands.
   * Results in input order. A slot the router cannot place, or whose node cannot take the batch now, is read
   * through the cluster client; so is one whose node answers a redirect or fails (see #recoverSlotRead).
   */
  async #readSlotsByNode<R>(keys: readonly string[], read: SlotRead<R>): Promise<Array<R | null>> {
    const router = this.#router as NodeRouter
    const out = new Array<R | null>(keys.length).fill(null)
    const byNode = new Map<Redis, SlotKeys[]>()
    // Slots the router cannot place, read through the cluster client once grouping is done (a slot's later keys
    // join its group after its first).
    const unplaced: SlotKeys[] = []
    // One pass: random keys are one per slot, so the slot's group is made with its first key. Groups are found by
    // slot in #groupOfSlot (1 + their index in `groups`), reset before the pass ends: nothing awaits in between.
    const groupOfSlot = this.#groupOfSlot as Int32Array
    const groups: SlotKeys[] = []
    try {
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string
        const slot = keySlot(key)
        const known = groupOfSlot[slot] as number
        if (known !== 0) {
          const group = groups[known - 1] as SlotKeys
          group.keys.push(key)
          group.indices.push(i)
          continue
        }
        const group: SlotKeys = { slot, keys: [key], indices: [i], at: 0 }
        groupOfSlot[slot] = groups.push(group)
        const node = router.readerOfSlot(slot)
        if (node === undefined) unplaced.push(group)
        else {
          const ofNode = byNode.get(node)
          if (ofNode === undefined) byNode.set(node, [group])
          else ofNode.push(group)
        }
      }
    } finally {
      for (const group of groups) groupOfSlot[group.slot] = 0
    }
    const reads: Array<Promise<unknown>> = unplaced.map((group) => this.#readGroupOnClient(group, read, out))
    for (const [node, ofNode] of byNode) {
      const commands: WireCommand[] = []
      for (const group of ofNode) {
        group.at = commands.length
        read.commands(group.keys, commands)
      }
      const sent = sendBatch(node, commands)
      if (sent === undefined)
        for (const group of ofNode) reads.push(this.#readGroupOnClient(group, read, out))
      else reads.push(sent.then((replies) => this.#placeReplies(ofNode, replies, read, out)))
    }
    await Promise.all(reads)
    return out
  }

  /** Each group's results from its node's batch replies, and the groups answered with an error read again. */
  #placeReplies<R>(
    groups: readonly SlotKeys[],
    replies: readonly unknown[],
    read: SlotRead<R>,
    out: Array<R | null>,
  ): Promise<unknown> | undefined {
    let retries: Array<Promise<void>> | undefined
    for (const group of groups) {
      const results = read.results(group.keys, replies, group.at)
      if (!(results instanceof Error)) place(group, results, out)
      else {
        retries ??= []
        retries.push(
          this.#recoverSlotRead(group.keys, results, read).then((recovered) => place(group, recovered, out)),
        )
      }
    }
    return retries === undefined ? undefined : Promise.all(retries)
  }

  #readGroupOnClient<R>(group: SlotKeys, read: SlotRead<R>, out: Array<R | null>): Promise<void> {
    return this.#readSlotOnClient(group.keys, read).then((results) => place(group, results, out))
  }

  /**
   * A slot read after its node answered `error`. A slot being moved refuses a read of several keys that are split
   * between its two nodes (TRYAGAIN; ASK or MOVED when the keys are not all where the map says), and the cluster
   * client would retry TRYAGAIN until its redirections run out: those keys are read one by one through the cluster
   * client instead, each following its own redirect. Another redirect, a cluster state or a link failure is the
   * cluster client's to follow (#readSlotOnClient); any other reply (NOPERM…) is the answer.
   */
  #recoverSlotRead<R>(keys: string[], error: unknown, read: SlotRead<R>): Promise<Array<R | null>> {
    if (keys.length > 1 && isSlotMoving(error)) return this.#readKeysOnClient(keys, read)
    if (!needsClusterClient(error)) return Promise.reject(error)
    return this.#readSlotOnClient(keys, read)
  }

  /** A slot read through the cluster client, key by key if the slot turns out to be moving (see #recoverSlotRead). */
  #readSlotOnClient<R>(keys: string[], read: SlotRead<R>): Promise<Array<R | null>> {
    return read
      .onClient(keys)
      .catch((error: unknown) =>
        keys.length > 1 && isSlotMoving(error) ? this.#readKeysOnClient(keys, read) : Promise.reject(error),
      )
  }

  #readKeysOnClient<R>(keys: readonly string[], read: SlotRead<R>): Promise<Array<R | null>> {
    return Promise.all(keys.map(async (key) => (await read.onClient([key]))[0] ?? null))
  }

  /**
   * Runs a single-key command on `node` when the router found one, and again through the cluster client when
   * that node redirects or its link fails; on the client as it is otherwise.
   */
  #onNode<T>(node: Redis | undefined, send: (client: Client) => Promise<T>): Promise<T> {
    if (node === undefined) return send(this.#client)
    return send(node).catch((error: unknown) =>
      needsClusterClient(error) ? send(this.#client) : Promise.reject(error),
    )
  }

  /**
   * A single-key command as a LeanCommand on `node` (the key's node, from the router) or the standalone connection,
   * and through the cluster client where #onNode goes there. The fallback rides on the LeanCommand rather than a
   * `.catch` as in #onNode: a promise less per command, measured through Keyv on a 3-master cluster (paired probes,
   * Node 22): −8 % client CPU per get, −4 % per set.
   */
  #send(node: Redis | undefined, command: WireCommand): Promise<unknown> {
    if (node !== undefined) return sendLean(node, command, this.#resendOnClient)
    return this.kind === 'cluster'
      ? (this.#client as Cluster).callBuffer(command[0] as string, command.slice(1))
      : sendLean(this.#client as Redis, command)
  }

  /** #onNode's fallback for a LeanCommand on a node, started from a microtask (see `Retry`). */
  readonly #resendOnClient: Retry = (error, command) => {
    if (!needsClusterClient(error)) return undefined
    return Promise.resolve().then(() => this.#send(undefined, command))
  }

  get(key: string, o: StoreCommandOptions): Promise<Buffer | null> {
    const node = this.#router?.reader(key)
    return this.#run(
      'GET',
      o,
      () => this.#send(node, ['get', key]) as Promise<Buffer | null>,
      this.#singleKeyFlush,
    )
  }

  getMany(keys: readonly string[], o: StoreCommandOptions): Promise<Array<Buffer | null>> {
    if (this.kind === 'single') {
      return this.#run('MGET', o, () =>
        keys.length === 0
          ? Promise.resolve([])
          : (this.#send(undefined, ['mget', ...keys]) as Promise<Array<Buffer | null>>),
      )
    }
    return this.#run('MGET', o, () => this.#readSlotsByNode(keys, this.#mgetRead))
  }

  getWithTtl(key: string, o: StoreCommandOptions): Promise<StoreValueWithTtl | null> {
    const node = this.#router?.reader(key)
    return this.#run(
      'GET+PTTL',
      o,
      () => this.#onNode(node, async (client) => (await readWithTtl(client, [key], 'GET'))[0] ?? null),
      this.#singleKeyFlush,
    )
  }

  getManyWithTtl(keys: readonly string[], o: StoreCommandOptions): Promise<Array<StoreValueWithTtl | null>> {
    if (keys.length === 0) return this.#run('MGET+PTTL', o, async () => [])
    if (this.kind === 'single')
      return this.#run('MGET+PTTL', o, () => readWithTtl(this.#client, keys, 'MGET'))
    return this.#run('MGET+PTTL', o, () => this.#readSlotsByNode(keys, this.#readWithTtlRead))
  }

  set(
    key: string,
    value: StoreValue,
    ttlMs: number | null,
    o: StoreCommandOptions & { onlyIfAbsent?: boolean },
  ): Promise<boolean> {
    const command: Array<string | Buffer> = ['set', key, value]
    if (ttlMs !== null) command.push('PX', ttlArg(ttlMs))
    if (o.onlyIfAbsent) command.push('NX')
    const node = this.#router?.primary(key)
    return this.#run('SET', o, () => this.#send(node, command), this.#singleKeyFlush, isOk)
  }

  setMany(entries: readonly StoreSetEntry[], o: StoreCommandOptions): Promise<void> {
    return this.#run('SET (many)', o, async () => {
      // Commands are written without waiting for replies, so this is one round trip per node.
      await Promise.all(
        entries.map((e) =>
          this.#send(
            this.#router?.primary(e.key),
            e.ttlMs === null ? ['set', e.key, e.value] : ['set', e.key, e.value, 'PX', ttlArg(e.ttlMs)],
          ),
        ),
      )
    })
  }

  delete(keys: readonly string[], o: StoreCommandOptions): Promise<boolean[]> {
    // One UNLINK per key is the cheapest way to learn per-key existence; they are pipelined on the socket.
    return this.#run('UNLINK', o, () =>
      Promise.all(keys.map(async (k) => (await this.#send(this.#router?.primary(k), ['unlink', k])) === 1)),
    )
  }

  exists(keys: readonly string[], o: StoreCommandOptions): Promise<boolean[]> {
    return this.#run('EXISTS', o, () =>
      Promise.all(keys.map(async (k) => (await this.#send(this.#router?.reader(k), ['exists', k])) === 1)),
    )
  }

  pttl(key: string, o: StoreCommandOptions): Promise<number> {
    return this.#run('PTTL', o, () => this.#client.pttl(key))
  }

  expire(key: string, ttlMs: number | null, o: StoreCommandOptions): Promise<boolean> {
    if (ttlMs === null) return this.#run('PERSIST', o, async () => (await this.#scripts.ksPersist(key)) === 1)
    return this.#run('PEXPIRE', o, async () => (await this.#client.pexpire(key, ttlArg(ttlMs))) === 1)
  }

  increment(key: string, by: number, ttlMs: number | null, o: StoreCommandOptions): Promise<number> {
    return this.#run('INCRBY', o, async () => Number(await this.#scripts.ksIncr(key, by, ttlArg(ttlMs))))
  }

  compareAndSet(
    key: string,
    expected: Buffer | null,
    value: StoreValue,
    ttlMs: number | null,
    o: StoreCommandOptions,
  ): Promise<boolean> {
    return this.#run('compare-and-set', o, async () => {
      const reply = await this.#scripts.ksCas(
        key,
        expected === null ? '1' : '0',
        expected ?? '',
        value,
        ttlArg(ttlMs),
      )
      return reply === 1
    })
  }

  compareAndDelete(key: string, expected: Buffer, o: StoreCommandOptions): Promise<boolean> {
    return this.#run('compare-and-delete', o, async () => {
      if (await this.#delIfEqSupported()) {
        return (await this.#client.call('DELIFEQ', key, expected)) === 1
      }
      return (await this.#scripts.ksCad(key, expected)) === 1
    })
  }

  /**
   * Valkey 9 has DELIFEQ; detect it once instead of guessing from version strings. Standalone only: iovalkey's
   * command table does not know DELIFEQ's key position, so in a cluster it could not be routed by slot.
   */
  #delIfEqSupported(): Promise<boolean> {
    if (this.kind === 'cluster') return Promise.resolve(false)
    this.#hasDelIfEq ??= (async () => {
      try {
        const info = (await this.#client.call('COMMAND', 'INFO', 'DELIFEQ')) as unknown[]
        return Array.isArray(info) && info[0] !== null && info[0] !== undefined
      } catch {
        return false
      }
    })()
    return this.#hasDelIfEq
  }

  ensureEpochs(
    keys: readonly string[],
    candidates: readonly string[],
    ttlMs: number | null,
    o: StoreCommandOptions,
  ): Promise<string[]> {
    if (keys.length !== candidates.length) {
      return Promise.reject(new KeyshardError('ERR_COMMAND', 'ensureEpochs needs one candidate per key'))
    }
    // Per-key scripts, written back to back: one round trip per node (see ksEnsure for why not per slot).
    return this.#run('ensure epochs', o, () =>
      Promise.all(
        keys.map(async (key, i) =>
          String(await this.#scripts.ksEnsure(key, ttlArg(ttlMs), candidates[i] as string)),
        ),
      ),
    )
  }

  readEpochs(keys: readonly string[], o: StoreCommandOptions): Promise<Array<string | null>> {
    // Always from the primary (see ksGetPrimary). Standalone has no replicas to avoid, so one MGET does.
    if (this.kind === 'single') {
      return this.#run('read epochs', o, async () =>
        keys.length === 0 ? [] : await this.#client.mget(keys as string[]),
      )
    }
    return this.#run('read epochs', o, () =>
      Promise.all(
        keys.map(async (key) => {
          const v = await this.#scripts.ksGetPrimary(key)
          return v === null || v === undefined ? null : String(v)
        }),
      ),
    )
  }

  scan(match: string, cursor: string, count: number, o: StoreCommandOptions): Promise<ScanPage> {
    return this.#run('SCAN', o, async () => {
      const masters = this.#allMasters('SCAN')
      const { index, nodeCursor } = resumeScan(masters, cursor)
      const node = masters[index]
      if (!node) return { keys: [], cursor: '0' }
      const [next, keys] = await node.scan(nodeCursor, 'MATCH', match, 'COUNT', count)
      if (next !== '0') return { keys, cursor: scanCursor(node, next) }
      const following = masters[index + 1]
      return { keys, cursor: following === undefined ? '0' : scanCursor(following, '0') }
    })
  }

  deleteMatching(match: string, o: StoreCommandOptions): Promise<number> {
    return this.#run('delete matching', o, async () => {
      let deleted = 0
      for (const node of this.#allMasters('delete matching')) {
        let cursor = '0'
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000)
          cursor = next
          if (keys.length === 0) continue
          const groups =
            this.kind === 'single'
              ? [keys]
              : groupBySlot(keys).map((idx) => idx.map((i) => keys[i] as string))
          const counts = await Promise.all(groups.map((g) => this.#client.unlink(g)))
          for (const c of counts) deleted += c
        } while (cursor !== '0')
      }
      return deleted
    })
  }

  flushAll(o: StoreCommandOptions): Promise<void> {
    return this.#run('FLUSHDB', o, async () => {
      await Promise.all(this.#allMasters('FLUSHDB').map((node) => node.flushdb()))
    })
  }

  publish(channel: string, message: string, o?: PublishOptions): Promise<void> {
    return this.#run('PUBLISH', { timeoutMs: 0 }, async () => {
      // Classic PUBLISH reaches subscribers on every node, but through the cluster bus, which measured up to
      // ~50 ms at p99. Subscribers pick the first master by address first (connect.ts), so publishing there
      // keeps delivery on one node; any other node still works when that one is unreachable.
      const first = this.kind === 'cluster' ? firstMasterByAddress(this.#client as Cluster) : undefined
      if (first?.status === 'ready') {
        try {
          await first.publish(channel, message)
          // Sent only now, not pipelined with the PUBLISH: the node then runs it in a later event-loop iteration
          // than the PUBLISH, whose messages to subscribers were written by the end of that iteration.
          if (o?.fenced) await first.ping()
          return
        } catch {
          // Fall through to any node. Should only the PING have failed, publishing again is harmless: an
          // invalidation applied twice is the same invalidation.
        }
      }
      await this.#client.publish(channel, message)
      // In single mode the client is one connection, so this PING follows the PUBLISH on it. The cluster client
      // may send it to another node than the PUBLISH, which proves nothing about the PUBLISH's subscribers: the
      // fence is weaker on this fallback, taken only when the first master is not ready.
      if (o?.fenced) await this.#client.ping()
    })
  }

  async subscribe(
    channel: string,
    onMessage: (message: string) => void,
    onLinkChange?: (up: boolean) => void,
  ): Promise<() => Promise<void>> {
    if (this.#closing) throw new KeyshardError('ERR_CLOSED', 'SUBSCRIBE: the store is closed')
    this.#subscriber ??= this.#makeSubscriber()
    return this.#subscriber.add(channel, onMessage, onLinkChange)
  }

  health(o: StoreCommandOptions): Promise<StoreHealth> {
    return this.#run('health', o, () =>
      this.kind === 'single' ? this.#singleHealth() : this.#clusterHealth(o.timeoutMs),
    )
  }

  async #singleHealth(): Promise<StoreHealth> {
    const client = this.#client as Redis
    const node: NodeHealth = {
      address: nodeAddress(client),
      reachable: false,
      role: 'unknown',
      latencyMs: null,
      slots: [],
    }
    try {
      const t0 = performance.now()
      await client.ping()
      node.latencyMs = performance.now() - t0
      node.reachable = true
      const info = await client.info('replication')
      const role = /role:(\w+)/.exec(info)?.[1]
      node.role = role === 'master' ? 'master' : role === 'slave' ? 'replica' : 'unknown'
    } catch (error) {
      node.error = error instanceof Error ? error.message : String(error)
    }
    return { kind: 'single', ok: node.reachable, nodes: [node] }
  }

  /**
   * Per-node deadlines (a share of the call's budget) let one hung node show up as unreachable instead of
   * failing the whole report.
   */
  async #clusterHealth(budgetMs: number): Promise<StoreHealth> {
    const askTimeoutMs = Math.max(30, budgetMs * 0.3)
    const nodeTimeoutMs = Math.max(30, budgetMs * 0.4)
    const cluster = this.#client as Cluster
    const connections = new Map(cluster.nodes('all').map((n) => [nodeAddress(n), n]))
    // Ask the first node that answers: a random one could be the hung node we are trying to report on.
    let nodesText = ''
    let infoText = ''
    let lastError: unknown = new Error('the cluster client knows no nodes')
    for (const node of [...this.#masters(), ...cluster.nodes('slave')]) {
      try {
        ;[nodesText, infoText] = await withTimeout(
          Promise.all([node.call('CLUSTER', 'NODES'), node.call('CLUSTER', 'INFO')]).then(
            ([n, i]) => [String(n), String(i)] as const,
          ),
          askTimeoutMs,
          `CLUSTER NODES on ${nodeAddress(node)}`,
        )
        break
      } catch (error) {
        lastError = error
      }
    }
    if (nodesText === '') throw lastError
    const clusterState = /cluster_state:(\w+)/.exec(infoText)?.[1] ?? 'unknown'
    const slotsCovered = Number(/cluster_slots_ok:(\d+)/.exec(infoText)?.[1] ?? 0)
    const nodes = await Promise.all(
      nodesText
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map(async (line): Promise<NodeHealth> => {
          const [, addr = '', flags = '', , , , , , ...slotFields] = line.split(' ')
          const nodeAddress = addr.split('@')[0] ?? addr
          const role = flags.includes('master') ? 'master' : flags.includes('slave') ? 'replica' : 'unknown'
          const slots: Array<[number, number]> = []
          for (const field of slotFields) {
            if (field.startsWith('[')) continue // migrating/importing markers
            const [a, b] = field.split('-')
            if (a !== undefined && a !== '') slots.push([Number(a), Number(b ?? a)])
          }
          const health: NodeHealth = { address: nodeAddress, reachable: false, role, latencyMs: null, slots }
          const conn = connections.get(nodeAddress)
          if (flags.split(',').includes('fail')) health.error = `cluster reports ${flags}`
          try {
            if (conn) {
              const t0 = performance.now()
              await withTimeout(conn.ping(), nodeTimeoutMs, `PING ${nodeAddress}`)
              health.latencyMs = performance.now() - t0
            } else {
              const i = nodeAddress.lastIndexOf(':')
              health.latencyMs = await withTimeout(
                this.#pingAddress(nodeAddress.slice(0, i), Number(nodeAddress.slice(i + 1))),
                nodeTimeoutMs,
                `PING ${nodeAddress}`,
              )
            }
            health.reachable = true
          } catch (error) {
            health.error = error instanceof Error ? error.message : String(error)
          }
          return health
        }),
    )
    nodes.sort((a, b) => a.address.localeCompare(b.address))
    const ok = clusterState === 'ok' && slotsCovered === SLOT_COUNT && nodes.every((n) => n.reachable)
    return { kind: 'cluster', ok, nodes, clusterState, slotsCovered }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // A command is only written once its tick ends, and QUIT would not wait for replies still owed to callers:
      // wait for our own in-flight commands first. QUIT then flushes anything else iovalkey still has queued.
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        this.#inflight.drained(),
        // A dead server must not hold close() forever; what is still pending is abandoned below.
        new Promise((resolve) => {
          timer = setTimeout(resolve, CLOSE_DRAIN_MS)
        }),
      ])
      clearTimeout(timer)
      await Promise.all([quitWithin(this.#client, QUIT_MS), this.#subscriber?.close()])
    })()
    return this.#closing
  }
}

/**
 * The values of `keys` (all in one slot) and their PTTLs in one pipeline: one round trip, and every reply from
 * the same node, since iovalkey keeps a cluster pipeline on the connection its first command went to (a replica
 * with replica reads). A TTL therefore always belongs to the copy of the value it came with. `GET` for the
 * single-key read, so that it fails exactly as `get` does; `MGET` for batches, as `getMany`.
 */
async function readWithTtl(
  client: Client,
  keys: readonly string[],
  read: 'GET' | 'MGET',
): Promise<Array<StoreValueWithTtl | null>> {
  const pipeline = client.pipeline()
  if (read === 'GET') pipeline.getBuffer(keys[0] as string)
  else pipeline.mgetBuffer(keys as string[])
  for (const key of keys) pipeline.pttl(key)
  const replies = (await pipeline.exec()) as Array<[Error | null, unknown]>
  for (const [error] of replies) if (error) throw error
  const [valuesReply, ...ttlReplies] = replies
  const values =
    read === 'GET' ? [valuesReply?.[1] as Buffer | null] : (valuesReply?.[1] as Array<Buffer | null>)
  return keys.map((_, i) => withTtl(values[i] ?? null, ttlReplies[i]?.[1]))
}

function withTtl(value: Buffer | null, pttlReply: unknown): StoreValueWithTtl | null {
  if (value === null) return null
  // -1: no expiry. -2: the key expired between the two reads, so the value is as good as gone.
  const pttl = Number(pttlReply)
  return { value, ttlMs: pttl === -1 ? null : Math.max(0, pttl) }
}

/** SET's `OK` (a Buffer: see #send). */
function isOk(reply: unknown): boolean {
  return Buffer.isBuffer(reply) && reply.length === 2 && reply[0] === 0x4f && reply[1] === 0x4b
}
