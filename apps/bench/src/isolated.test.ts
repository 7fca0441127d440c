import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { type ContenderGroup, IsolatedContender, startAll } from './isolated.js'

const FIXTURE = new URL('./isolated.fixture.ts', import.meta.url).href
const env = {
  standalone: '127.0.0.1:1',
  cluster: [],
  quick: true,
  load: { concurrency: 2, durationMs: 50, warmupMs: 10, rounds: 1 },
  processes: 1,
}
const load = { concurrency: 2, durationMs: 50, warmupMs: 10 }
// Read by the fixture's 'flaky' sandbox in the child processes, which inherit this environment.
const flakyPids = join(mkdtempSync(join(tmpdir(), 'bench-isolated-')), 'pids')
process.env.FLAKY_PIDS = flakyPids
const started: Array<IsolatedContender | ContenderGroup> = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((c) => c.close()))
})

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('IsolatedContender', () => {
  it('runs the sandbox in a process of its own and measures its ops there', async () => {
    const contender = await IsolatedContender.start(FIXTURE, 'counter', env, 'standalone')
    started.push(contender)
    const result = await contender.run('tick', load)
    expect(result.error).toBeUndefined()
    expect(result.ops).toBeGreaterThan(0)
    const { calls, pid } = await contender.counters()
    expect(pid).not.toBe(process.pid)
    // runLoad also makes one unmeasured call and a warm-up phase, all in the child.
    expect(calls).toBeGreaterThan(result.ops)
    await contender.close()
    expect(alive(pid as number)).toBe(false)
    await expect(contender.run('tick', load)).rejects.toThrow(/exited/)
  })

  it('reports a sandbox that cannot be built with its own error and leaves no process behind', async () => {
    const { live, failed } = await startAll(FIXTURE, ['broken', 'counter'], env, 'standalone')
    started.push(...live)
    expect(failed).toEqual(new Map([['broken', 'cannot connect to the peer']]))
    expect(live.map((c) => c.name)).toEqual(['counter'])
    await expect(live[0]?.contender('no-such-op').run(load)).rejects.toThrow("no op 'no-such-op'")
  })

  it('runs a group of processes per sandbox, each round in the next one, and sums their counters', async () => {
    const { live } = await startAll(FIXTURE, ['counter'], { ...env, processes: 3 }, 'standalone')
    started.push(...live)
    const group = live[0] as ContenderGroup
    expect(group.members).toHaveLength(3)
    const contender = group.contender('tick')
    const rounds = [await contender.run(load), await contender.run(load), await contender.run(load)]
    const perProcess = await Promise.all(group.members.map((m) => m.counters()))
    expect(new Set(perProcess.map((c) => c.pid)).size).toBe(3)
    // Every process ran one round: more calls than its measured ops (the unmeasured call and the warm-up).
    for (const [i, c] of perProcess.entries())
      expect(c.calls).toBeGreaterThan(rounds[i]?.ops ?? Number.POSITIVE_INFINITY)
    const total = perProcess.reduce((sum, c) => sum + (c.calls ?? 0), 0)
    expect((await group.counters()).calls).toBe(total)
    await group.close()
    for (const c of perProcess) expect(alive(c.pid as number)).toBe(false)
  })

  it('stops the processes already started when a later one of the group cannot be built', async () => {
    const { live, failed } = await startAll(FIXTURE, ['flaky'], { ...env, processes: 3 }, 'standalone')
    started.push(...live)
    expect(live).toEqual([])
    expect(failed.get('flaky')).toBe('second process refused')
    const pids = readFileSync(flakyPids, 'utf8').trim().split('\n').map(Number)
    expect(pids).toHaveLength(2)
    for (const pid of pids) expect(alive(pid)).toBe(false)
  })
})
