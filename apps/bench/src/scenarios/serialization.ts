import type { BenchEnv } from '../env.js'
import { compare, type LoadResult } from '../harness.js'
import { comparisonLoad, isolationNote, notRun, startAll } from '../isolated.js'
import type { Section } from '../report.js'
import { CALLS_PER_OP, DIRECTIONS, opName, SHAPES, sandboxes } from './serialization-sandboxes.js'

const SANDBOXES = new URL('./serialization-sandboxes.ts', import.meta.url).href
const KEYV = "Keyv's default"
const KEYSHARD = '@keyshard/keyv'

export interface SerializationRow {
  shape: string
  direction: string
  name: string
  result: LoadResult
  /** Wall-clock ns per serializer call, from the median round. */
  nsPerCall: number
}

const nsPerCall = (r: LoadResult): number =>
  r.error === undefined && r.opsPerSec > 0 ? 1e9 / (r.opsPerSec * CALLS_PER_OP) : Number.NaN

function cell(keyv: SerializationRow | undefined, mine: SerializationRow | undefined): string {
  if (keyv?.result.error !== undefined) return `fails: ${keyv.result.error}`
  if (mine?.result.error !== undefined) return `fails: ${mine.result.error}`
  if (keyv === undefined || mine === undefined) return '-'
  const fmt = (ns: number) => Math.round(ns).toLocaleString('en-US')
  const ratio = keyv.nsPerCall / mine.nsPerCall
  return `${fmt(keyv.nsPerCall)} → ${fmt(mine.nsPerCall)} (${ratio.toFixed(ratio < 1 ? 2 : 1)}×)`
}

/**
 * Keyv's default serializers against @keyshard/keyv's (`keyvSerialize` / `keyvDeserialize`,
 * `fastKeyv6Serialization`), the table of the keyv README's Serialization section. No server is involved.
 */
export async function serializationBench(
  env: BenchEnv,
): Promise<{ section: Section; rows: SerializationRow[] }> {
  const rows: SerializationRow[] = []
  const load = comparisonLoad(env, {
    concurrency: 1,
    durationMs: env.quick ? 150 : 400,
    warmupMs: env.quick ? 50 : 150,
  })
  const { live, failed } = await startAll(SANDBOXES, Object.keys(sandboxes), env, 'standalone')
  try {
    for (const shape of Object.keys(SHAPES)) {
      for (const direction of DIRECTIONS) {
        const op = opName(shape, direction)
        for (const [name, error] of failed)
          rows.push({ shape, direction, name, result: notRun(error), nsPerCall: Number.NaN })
        const results = await compare(
          live.map((c) => c.contender(op)),
          load,
        )
        for (const c of live) {
          const result = results.get(c.name) as LoadResult
          rows.push({ shape, direction, name: c.name, result, nsPerCall: nsPerCall(result) })
        }
      }
    }
  } finally {
    await Promise.all(live.map((c) => c.close()))
  }
  const table = Object.keys(SHAPES).map((shape) => [
    shape,
    ...DIRECTIONS.map((direction) => {
      const find = (name: string) =>
        rows.find((r) => r.shape === shape && r.direction === direction && r.name === name)
      return cell(find(KEYV), find(KEYSHARD))
    }),
  ])
  return {
    rows,
    section: {
      title: "Keyv serialization: Keyv's default vs @keyshard/keyv",
      notes: [
        `${isolationNote(env)} ns per call (wall clock, one caller, ${CALLS_PER_OP} calls per op), ${load.warmupMs} ms warm-up, ${load.durationMs} ms measured, Keyv's default → Keyshard's (Keyv's ÷ Keyshard's).`,
        "Values as Keyv hands them to its serializer (`{ value, expires }`). Keyv 5: `@keyv/serialize`'s `defaultSerialize` / `defaultDeserialize` against `keyvSerialize` / `keyvDeserialize`; Keyv 6: `KeyvJsonSerializer` against `fastKeyv6Serialization(new KeyvJsonSerializer())`. Each Keyshard sandbox first checks that its text and values equal Keyv's for every value, and fails otherwise.",
      ],
      header: ["value (Keyv's `{ value, expires }`)", ...DIRECTIONS],
      rows: table,
    },
  }
}
