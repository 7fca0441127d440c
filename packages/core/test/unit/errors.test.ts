import { describe, expect, it } from 'vitest'
import { isKeyshardError, KeyshardError } from '../../src/errors.js'

describe('KeyshardError across two copies of the module (dual-package hazard)', () => {
  it('instanceof and isKeyshardError accept an error from the other copy, both ways', async () => {
    // A query string makes vitest evaluate the module a second time, as the CJS build beside the ESM one would.
    const second = '../../src/errors.ts?copy'
    const copy = (await import(second)) as typeof import('../../src/errors.js')
    expect(copy.KeyshardError).not.toBe(KeyshardError)
    const theirs = new copy.KeyshardError('ERR_CONFIG', 'from the other copy')
    const ours = new KeyshardError('ERR_CONFIG', 'from this copy')
    expect(theirs instanceof KeyshardError).toBe(true)
    expect(isKeyshardError(theirs, 'ERR_CONFIG')).toBe(true)
    expect(ours instanceof copy.KeyshardError).toBe(true)
    expect(copy.isKeyshardError(ours)).toBe(true)
    expect(new Error('plain') instanceof KeyshardError).toBe(false)
    expect(Object.keys(ours)).not.toContain(Symbol.for('keyshard.error'))
  })
})
