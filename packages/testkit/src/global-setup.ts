import type {} from 'vitest'
import type { TestProject } from 'vitest/node'
import { findServerBinary } from './binary.js'
import { startCluster, type TestCluster } from './cluster.js'
import { startServer, type TestServer } from './server.js'
import { ENV_CLUSTER, ENV_FLAVOR, ENV_STANDALONE, type TestServersInfo } from './servers.js'

declare module 'vitest' {
  export interface ProvidedContext {
    keyshardServers: TestServersInfo | null
  }
}

/**
 * Vitest global setup: one standalone server and one 3-master/3-replica cluster for the whole run,
 * published via `inject('keyshardServers')` and the KEYSHARD_TEST_* environment variables.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.KEYSHARD_TEST_NO_SERVERS === '1') {
    project.provide('keyshardServers', null)
    return undefined
  }
  const bin = findServerBinary()
  const began = Date.now()
  const [standalone, cluster] = await Promise.allSettled([startServer(), startCluster()])
  const stopAll = async () => {
    await Promise.all([
      standalone.status === 'fulfilled' ? standalone.value.stop() : undefined,
      cluster.status === 'fulfilled' ? cluster.value.stop() : undefined,
    ])
  }
  if (standalone.status === 'rejected' || cluster.status === 'rejected') {
    await stopAll()
    throw standalone.status === 'rejected' ? standalone.reason : (cluster as PromiseRejectedResult).reason
  }
  const server: TestServer = standalone.value
  const nodes: TestCluster = cluster.value
  const info: TestServersInfo = {
    standalone: { address: server.address, host: server.host, port: server.port },
    cluster: { seeds: nodes.seeds },
    flavor: bin.flavor,
  }
  process.env[ENV_STANDALONE] = server.address
  process.env[ENV_CLUSTER] = nodes.seeds.join(',')
  process.env[ENV_FLAVOR] = bin.flavor
  project.provide('keyshardServers', info)
  console.log(
    `[keyshard] ${bin.flavor}-server ${bin.version} (${bin.path}): standalone ${server.address}, ` +
      `cluster ${nodes.nodes.length} nodes from ${nodes.seeds[0]} (ready in ${Date.now() - began} ms)`,
  )
  return async () => {
    await stopAll()
    delete process.env[ENV_STANDALONE]
    delete process.env[ENV_CLUSTER]
    delete process.env[ENV_FLAVOR]
  }
}
