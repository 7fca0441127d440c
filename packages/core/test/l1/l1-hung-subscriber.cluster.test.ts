import { type ClusterNode, startCluster, type TestCluster } from '@keyshard/testkit'
import { Redis } from 'iovalkey'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache.js'
import { keySlot } from '../../src/store/key-slot.js'

// A node that hangs (SIGSTOP) keeps its TCP connections open, so no 'close' tells the subscriber its link is
// gone. The subscriber's PING must notice, or B's L1 serves A's overwritten value until l1.ttl runs out.

let cluster: TestCluster
const open: Cache[] = []
const frozen: ClusterNode[] = []

beforeAll(async () => {
  // No replicas and a node timeout far beyond the test: the frozen node is neither failed over nor takes the
  // cluster down, so the only thing that changes is that one node stops answering.
  cluster = await startCluster({ masters: 3, replicasPerMaster: 0, nodeTimeoutMs: 300_000 })
})

afterAll(async () => {
  for (const node of frozen.splice(0)) process.kill(node.pid, 'SIGCONT')
  await Promise.all(open.splice(0).map((c) => c.close()))
  await cluster?.stop()
})

/** `CLIENT LIST` lines of `node` for connections named `name` that hold a subscription. */
async function subscribersOn(node: ClusterNode, name: string): Promise<string[]> {
  const admin = new Redis({
    host: node.host,
    port: node.port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    commandTimeout: 5000,
  })
  admin.on('error', () => {})
  let list: string
  try {
    list = String(await admin.client('LIST'))
  } finally {
    admin.disconnect()
  }
  return list.split('\n').filter((line) => line.includes(` name=${name} `) && /\bsub=[1-9]/.test(line))
}

it('an L1 whose subscriber node hangs stops serving overwritten values (well) before l1.ttl', async () => {
  const prefix = `hung-${process.pid}:`
  const make = (clientName: string) =>
    createCache({
      fromEnv: false,
      mode: 'cluster',
      addresses: cluster.seeds,
      prefix,
      clientName,
      // The PING reply deadline is the dial timeout: 1 s here, so the link counts as down ≈ 2 s after the hang.
      dialTimeout: '1s',
      l1: { ttl: '60s' },
    })
  const a = await make('hung-a')
  const b = await make('hung-b')
  open.push(a, b)

  const masters = cluster.masters()
  let subscriberNode: ClusterNode | undefined
  for (const node of masters) if ((await subscribersOn(node, 'hung-b')).length > 0) subscriberNode = node
  if (!subscriberNode) throw new Error("B's subscriber connection is on no master")
  const hub = subscriberNode
  // k must live on a master that stays up, so both caches can still write and read it.
  const others = masters.filter((n) => n !== hub)
  let key: string | undefined
  for (let i = 0; key === undefined; i++) {
    const owner = await cluster.masterForSlot(keySlot(`{t${i}}`))
    if (owner.address !== hub.address) key = `{t${i}}k`
  }

  const na = a.namespace<string>('ns')
  const nb = b.namespace<string>('ns')
  let l1Hits = 0
  let l2Hits = 0
  b.on('hit', (e) => {
    if (e.tier === 'l1') l1Hits++
    else l2Hits++
  })
  await na.set(key, 'old')
  // B's first read fills its L1; a fill can be skipped while A's own set message lands, so poll for the L1 hit.
  const fillDeadline = Date.now() + 10_000
  while (l1Hits === 0) {
    if (Date.now() > fillDeadline) throw new Error("B's L1 never served k")
    expect(await nb.get(key)).toBe('old')
  }

  process.kill(hub.pid, 'SIGSTOP')
  frozen.push(hub)
  l2Hits = 0
  await na.set(key, 'new')

  // Generous next to the ≈ 2 s bound, far below l1.ttl (60 s): without a liveness check B answers 'old' till then.
  const deadline = Date.now() + 20_000
  let seen = await nb.get(key)
  while (seen !== 'new' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
    seen = await nb.get(key)
  }
  expect(seen).toBe('new')
  // The link-down path emits no event of its own; what shows it is that B read from Valkey (an 'l2' hit) again.
  expect(l2Hits).toBeGreaterThan(0)

  // And the subscriber moved on to another node (the next candidate), where it holds the subscription again.
  const moveDeadline = Date.now() + 20_000
  let moved: ClusterNode | undefined
  while (!moved && Date.now() < moveDeadline) {
    for (const node of others) if ((await subscribersOn(node, 'hung-b')).length > 0) moved = node
    if (!moved) await new Promise((r) => setTimeout(r, 100))
  }
  expect(moved?.address).toBeDefined()
}, 60_000)
