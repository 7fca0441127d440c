import { existsSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../src/index.js'
import { isAlive, quickClient, withQuickClient } from './helpers.js'

describe('startServer', () => {
  const started: TestServer[] = []
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.stop()))
  })
  const start = async (...args: Parameters<typeof startServer>) => {
    const server = await startServer(...args)
    started.push(server)
    return server
  }

  it('requires the password when one is set', async () => {
    const server = await start({ password: 's3cret' })
    await withQuickClient({ port: server.port }, async (c) => {
      await expect(c.get('k')).rejects.toThrow(/NOAUTH/)
      await expect(c.call('AUTH', 'wrong')).rejects.toThrow(/WRONGPASS|invalid password/)
      expect(await c.call('AUTH', 's3cret')).toBe('OK')
      expect(await c.set('k', 'v')).toBe('OK')
    })
    expect(await withQuickClient(server.clientOptions(), (c) => c.get('k'))).toBe('v')
  })

  it('creates ACL users with their rules', async () => {
    const server = await start({
      aclUsers: [
        { username: 'app', password: 'app-pw' },
        { username: 'reader', password: 'reader-pw', rules: '~* +get +ping' },
      ],
    })
    await withQuickClient({ port: server.port, username: 'app', password: 'app-pw' }, async (c) => {
      expect(await c.call('ACL', 'WHOAMI')).toBe('app')
      expect(await c.set('k', 'v')).toBe('OK')
    })
    await withQuickClient({ port: server.port }, async (c) => {
      await expect(c.call('AUTH', 'app', 'wrong')).rejects.toThrow(/WRONGPASS/)
      expect(await c.call('AUTH', 'reader', 'reader-pw')).toBe('OK')
      expect(await c.get('k')).toBe('v')
      await expect(c.set('k', 'w')).rejects.toThrow(/NOPERM/)
    })
  })

  it('serves TLS with its own CA and refuses plain or unverified connections', async () => {
    const server = await start({ tls: true })
    expect(server.tls?.ca).toContain('BEGIN CERTIFICATE')
    expect(await withQuickClient({ port: server.port, tls: { ca: server.tls!.ca } }, (c) => c.ping())).toBe(
      'PONG',
    )
    expect(await withQuickClient(server.clientOptions(), (c) => c.ping())).toBe('PONG')
    // Without the CA the self-signed chain must not verify. iovalkey reports the TLS error as an event.
    const unverified = quickClient({ port: server.port, tls: {} })
    const errors: string[] = []
    unverified.on('error', (e: Error) => errors.push(e.message))
    await expect(unverified.connect().then(() => unverified.ping())).rejects.toThrow()
    unverified.disconnect()
    expect(errors.join('\n')).toMatch(/certificate/i)
    await expect(withQuickClient({ port: server.port }, (c) => c.ping())).rejects.toThrow()
  })

  it('passes extra arguments and keeps a log in its directory', async () => {
    const server = await start({ args: ['--maxmemory', '12mb'] })
    const reply = await withQuickClient({ port: server.port }, (c) => c.config('GET', 'maxmemory'))
    expect(reply).toEqual(['maxmemory', String(12 * 1024 * 1024)])
    expect(existsSync(`${server.dir}/server.log`)).toBe(true)
  })

  it('kills, restarts and pauses the server', async () => {
    const server = await start()
    const firstPid = server.pid
    await server.kill()
    expect(isAlive(firstPid)).toBe(false)
    await expect(withQuickClient({ port: server.port }, (c) => c.ping())).rejects.toThrow()
    await server.restart()
    expect(server.pid).not.toBe(firstPid)
    expect(await withQuickClient({ port: server.port }, (c) => c.ping())).toBe('PONG')

    const began = Date.now()
    const paused = server.pause(400)
    await withQuickClient({ port: server.port, commandTimeout: 5_000 }, (c) => c.ping())
    await paused
    expect(Date.now() - began).toBeGreaterThanOrEqual(350)
  })

  it('stop leaves no process and no directory behind', async () => {
    const server = await startServer()
    expect(isAlive(server.pid)).toBe(true)
    await server.stop()
    expect(isAlive(server.pid)).toBe(false)
    expect(existsSync(server.dir)).toBe(false)
  })
})
