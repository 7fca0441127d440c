import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { findServerBinary } from '../src/index.js'

describe('findServerBinary', () => {
  const saved = { bin: process.env.VALKEY_SERVER_BIN, path: process.env.PATH }
  const dirs: string[] = []
  afterEach(() => {
    if (saved.bin === undefined) delete process.env.VALKEY_SERVER_BIN
    else process.env.VALKEY_SERVER_BIN = saved.bin
    process.env.PATH = saved.path
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  it('finds a server and reports flavor and version', () => {
    const bin = findServerBinary()
    expect(['valkey', 'redis']).toContain(bin.flavor)
    expect(bin.version).toMatch(/^\d+\.\d+\.\d+/)
  })

  it('honours VALKEY_SERVER_BIN', () => {
    const real = findServerBinary().path
    const dir = mkdtempSync(join(tmpdir(), 'keyshard-bin-'))
    dirs.push(dir)
    const link = join(dir, 'custom-server')
    symlinkSync(real, link)
    process.env.VALKEY_SERVER_BIN = link
    expect(findServerBinary().path).toBe(link)
  })

  it('names a nonexistent VALKEY_SERVER_BIN', () => {
    process.env.VALKEY_SERVER_BIN = '/nonexistent/valkey-server'
    expect(() => findServerBinary()).toThrow(
      /VALKEY_SERVER_BIN.*\/nonexistent\/valkey-server.*does not exist/,
    )
  })

  it('explains how to install a server when none is found', () => {
    delete process.env.VALKEY_SERVER_BIN
    process.env.PATH = mkdtempSync(join(tmpdir(), 'keyshard-empty-'))
    dirs.push(process.env.PATH)
    expect(() => findServerBinary()).toThrow(
      /VALKEY_SERVER_BIN.*valkey-server.*redis-server.*apt-get install/s,
    )
  })
})
