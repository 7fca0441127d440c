import { createServer } from 'node:net'

const HOST = '127.0.0.1'
/** Redis/Valkey put the cluster bus on the client port + 10000. */
export const CLUSTER_BUS_OFFSET = 10_000

function listenOn(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => resolve(undefined))
    server.listen({ port, host: HOST, exclusive: true }, () => {
      const address = server.address()
      const bound = typeof address === 'object' && address ? address.port : undefined
      server.close(() => resolve(bound))
    })
  })
}

// Ports handed out in this process; avoids giving the same port twice before a server has bound it.
const handedOut = new Set<number>()

/** A loopback port nobody is listening on right now. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOn(0)
    if (port !== undefined && !handedOut.has(port)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error('Could not find a free loopback port after 50 attempts')
}

/** A free loopback port whose cluster bus port (port + 10000) is free as well. */
export async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await listenOn(0)
    if (port === undefined || handedOut.has(port) || port + CLUSTER_BUS_OFFSET > 65_535) continue
    if ((await listenOn(port + CLUSTER_BUS_OFFSET)) === undefined) continue
    handedOut.add(port)
    handedOut.add(port + CLUSTER_BUS_OFFSET)
    return port
  }
  throw new Error('Could not find a free loopback port pair (port and port+10000) after 100 attempts')
}
