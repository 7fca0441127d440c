export { type CreateKeyvOptions, createKeyv, isKeyv6Class, type KeyvClass } from './create-keyv.js'
export {
  fastKeyv6Serialization,
  type KeyvSerializationAdapter,
  keyvDeserialize,
  keyvSerialize,
} from './keyv-serialization.js'
export {
  DEFAULT_NAMESPACE,
  KeyshardStore,
  KeyshardStoreBase,
  type KeyshardStoreOptions,
  type KeyshardStoreSource,
} from './store.js'
export { type KeyshardStoreCapabilities, KeyshardStoreV6 } from './store-v6.js'
