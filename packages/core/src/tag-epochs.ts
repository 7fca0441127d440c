import { randomBytes } from 'node:crypto'
import { KeyshardError } from './errors.js'
import { notWellFormed } from './keys.js'
import type { Store } from './store/store.js'

/** A tag as recorded in an entry: the tag and the epoch it had when the entry was written. */
export interface TagEpoch {
  tag: string
  epoch: string
}

/**
 * Tags are versioned, not indexed. Each (namespace, tag) has one epoch key holding a random token; an entry
 * records the token of each of its tags when written, and is valid only while every token still matches.
 *
 * - Invalidating a tag deletes its epoch key: one UNLINK whatever the number of tagged entries.
 * - A read checks all the tags of all the entries it fetched with one MGET per node.
 * - A missing epoch never matches, so an entry whose epoch expired or was evicted reads as a miss (the safe
 *   direction). Epoch keys are kept alive at least as long as the longest-lived entry that uses them, and
 *   expire after it: no bookkeeping outlives its entries.
 * - Tokens are random, never counters, so an epoch key that expired and was recreated can never coincide with
 *   a token an old entry still carries — and no comparison depends on any clock.
 * - A write racing an invalidation either read the epoch before the delete (its entry carries a dead token and
 *   is never served) or after it (the write happened after the invalidation began): no stale entry survives.
 */
export class TagEpochs {
  /** Epoch keys outlive their entries by this margin, so clock drift between shards can only cause a miss. */
  static readonly LIFETIME_MARGIN_MS = 60_000
  static readonly MAX_TAG_BYTES = 1024

  readonly #store: Store
  readonly #prefix: string

  constructor(store: Store, prefix: string) {
    this.#store = store
    this.#prefix = prefix
  }

  /** `${prefix}__t:${namespace}:${tag}`; namespaces may not start with `__`, so this never meets a user key. */
  epochKey(namespace: string, tag: string): string {
    return `${this.#prefix}__t:${namespace}:${tag}`
  }

  /** SCAN pattern of every epoch key of one namespace (already escaped by the caller's helper). */
  epochPattern(escapedPrefix: string, escapedNamespace: string): string {
    return `${escapedPrefix}__t:${escapedNamespace}:*`
  }

  static validateTags(tags: readonly unknown[] | undefined): string[] {
    if (tags === undefined) return []
    if (!Array.isArray(tags)) {
      throw new KeyshardError('ERR_KEY', 'tags must be an array of non-empty strings', { details: { tags } })
    }
    const unique = new Set<string>()
    for (const tag of tags) {
      if (typeof tag !== 'string' || tag.length === 0) {
        throw new KeyshardError(
          'ERR_KEY',
          `Invalid tag ${JSON.stringify(tag)}: tags must be non-empty strings`,
          {
            details: { tag },
          },
        )
      }
      if (!tag.isWellFormed()) throw notWellFormed('ERR_KEY', 'A tag', { tag: tag.slice(0, 64) })
      if (Buffer.byteLength(tag) > TagEpochs.MAX_TAG_BYTES) {
        throw new KeyshardError('ERR_KEY', `A tag is longer than ${TagEpochs.MAX_TAG_BYTES} bytes`, {
          details: { tag: tag.slice(0, 64) },
        })
      }
      unique.add(tag)
    }
    return [...unique]
  }

  /**
   * The current epoch of each tag, creating missing ones, and keeping each alive for at least `entryTtlMs`
   * plus the margin (`null`: as long as the entry, i.e. no expiry).
   */
  async ensure(
    namespace: string,
    tags: readonly string[],
    entryTtlMs: number | null,
    timeoutMs: number,
  ): Promise<TagEpoch[]> {
    if (tags.length === 0) return []
    const keys = tags.map((tag) => this.epochKey(namespace, tag))
    const candidates = tags.map(() => randomBytes(9).toString('base64url'))
    const lifetime = entryTtlMs === null ? null : entryTtlMs + TagEpochs.LIFETIME_MARGIN_MS
    const epochs = await this.#store.ensureEpochs(keys, candidates, lifetime, { timeoutMs })
    return tags.map((tag, i) => ({ tag, epoch: epochs[i] as string }))
  }

  /**
   * Which of the given tag lists are still current. All distinct epoch keys are read in one batch, so a read of
   * many entries with many tags costs one extra round trip per node.
   */
  async areCurrent(
    namespace: string,
    lists: ReadonlyArray<readonly TagEpoch[]>,
    timeoutMs: number,
  ): Promise<boolean[]> {
    const distinct = new Map<string, number>()
    const keys: string[] = []
    for (const list of lists) {
      for (const { tag } of list) {
        const key = this.epochKey(namespace, tag)
        if (!distinct.has(key)) {
          distinct.set(key, keys.length)
          keys.push(key)
        }
      }
    }
    if (keys.length === 0) return lists.map(() => true)
    const current = await this.#store.readEpochs(keys, { timeoutMs })
    return lists.map((list) =>
      list.every(
        ({ tag, epoch }) => current[distinct.get(this.epochKey(namespace, tag)) as number] === epoch,
      ),
    )
  }

  async invalidate(namespace: string, tags: readonly string[], timeoutMs: number): Promise<void> {
    if (tags.length === 0) return
    await this.#store.delete(
      tags.map((tag) => this.epochKey(namespace, tag)),
      { timeoutMs },
    )
  }
}
