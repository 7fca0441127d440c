import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startCluster, startServer } from '@keyshard/testkit'
import type { BenchEnv } from './env.js'
import { describeError } from './harness.js'
import { renderSection, type Section } from './report.js'
import { l1Coherence } from './scenarios/coherence.js'
import { coreVsRaw } from './scenarios/core-vs-raw.js'
import { getOrSetHitPath } from './scenarios/get-or-set.js'
import { keyvBench } from './scenarios/keyv.js'
import { serializationBench } from './scenarios/serialization.js'
import { tagInvalidation } from './scenarios/tags.js'

const SCENARIOS: Record<string, (env: BenchEnv) => Promise<{ section: Section; rows: unknown }>> = {
  core: coreVsRaw,
  tags: tagInvalidation,
  getorset: getOrSetHitPath,
  coherence: l1Coherence,
  keyv: keyvBench,
  serialization: serializationBench,
}

const USAGE = `Usage: pnpm bench [--quick] [--only core,tags,getorset,coherence,keyv,serialization]
                  [--duration ms] [--warmup ms] [--rounds n] [--processes n] [--concurrency n] [--out dir]`

/** A flag's value as a whole number of at least `min`, or `fallback` when absent; anything else stops the run. */
function wholeNumber(flag: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < min)
    throw new Error(`--${flag} takes a whole number ≥ ${min}, got '${value}'. ${USAGE}`)
  return n
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    // `pnpm bench -- --quick` forwards the separator itself; drop it so the flags after it still parse.
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      processes: { type: 'string' },
      concurrency: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(USAGE)
    return
  }
  const selected =
    values.only === undefined
      ? Object.keys(SCENARIOS)
      : values.only.split(',').map((s) => s.trim().toLowerCase())
  for (const s of selected) if (!(s in SCENARIOS)) throw new Error(`unknown scenario '${s}'. ${USAGE}`)
  const quick = values.quick
  const load = {
    concurrency: wholeNumber('concurrency', values.concurrency, 100, 1),
    durationMs: wholeNumber('duration', values.duration, quick ? 500 : 1500, 1),
    warmupMs: wholeNumber('warmup', values.warmup, quick ? 200 : 500, 0),
    rounds: wholeNumber('rounds', values.rounds, quick ? 1 : 2, 1),
  }
  const processes = wholeNumber('processes', values.processes, quick ? 1 : 3, 1)

  const t0 = performance.now()
  console.error('starting standalone server and 3×2 cluster…')
  const server = await startServer()
  const cluster = await startCluster({ masters: 3, replicasPerMaster: 1 })
  const env: BenchEnv = { standalone: server.address, cluster: cluster.seeds, quick, load, processes }
  const sections: Section[] = []
  const json: Record<string, unknown> = {}
  try {
    for (const name of selected) {
      const s0 = performance.now()
      console.error(`scenario ${name}…`)
      try {
        const { section, rows } = await (SCENARIOS[name] as (typeof SCENARIOS)[string])(env)
        sections.push(section)
        json[name] = rows
        console.log(renderSection(section))
      } catch (error) {
        const msg = `scenario ${name} failed: ${describeError(error)}`
        console.error(error)
        sections.push({
          title: `${name}: failed`,
          notes: [msg],
          header: ['error'],
          rows: [[describeError(error)]],
        })
        json[name] = { error: describeError(error) }
      }
      console.error(`  ${name} took ${((performance.now() - s0) / 1000).toFixed(1)} s`)
    }
  } finally {
    await cluster.stop()
    await server.stop()
  }
  const header = [
    '# Keyshard benchmarks — latest run',
    '',
    `Run ${new Date().toISOString()} on Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ` +
      `redis-server from the testkit (standalone + 3 masters × 1 replica on loopback), ${quick ? 'quick mode' : 'full mode'}, ` +
      `total ${((performance.now() - t0) / 1000).toFixed(0)} s. Client and servers share the same machine, so absolute numbers ` +
      'are low and noisy; compare ratios within one table (contenders are interleaved round by round) and the client CPU µs/op column, which does not depend on how much CPU the servers left the client.',
    '',
  ]
  const markdown = header.join('\n') + sections.map(renderSection).join('\n')
  const outDir = values.out ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'results')
  mkdirSync(outDir, { recursive: true })
  writeFileSync(join(outDir, 'latest.md'), markdown)
  writeFileSync(
    join(outDir, 'latest.json'),
    `${JSON.stringify({ date: new Date().toISOString(), quick, load, processes, results: json }, null, 2)}\n`,
  )
  console.error(`wrote ${join(outDir, 'latest.md')} and latest.json`)
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  },
)
