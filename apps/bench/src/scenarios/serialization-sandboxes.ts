import { isDeepStrictEqual } from 'node:util'
import type { Sandbox, SandboxFactory } from '../sandbox.js'

/** Calls per measured op, so that the harness's per-op bookkeeping is a small part of what is timed. */
export const CALLS_PER_OP = 100

const row = (i: number, name = `name-${i}`) => ({
  id: i,
  name,
  email: `user${i}@example.com`,
  active: i % 2 === 0,
  score: i * 1.5,
})

/** The values of the README's table, each as Keyv hands it to its serializer: `{ value, expires }`. */
export const SHAPES: Record<string, () => unknown> = {
  '1 KiB object (`id`, `name`, `tags`, 900-char `body`)': () => ({
    id: 1,
    name: 'Ada',
    tags: ['a', 'b'],
    body: 'x'.repeat(900),
  }),
  '20 rows of 5 fields (1.6 KiB)': () => Array.from({ length: 20 }, (_, i) => row(i)),
  '50 keys (0.6 KiB)': () => Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`key${i}`, i * 1000])),
  'a short string': () => 'hello, world',
  "1 KiB Buffer (Keyv's path)": () => Buffer.alloc(1024, 7),
  '20 rows, a `::` string in the last one (worst case)': () =>
    Array.from({ length: 20 }, (_, i) => row(i, i === 19 ? '::name' : `name-${i}`)),
}

export const DIRECTIONS = [
  'Keyv 5 serialize',
  'Keyv 5 deserialize',
  'Keyv 6 stringify',
  'Keyv 6 parse',
] as const

export const opName = (shape: string, direction: string): string => `${shape} / ${direction}`

const entry = (shape: string) => ({ value: (SHAPES[shape] as () => unknown)(), expires: 1_800_000_000_000 })

export interface Serializers {
  serialize5(data: unknown): string
  deserialize5(text: string): unknown
  stringify6(data: unknown): string
  parse6(text: string): unknown
}

/**
 * Each of `shapes` × each direction as an op calling `side`'s serializer `CALLS_PER_OP` times on the same input;
 * reads get the text `reference` writes (`side`'s own without one). With a `reference`, throws if `side` writes
 * other text or reads other values.
 */
export function serializationSandbox(
  side: Serializers,
  reference?: Serializers,
  shapes: readonly string[] = Object.keys(SHAPES),
): Sandbox {
  const ops: Sandbox['ops'] = {}
  let sink: unknown
  for (const shape of shapes) {
    const data = entry(shape)
    const text5 = (reference ?? side).serialize5(data)
    const text6 = (reference ?? side).stringify6(data)
    const calls: Record<(typeof DIRECTIONS)[number], () => unknown> = {
      'Keyv 5 serialize': () => side.serialize5(data),
      'Keyv 5 deserialize': () => side.deserialize5(text5),
      'Keyv 6 stringify': () => side.stringify6(data),
      'Keyv 6 parse': () => side.parse6(text6),
    }
    // The two sides must do the same work: the same text out, the same value back.
    const same =
      reference === undefined ||
      (side.serialize5(data) === text5 &&
        side.stringify6(data) === text6 &&
        isDeepStrictEqual(side.deserialize5(text5), reference.deserialize5(text5)) &&
        isDeepStrictEqual(side.parse6(text6), reference.parse6(text6)))
    if (!same) throw new Error(`output differs from Keyv's own for '${shape}'`)
    for (const direction of DIRECTIONS) {
      const call = calls[direction]
      ops[opName(shape, direction)] = async () => {
        for (let i = 0; i < CALLS_PER_OP; i++) sink = call()
        return sink
      }
    }
  }
  return { ops, close: async () => {} }
}

/** Keyv's own defaults: `@keyv/serialize` for Keyv 5, `KeyvJsonSerializer` for Keyv 6. */
async function keyvDefaults(): Promise<Serializers> {
  const [{ defaultSerialize, defaultDeserialize }, { KeyvJsonSerializer }] = await Promise.all([
    import('@keyv/serialize'),
    import('keyv6'),
  ])
  const json6 = new KeyvJsonSerializer()
  return {
    serialize5: defaultSerialize,
    deserialize5: defaultDeserialize,
    stringify6: (data) => json6.stringify(data),
    parse6: (text) => json6.parse(text),
  }
}

export const sandboxes: Record<string, SandboxFactory> = {
  "Keyv's default": async () => serializationSandbox(await keyvDefaults()),
  '@keyshard/keyv': async () => {
    // @keyshard/keyv imports @keyv/serialize itself and a Keyv 6 app has Keyv 6 loaded, so checking against
    // them adds no library to this process.
    const [{ keyvSerialize, keyvDeserialize, fastKeyv6Serialization }, { KeyvJsonSerializer }, defaults] =
      await Promise.all([import('@keyshard/keyv'), import('keyv6'), keyvDefaults()])
    const fast6 = fastKeyv6Serialization(new KeyvJsonSerializer())
    return serializationSandbox(
      {
        serialize5: keyvSerialize,
        deserialize5: keyvDeserialize,
        stringify6: (data) => fast6.stringify(data),
        parse6: (text) => fast6.parse(text),
      },
      defaults,
    )
  },
}
