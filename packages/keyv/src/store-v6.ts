import { coreTtl, EXPIRED, KeyshardStoreBase, type Lane } from './store.js'

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

  /**
   * Keyv 6 has no default namespace and reads the store's when it has none of its own (`keyv.namespace`,
   * hooks), so this is the namespace the store writes to, not only the one Keyv gave.
   */
  override get namespace(): string | undefined {
    return this.namespaceName
  }

  override set namespace(value: string | undefined) {
    super.namespace = value
  }

  /** @param expires absolute expiry in ms since the epoch; one already past deletes the key. */
  async set(key: string, value: unknown, expires?: number): Promise<boolean> {
    const view = this.viewNow() ?? (await this.view())
    const ttl = ttlUntil(expires)
    if (ttl === EXPIRED) {
      await view.delete(this.userKey(key))
      return true
    }
    await view.set(this.userKey(key), value, { ttl })
    return true
  }

  async setMany<Value>(entries: Array<{ key: string; value: Value; expires?: number }>): Promise<boolean[]> {
    // One clock reading per entry: with more, an entry at the edge of expiry could be both written and
    // deleted, or written with a ttl of 0, which the core refuses for the whole batch.
    await this.setEntries(entries.map((e) => ({ key: e.key, value: e.value, ttl: ttlUntil(e.expires) })))
    return entries.map(() => true)
  }

  async deleteMany(keys: string[]): Promise<boolean[]> {
    return this.perLane(keys, (view, userKeys) => view.deleteMany(userKeys))
  }

  /** Keyv 6 does not prefix keys for a store that owns its namespace, so keys are used as given. */
  protected override userKey(key: string, _lane?: Lane): string {
    return key
  }

  /** Keys arrive bare, so they all belong to the namespace set last. */
  protected override keysCarryNamespace(): boolean {
    return false
  }

  async *iterator<Value>(): AsyncGenerator<[string, Value], void> {
    for await (const [key, value] of this.entries()) yield [key, value as Value]
  }
}

/** The core TTL until `expires`: `null` for no expiry, {@link EXPIRED} when already past, else {@link coreTtl}. */
function ttlUntil(expires: number | undefined): number | null {
  if (typeof expires !== 'number' || !Number.isFinite(expires)) return null
  const remaining = expires - Date.now()
  return remaining <= 0 ? EXPIRED : coreTtl(remaining)
}
