// Loads the built packages the way an application does (their `exports` maps, no source condition), as ESM and
// as CommonJS, and runs a cache and a Keyv round trip on the memory store, and checks that an error thrown by one
// build is a KeyshardError to the other (an app and its libraries may load different builds). `pnpm smoke:dist` runs it on Node 20
// and on Node 22.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const esm = { core: await import('@keyshard/core'), keyv: await import('@keyshard/keyv') }
const cjs = { core: require('@keyshard/core'), keyv: require('@keyshard/keyv') }

for (const [format, { core, keyv }] of Object.entries({ esm, cjs })) {
  const cache = await core.createCache({ fromEnv: false, mode: 'memory' })
  const users = cache.namespace('users')
  const joined = new Date('2026-01-02T03:04:05Z')
  await users.set('u1', { joined, roles: new Set(['admin']) }, { tags: ['team:1'] })
  const read = await users.get('u1')
  assert.equal(read.joined.getTime(), joined.getTime())
  assert.deepEqual([...read.roles], ['admin'])
  await users.invalidateTag('team:1')
  assert.equal(await users.get('u1'), undefined)
  await assert.rejects(users.set('', 1), (error) => core.isKeyshardError(error, 'ERR_KEY'))

  const kv = await keyv.createKeyv(cache, { keyv: { namespace: 'smoke' } })
  await kv.set('k', { n: 1 }, 60_000)
  assert.deepEqual(await kv.get('k'), { n: 1 })
  await kv.clear()
  assert.equal(await kv.get('k'), undefined)
  await cache.close()
  console.log(`dist smoke (${format}) passed on Node ${process.version}`)
}

// The ESM and CJS builds are two copies of the core: `instanceof` and `isKeyshardError` must hold across them.
const fromCjs = await cjs.core.createCache({ fromEnv: false, mode: 'memory' }).then(async (cache) => {
  try {
    return await cache
      .namespace('n')
      .set('', 1)
      .then(
        () => undefined,
        (error) => error,
      )
  } finally {
    await cache.close()
  }
})
assert.notEqual(esm.core.KeyshardError, cjs.core.KeyshardError)
assert.ok(fromCjs instanceof esm.core.KeyshardError, 'a CJS error is an ESM KeyshardError')
assert.ok(esm.core.isKeyshardError(fromCjs, 'ERR_KEY'))
const fromEsm = new esm.core.KeyshardError('ERR_CONFIG', 'made by the ESM build')
assert.ok(fromEsm instanceof cjs.core.KeyshardError, 'an ESM error is a CJS KeyshardError')
assert.ok(cjs.core.isKeyshardError(fromEsm, 'ERR_CONFIG'))
console.log(`dist smoke (ESM/CJS errors) passed on Node ${process.version}`)
