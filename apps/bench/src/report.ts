import { type LoadResult, median } from './harness.js'

export interface Section {
  title: string
  /** Free text printed under the title: configuration, targets, caveats. */
  notes: string[]
  header: string[]
  rows: string[][]
}

export function fmtOps(r: LoadResult | undefined): string {
  if (r === undefined) return 'n/a'
  if (r.error !== undefined) return `fails: ${r.error.replace(/\|/g, '/')}`
  return Math.round(r.opsPerSec).toLocaleString('en-US')
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-'
  return ms < 1 ? ms.toFixed(3) : ms < 10 ? ms.toFixed(2) : ms.toFixed(1)
}

export function fmtRatio(value: number | undefined, baseline: number | undefined): string {
  if (value === undefined || baseline === undefined || value <= 0 || baseline <= 0) return '-'
  return `${(value / baseline).toFixed(2)}×`
}

/**
 * `mine` over `baseline` round by round, as "median (lowest–highest)". Round r of every contender ran back to back
 * (see `compare`), so a slow phase of the shared machine slows both sides of a pair, and these ratios show how far
 * the ratio of the two median rounds could have moved with it.
 */
export function fmtPairedRatio(mine: LoadResult | undefined, baseline: LoadResult | undefined): string {
  const a = mine?.roundsOpsPerSec
  const b = baseline?.roundsOpsPerSec
  if (a === undefined || b === undefined) return '-'
  const ratios: number[] = []
  for (let r = 0; r < Math.min(a.length, b.length); r++) {
    const x = a[r] as number
    const y = b[r] as number
    if (x > 0 && y > 0) ratios.push(x / y)
  }
  if (ratios.length === 0) return '-'
  const low = Math.min(...ratios)
  const high = Math.max(...ratios)
  return `${median(ratios).toFixed(2)}× (${low.toFixed(2)}–${high.toFixed(2)}×)`
}

/** A target check rendered as `met` / bold `missed`, so misses stand out in the tables. */
export function verdict(ok: boolean | undefined): string {
  return ok === undefined ? '-' : ok ? 'met' : '**missed**'
}

export function renderSection(s: Section): string {
  const lines = [`### ${s.title}`, '']
  for (const n of s.notes) lines.push(n)
  if (s.notes.length > 0) lines.push('')
  lines.push(`| ${s.header.join(' | ')} |`)
  lines.push(`|${s.header.map(() => '---').join('|')}|`)
  for (const r of s.rows) lines.push(`| ${r.join(' | ')} |`)
  lines.push('')
  return lines.join('\n')
}

export function fmtCpu(r: LoadResult | undefined): string {
  if (r === undefined || !Number.isFinite(r.cpuUsPerOp)) return '-'
  return r.cpuUsPerOp.toFixed(1)
}
