import type { ServerFlavor } from './binary.js'

export const ENV_STANDALONE = 'KEYSHARD_TEST_STANDALONE'
export const ENV_CLUSTER = 'KEYSHARD_TEST_CLUSTER'
export const ENV_FLAVOR = 'KEYSHARD_TEST_SERVER_FLAVOR'

export interface TestServersInfo {
  standalone: { address: string; host: string; port: number }
  cluster: { seeds: string[] }
  flavor: ServerFlavor
}

function parseAddress(address: string, from: string): { address: string; host: string; port: number } {
  const i = address.lastIndexOf(':')
  const port = Number(address.slice(i + 1))
  if (i <= 0 || !Number.isInteger(port) || port <= 0) {
    throw new Error(`${from} holds "${address}", which is not a host:port address`)
  }
  return { address, host: address.slice(0, i), port }
}

/**
 * The servers the test run's global setup started, read from environment variables so it also works in
 * child processes spawned by e2e tests.
 */
export function getTestServers(): TestServersInfo {
  const standalone = process.env[ENV_STANDALONE]
  const cluster = process.env[ENV_CLUSTER]
  if (!standalone || !cluster) {
    throw new Error(
      `No test servers: ${ENV_STANDALONE} and ${ENV_CLUSTER} are not set. Run the tests through vitest from the ` +
        'repository root (its globalSetup, packages/testkit/src/global-setup.ts, starts the servers), and do not set ' +
        'KEYSHARD_TEST_NO_SERVERS=1 for tests that need them.',
    )
  }
  const flavor = process.env[ENV_FLAVOR] === 'valkey' ? 'valkey' : 'redis'
  return {
    standalone: parseAddress(standalone, ENV_STANDALONE),
    cluster: { seeds: cluster.split(',').map((s) => parseAddress(s.trim(), ENV_CLUSTER).address) },
    flavor,
  }
}
