export { findServerBinary, type ServerBinary, type ServerFlavor } from './binary.js'
export {
  type ClusterNode,
  type NodeRole,
  type StartClusterOptions,
  startCluster,
  type TestCluster,
} from './cluster.js'
export { trackedCount } from './cleanup.js'
export { freeClusterPort, freePort } from './ports.js'
export { type AclUser, type StartServerOptions, startServer, type TestServer } from './server.js'
export { ENV_CLUSTER, ENV_FLAVOR, ENV_STANDALONE, getTestServers, type TestServersInfo } from './servers.js'
