export { Cache, createCache } from './cache.js'
export { type ResolvedCacheOptions, readEnvironment, resolveCacheOptions } from './config.js'
export { parseDuration } from './duration.js'
export { compression } from './encoders/compression.js'
export { msgpackEncoder } from './encoders/msgpack.js'
export { rawBufferEncoder, rawStringEncoder } from './encoders/raw.js'
export { richJsonEncoder } from './encoders/rich-json.js'
export {
  isKeyshardError,
  KeyshardError,
  type KeyshardErrorCode,
  type KeyshardErrorOptions,
} from './errors.js'
export type { CacheEventMap, CacheEventName, CacheListener, CacheTier } from './events.js'
export { type ComputeOptions, Namespace } from './namespace.js'
export type { CacheStats, LatencySummary } from './observability/stats.js'
export { MemoryBus, MemoryStore } from './store/memory-store.js'
export type {
  NodeHealth,
  PublishOptions,
  ScanPage,
  Store,
  StoreCommandOptions,
  StoreHealth,
  StoreKind,
  StoreSetEntry,
  StoreValue,
  StoreValueWithTtl,
} from './store/store.js'
export type { TagEpoch } from './tag-epochs.js'
export type * from './types.js'
