import { Keyv, type KeyvOptions } from 'keyv'
import {
  fastKeyv6Serialization,
  type KeyvSerializationAdapter,
  keyvDeserialize,
  keyvSerialize,
} from './keyv-serialization.js'
import { KeyshardStore, type KeyshardStoreOptions, type KeyshardStoreSource } from './store.js'
import { KeyshardStoreV6 } from './store-v6.js'

export interface CreateKeyvOptions extends KeyshardStoreOptions {
  /** Keyv's own options (ttl, namespace, serialization, hooks…); `store` is this adapter. */
  keyv?: Omit<KeyvOptions, 'store'> & Record<string, unknown>
}

/** Any Keyv class: the installed `keyv` by default; pass Keyv 6's class to get the Keyv 6 store. */
export type KeyvClass<K> = new (options: any) => K

/** Keyv 6 replaced `serialize`/`deserialize` with a `serialization` adapter; Keyv 5 has no such accessor. */
export function isKeyv6Class(KeyvCtor: KeyvClass<unknown>): boolean {
  return Object.getOwnPropertyDescriptor(KeyvCtor.prototype, 'serialization') !== undefined
}

/**
 * A ready Keyv over Keyshard: the cache is connected (or the promise rejects with the connection error) and
 * the store is Keyv's own, so cache-manager and `@nestjs/cache-manager` use it as-is. With CacheOptions the
 * store owns the cache and `keyv.disconnect()` closes it; with a Cache or Namespace the caller keeps it.
 * Values are written in Keyv's own format by {@link keyvSerialize} / {@link keyvDeserialize} (Keyv 5) or
 * {@link fastKeyv6Serialization} over Keyv 6's default serializer, unless `options.keyv` sets `serialize` /
 * `deserialize` / `serialization`.
 */
export async function createKeyv(source?: KeyshardStoreSource, options?: CreateKeyvOptions): Promise<Keyv>
export async function createKeyv<K>(
  source: KeyshardStoreSource | undefined,
  options: CreateKeyvOptions | undefined,
  KeyvCtor: KeyvClass<K>,
): Promise<K>
export async function createKeyv(
  source?: KeyshardStoreSource,
  options: CreateKeyvOptions = {},
  KeyvCtor: KeyvClass<unknown> = Keyv,
): Promise<unknown> {
  const { keyv: keyvOptions, ...storeOptions } = options
  const keyv6 = isKeyv6Class(KeyvCtor)
  const store = keyv6 ? new KeyshardStoreV6(source, storeOptions) : new KeyshardStore(source, storeOptions)
  // Spread first, so either key in the caller's options wins, even set to undefined (Keyv's own meaning).
  const serialization = keyv6 ? {} : { serialize: keyvSerialize, deserialize: keyvDeserialize }
  try {
    // Connected before Keyv exists, so a connection error is not emitted on a Keyv nobody listens to yet.
    await store.ready()
    const keyv = new KeyvCtor({ ...serialization, ...keyvOptions, store })
    if (store instanceof KeyshardStore) store.deserializeFor(keyv as { opts: object })
    // Keyv 6 builds its default serializer itself; the fast paths go in front of that one instance.
    if (keyv6 && !(keyvOptions !== undefined && 'serialization' in keyvOptions)) {
      const target = keyv as { serialization?: KeyvSerializationAdapter }
      if (target.serialization !== undefined)
        target.serialization = fastKeyv6Serialization(target.serialization)
    }
    // Keyv gives the store its namespace in its constructor; only now can Keyshard check that name.
    await store.ready()
    return keyv
  } catch (error) {
    await store.disconnect()
    throw error
  }
}
