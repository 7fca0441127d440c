import { describe, expect, it } from 'vitest'
import type { BenchEnv } from '../env.js'
import {
  CALLS_PER_OP,
  DIRECTIONS,
  opName,
  SHAPES,
  type Serializers,
  sandboxes,
  serializationSandbox,
} from './serialization-sandboxes.js'

// The sandboxes never touch a server; the factories only need the argument.
const env = {} as BenchEnv

const plainJson: Serializers = {
  serialize5: (data) => JSON.stringify(data),
  deserialize5: (text) => JSON.parse(text),
  stringify6: (data) => JSON.stringify(data),
  parse6: (text) => JSON.parse(text),
}

describe('serialization sandboxes', () => {
  it('build for both sides, with an op per value and direction that returns what the serializer returned', async () => {
    for (const name of ["Keyv's default", '@keyshard/keyv']) {
      const sandbox = await (sandboxes[name] as (typeof sandboxes)[string])(env, 'standalone')
      expect(Object.keys(sandbox.ops)).toHaveLength(Object.keys(SHAPES).length * DIRECTIONS.length)
      const shape = '1 KiB object (`id`, `name`, `tags`, 900-char `body`)'
      const text = await sandbox.ops[opName(shape, 'Keyv 5 serialize')]?.(0)
      expect(typeof text).toBe('string')
      expect(JSON.parse(text as string).value.body).toHaveLength(900)
      const parsed = await sandbox.ops[opName(shape, 'Keyv 6 parse')]?.(0)
      expect(parsed).toMatchObject({ value: { id: 1, name: 'Ada' }, expires: 1_800_000_000_000 })
      await sandbox.close()
    }
  })

  it('calls the serializer CALLS_PER_OP times per op', async () => {
    let calls = 0
    const counting: Serializers = {
      ...plainJson,
      serialize5: (data) => {
        calls++
        return JSON.stringify(data)
      },
    }
    // Building calls serialize5 once per value for the equality check; the count starts after it.
    const sandbox = serializationSandbox(counting, plainJson, ['50 keys (0.6 KiB)'])
    calls = 0
    await sandbox.ops[opName('50 keys (0.6 KiB)', 'Keyv 5 serialize')]?.(0)
    expect(calls).toBe(CALLS_PER_OP)
  })

  it('refuses a side whose output differs from the reference, so a table never compares unequal work', () => {
    const shape = ['a short string']
    expect(() => serializationSandbox(plainJson, plainJson, shape)).not.toThrow()
    expect(() =>
      serializationSandbox({ ...plainJson, serialize5: (d) => `${JSON.stringify(d)} ` }, plainJson, shape),
    ).toThrow("output differs from Keyv's own for 'a short string'")
    expect(() =>
      serializationSandbox(
        { ...plainJson, parse6: (t) => ({ ...JSON.parse(t), expires: 0 }) },
        plainJson,
        shape,
      ),
    ).toThrow('output differs')
  })
})
