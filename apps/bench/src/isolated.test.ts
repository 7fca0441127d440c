import { afterEach, describe, expect, it } from 'vitest'
import { IsolatedContender, startAll } from './isolated.js'

const FIXTURE = new URL('./isolated.fixture.ts', import.meta.url).href
const env = {
  standalone: '127.0.0.1:1',
  cluster: [],
  quick: true,
  load: { concurrency: 2, durationMs: 50, warmupMs: 10, rounds: 1 },
}
const load = { concurrency: 2, durationMs: 50, warmupMs: 10 }
const started: IsolatedContender[] = []
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
    await expect(live[0]?.run('no-such-op', load)).rejects.toThrow("no op 'no-such-op'")
  })
})
