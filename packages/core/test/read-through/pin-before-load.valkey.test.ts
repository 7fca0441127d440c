import { describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache.js'
import { closedAfterAll, valkeyTopologies as topologies } from './valkey-topologies.js'

const open = closedAfterAll()

// The tag's epoch key is `…__t:pin:{e}`, so `{e}` big keys land on its node (cluster) and queue on the same
// connection ahead of the pin: without the pin awaited before the loader, the loader's own invalidateTag (on
// another instance) reaches the server first, and the pin then creates a fresh epoch that seals the old value.
const TAG = '{e}'
const big = 'x'.repeat(8 * 1024 * 1024)

describe.each(topologies)('tag epochs are pinned before the loader runs (%s)', (name, connection) => {
  const prefix = `pin-${name}-${process.pid}-${Date.now()}:`
  async function two(): Promise<[Cache, Cache]> {
    const made = await Promise.all(
      [0, 1].map(() =>
        createCache({ fromEnv: false, prefix, ...connection, timeouts: { operation: '10s', bulk: '10s' } }),
      ),
    )
    open.push(...made)
    return made as [Cache, Cache]
  }
  const congest = (c: Cache) =>
    Promise.all(['{e}:big1', '{e}:big2'].map((k) => c.namespace<string>('pin').set(k, big)))

  it('getOrSet: an invalidateTag that resolves during the load leaves its value unreadable', async () => {
    const [a, b] = await two()
    // B holds the load lock, so A waits for it, gives up at lock.timeout and loads itself: the lock:wait event is
    // emitted just before A pins its epochs, which lets the congestion queue ahead of the pin.
    let releaseHolder: (() => void) | undefined
    // Resolving undefined stores nothing, so the holder's own load never writes the key.
    const holder = b
      .namespace<string | undefined>('pin')
      .getOrSet('k', () => new Promise<undefined>((r) => (releaseHolder = () => r(undefined))))
    while (releaseHolder === undefined) await new Promise((r) => setTimeout(r, 5))
    let congestion: Promise<unknown> = Promise.resolve()
    a.once('lock:wait', () => {
      congestion = congest(a)
    })
    const got = await a.namespace<string>('pin').getOrSet(
      'k',
      async () => {
        await b.namespace<string>('pin').invalidateTag(TAG)
        return 'old'
      },
      { tags: [TAG], lock: { timeout: 50 } },
    )
    await congestion
    expect(got).toBe('old')
    expect(await b.namespace<string>('pin').get('k')).toBeUndefined()
    expect(await a.namespace<string>('pin').get('k')).toBeUndefined()
    releaseHolder()
    await holder
  })

  it('getManyOrSet: an invalidateTag that resolves during the load leaves its values unreadable', async () => {
    const [a, b] = await two()
    let congestion: Promise<unknown> = Promise.resolve()
    // Emitted by the read that missed, before the pin is sent.
    a.once('miss', () => {
      congestion = congest(a)
    })
    const got = await a.namespace<string>('pin').getManyOrSet(
      ['m'],
      async () => {
        await b.namespace<string>('pin').invalidateTag(TAG)
        return ['old']
      },
      { tags: [TAG] },
    )
    await congestion
    expect(got).toEqual(['old'])
    expect(await b.namespace<string>('pin').get('m')).toBeUndefined()
    expect(await a.namespace<string>('pin').get('m')).toBeUndefined()
  })
})
