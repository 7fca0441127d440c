import { KeyshardStoreBase } from './store.js'

/** What Keyv 6 reads from `capabilities`: `expires: true` makes it pass absolute expiry times, unbridged. */
export interface KeyshardStoreCapabilities {
  compatible: true
  store: 'keyvStorage'
  expires: true
  methods: Record<
    | 'get'
    | 'getMany'
    | 'has'
    | 'hasMany'
    | 'set'
    | 'setMany'
    | 'delete'
    | 'deleteMany'
    | 'clear'
    | 'disconnect'
    | 'iterator',
    { exists: true; methodType: 'async' }
  >
}

const METHODS = [
  'get',
  'getMany',
  'has',
  'hasMany',
  'set',
  'setMany',
  'delete',
  'deleteMany',
  'clear',
  'disconnect',
  'iterator',
] as const

/**
 * Keyv 6 storage adapter (`KeyvStorageAdapter`): absolute `expires` (ms epoch), boolean arrays from
 * setMany/deleteMany, and the store (not Keyv) owns the namespace, so keys arrive bare.
 */
export class KeyshardStoreV6 extends KeyshardStoreBase {
  get capabilities(): KeyshardStoreCapabilities {
    const methods = Object.fromEntries(METHODS.map((m) => [m, { exists: true, methodType: 'async' }]))
    return {
      compatible: true,
      store: 'keyvStorage',
      expires: true,
      methods: methods as KeyshardStoreCapabilities['methods'],
    }
  }

  /** @param expires absolute expiry in ms since the epoch; one already past deletes the key. */
  async set(key: string, value: unknown, expires?: number): Promise<boolean> {
    const view = await this.view()
    const ttl = ttlUntil(expires)
    if (ttl === 0) {
      await view.delete(this.userKey(key))
      return true
    }
    await view.set(this.userKey(key), value, { ttl })
    return true
  }

  async setMany<Value>(entries: Array<{ key: string; value: Value; expires?: number }>): Promise<boolean[]> {
    const view = await this.view()
    const live = entries.filter((e) => ttlUntil(e.expires) !== 0)
    const expired = entries.filter((e) => ttlUntil(e.expires) === 0)
    await Promise.all([
      view.setMany(live.map((e) => ({ key: this.userKey(e.key), value: e.value, ttl: ttlUntil(e.expires) }))),
      expired.length > 0 ? view.deleteMany(expired.map((e) => this.userKey(e.key))) : undefined,
    ])
    return entries.map(() => true)
  }

  async deleteMany(keys: string[]): Promise<boolean[]> {
    return (await this.view()).deleteMany(keys.map((k) => this.userKey(k)))
  }

  /** Keyv 6 does not prefix keys for a store that owns its namespace, so keys are used as given. */
  protected override userKey(key: string): string {
    return key
  }

  async *iterator<Value>(): AsyncGenerator<[string, Value], void> {
    for await (const [key, value] of this.entries()) yield [key, value as Value]
  }
}

/** Remaining ms until `expires`: `null` for no expiry, `0` when already past. */
function ttlUntil(expires: number | undefined): number | null {
  if (typeof expires !== 'number' || !Number.isFinite(expires)) return null
  const remaining = Math.ceil(expires - Date.now())
  return Math.max(0, remaining)
}
