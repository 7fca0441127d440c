import { expect, it } from 'vitest'
import { isKeyshardError } from '../../src/errors.js'
import { privateClusterStoreForFile } from './private-cluster-store.js'

// A master is killed. The node timeout is long so no failover hands its slots to another node while the test
// runs: the slots stay owned by a master the client has no connection to.
const own = privateClusterStoreForFile(
  { masters: 3, replicasPerMaster: 0, nodeTimeoutMs: 60_000 },
  { clusterRetryStrategy: () => 100 },
)
const o = { timeoutMs: 5000 }

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50))
  expect(check()).toBe(true)
}

it('fails clear, deletePattern and scan with ERR_CONNECT when a slot owner is down, deleting nothing', async () => {
  const { cluster, client, store } = own
  const keys = Array.from({ length: 30 }, (_, i) => `unreachable:${i}`)
  await Promise.all(keys.map((k) => client.set(k, 'v')))
  const victim = cluster.masters()[0]!
  await cluster.kill(victim)
  // iovalkey drops a node from `nodes()` once its connection ends; the slot table still names it as owner.
  await waitFor(() => client.nodes('master').length === 2)

  for (const run of [
    () => store.deleteMatching('unreachable:*', o),
    () => store.flushAll(o),
    () => store.scan('unreachable:*', '0', 100, o),
  ]) {
    const error = await run().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isKeyshardError(error) && error.code).toBe('ERR_CONNECT')
    expect((error as Error).message).toContain(victim.address)
  }

  // Nothing was deleted on the masters that are up.
  const left = await Promise.all(
    keys.map((k) =>
      client.get(k).then(
        (v) => v,
        () => 'unreachable',
      ),
    ),
  )
  expect(left.every((v) => v === 'v' || v === 'unreachable')).toBe(true)
  expect(left.filter((v) => v === 'v').length).toBeGreaterThan(0)
}, 60_000)
