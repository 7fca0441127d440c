import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface TlsMaterial {
  /** PEM of the self-signed CA that issued the server certificate. */
  ca: string
  /** PEM server certificate for 127.0.0.1 and localhost. */
  cert: string
  /** PEM private key of the server certificate. */
  key: string
  caFile: string
  certFile: string
  keyFile: string
}

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir, timeout: 30_000 })
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    if (e.code === 'ENOENT') {
      throw new Error('TLS test servers need the `openssl` command (e.g. `apt-get install openssl`)', {
        cause: err,
      })
    }
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`, { cause: err })
  }
}

/** Writes a throwaway CA and a server certificate signed by it into `dir`. */
export async function generateTls(dir: string): Promise<TlsMaterial> {
  const caFile = join(dir, 'ca.crt')
  const certFile = join(dir, 'server.crt')
  const keyFile = join(dir, 'server.key')
  await writeFile(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  await openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-nodes',
    '-newkey',
    'rsa:2048',
    '-sha256',
    '-days',
    '2',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-subj',
    '/CN=Keyshard test CA',
  ])
  await openssl(dir, [
    'req',
    '-new',
    '-nodes',
    '-newkey',
    'rsa:2048',
    '-sha256',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  ])
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-sha256',
    '-days',
    '2',
    '-extfile',
    'san.cnf',
    '-out',
    'server.crt',
  ])
  const [ca, cert, key] = await Promise.all([
    readFile(caFile, 'utf8'),
    readFile(certFile, 'utf8'),
    readFile(keyFile, 'utf8'),
  ])
  return { ca, cert, key, caFile, certFile, keyFile }
}
