/**
 * `pnpm demo`: starts a local 3-master/3-replica cluster with the testkit (or falls back to the memory store
 * when no server binary exists), shows keys landing on every shard and a tag invalidation crossing shards, then
 * runs the example apps against the same cluster and prints their URLs. Ctrl-C stops everything.
 * `pnpm demo --smoke` exits after checking that every example app answers (used by the tests of this script).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, dirname, join } from 'node:path'
import { type Cache, createCache } from '@keyshard/core'
import { findServerBinary, startCluster, type TestCluster } from '@keyshard/testkit'
import calculateSlot from 'cluster-key-slot'

const smoke = process.argv.includes('--smoke')
const root = join(import.meta.dirname, '..')

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

async function startInfrastructure(): Promise<{
  cache: Cache
  cluster?: TestCluster
  env: Record<string, string>
}> {
  try {
    const binary = findServerBinary()
    console.log(
      `Starting a 3-master/3-replica cluster with ${binary.path} (${binary.flavor} ${binary.version}) …`,
    )
    const cluster = await startCluster({ masters: 3, replicasPerMaster: 1 })
    const cache = await createCache({ fromEnv: false, mode: 'cluster', addresses: cluster.seeds })
    return { cache, cluster, env: { CACHE_MODE: 'cluster', CACHE_ADDRS: cluster.seeds.join(',') } }
  } catch (error) {
    console.log(`No Valkey/Redis server could be started (${(error as Error).message.split('\n')[0]}).`)
    console.log(
      'Using the in-process memory store instead: same semantics, no cluster, nothing shared between apps.',
    )
    const cache = await createCache({ fromEnv: false, mode: 'memory' })
    return { cache, env: { CACHE_MODE: 'memory' } }
  }
}

async function tour(cache: Cache): Promise<void> {
  const products = cache.namespace<{ name: string; price: number }>('demo-products')
  const keys = Array.from({ length: 9 }, (_, i) => `product:${i + 1}`)
  await products.setMany(
    keys.map((key, i) => ({
      key,
      value: { name: `Product ${i + 1}`, price: 10 + i },
      tags: ['catalog', `shelf:${i % 3}`],
    })),
  )
  const health = await cache.health()
  const owner = (full: string) => {
    const slot = calculateSlot(full)
    const node = health.nodes.find(
      (n) => n.role === 'master' && n.slots.some(([a, b]) => slot >= a && slot <= b),
    )
    return `${node?.address ?? 'memory'} (slot ${slot})`
  }
  console.log('\nWrote 9 products tagged "catalog"; each key lives on the shard that owns its slot:')
  const values = await products.getMany(keys)
  keys.forEach((key, i) => {
    console.log(
      `  ${key.padEnd(11)} -> ${JSON.stringify(values[i])}  served by ${owner(products.fullKey(key))}`,
    )
  })
  await products.invalidateTag('shelf:1')
  const afterShelf = await products.getMany(keys)
  console.log(
    `\ninvalidateTag('shelf:1') -> misses: ${keys.filter((_, i) => afterShelf[i] === undefined).join(', ')}`,
  )
  await products.invalidateTag('catalog')
  const afterAll = await products.getMany(keys)
  console.log(
    `invalidateTag('catalog') -> ${afterAll.filter((v) => v === undefined).length}/9 misses, across every shard`,
  )
  await products.clear()
}

interface RunningApp {
  name: string
  url: string
  child: ChildProcess
}

async function startApps(env: Record<string, string>): Promise<RunningApp[]> {
  const appsDir = join(root, 'apps')
  const apps: RunningApp[] = []
  for (const name of existsSync(appsDir) ? readdirSync(appsDir) : []) {
    const pkgPath = join(appsDir, name, 'package.json')
    if (!existsSync(pkgPath)) continue
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as {
      scripts?: Record<string, string>
      keyshardDemo?: boolean
    }
    if (!pkg.keyshardDemo || !pkg.scripts?.start) continue
    const port = await freePort()
    const cwd = join(appsDir, name)
    // The app's own `start` script, run the way `pnpm run` runs it (sh, with the workspace's bins on PATH), on the
    // same Node as the demo; going through npx/pnpm again would add seconds and depend on the caller's npm setup.
    const path = [
      join(cwd, 'node_modules', '.bin'),
      join(root, 'node_modules', '.bin'),
      dirname(process.execPath),
    ]
    const child = spawn('sh', ['-c', pkg.scripts.start], {
      cwd,
      env: {
        ...process.env,
        ...env,
        PATH: [...path, process.env.PATH ?? ''].join(delimiter),
        PORT: String(port),
        HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
      // Its own process group (sh -> node), so stopping the group stops the app and nothing is orphaned.
      detached: true,
    })
    apps.push({ name, url: `http://127.0.0.1:${port}/`, child })
  }
  for (const app of apps) await waitForHttp(app)
  return apps
}

async function waitForHttp(app: RunningApp): Promise<void> {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (app.child.exitCode !== null) throw new Error(`${app.name} exited with code ${app.child.exitCode}`)
    try {
      const res = await fetch(app.url)
      if (res.status < 500) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`${app.name} did not answer on ${app.url} within 60 s`)
}

async function main(): Promise<void> {
  const { cache, cluster, env } = await startInfrastructure()
  let apps: RunningApp[] = []
  const stopApps = () => {
    for (const app of apps) {
      if (app.child.pid === undefined || app.child.exitCode !== null) continue
      try {
        process.kill(-app.child.pid, 'SIGTERM')
      } catch {
        // already gone
      }
    }
  }
  // Also when the demo dies some other way, the apps must not outlive it.
  process.once('exit', stopApps)
  const shutdown = async (code: number) => {
    stopApps()
    await Promise.all(
      apps.map((app) =>
        app.child.exitCode !== null || app.child.signalCode !== null
          ? undefined
          : new Promise((resolve) => app.child.once('exit', resolve)),
      ),
    )
    await cache.close()
    await cluster?.stop()
    process.exit(code)
  }
  process.once('SIGINT', () => void shutdown(0))
  process.once('SIGTERM', () => void shutdown(0))
  try {
    await tour(cache)
    apps = await startApps(env)
    if (apps.length > 0) {
      console.log('\nExample apps running against the same cache:')
      for (const app of apps) console.log(`  ${app.name.padEnd(18)} ${app.url}`)
    }
    if (cluster) console.log(`\nCluster seeds: ${cluster.seeds.join(', ')}`)
    if (smoke) {
      console.log('\nDemo smoke check passed.')
      await shutdown(0)
    } else {
      console.log('\nPress Ctrl-C to stop.')
    }
  } catch (error) {
    console.error(error)
    await shutdown(1)
  }
}

await main()
