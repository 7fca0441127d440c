import type { LoadOptions } from './harness.js'
import { describeError, runLoad } from './harness.js'
import type { Request, Response } from './isolated.js'
import type { Sandbox, SandboxModule } from './sandbox.js'

// The child side of isolated.ts: builds one sandbox, then runs what the parent asks for, one request at a time.
let sandbox: Sandbox | undefined

async function handle(request: Request): Promise<unknown> {
  switch (request.type) {
    case 'setup': {
      const mod = (await import(request.module)) as SandboxModule
      const factory = mod.sandboxes[request.name]
      if (factory === undefined) throw new Error(`${request.module} has no sandbox '${request.name}'`)
      sandbox = await factory(request.env, request.topology)
      return null
    }
    case 'run': {
      const op = sandbox?.ops[request.op]
      if (op === undefined) throw new Error(`no op '${request.op}' in this sandbox`)
      return runLoad(op, request.opts as LoadOptions)
    }
    case 'counters':
      return sandbox?.counters?.() ?? {}
    case 'close':
      await sandbox?.close()
      sandbox = undefined
      return null
  }
}

process.on('message', (request: Request) => {
  handle(request).then(
    (value) => process.send?.({ id: request.id, ok: true, value } satisfies Response),
    (error: unknown) =>
      process.send?.({ id: request.id, ok: false, error: describeError(error) } satisfies Response),
  )
})
// The parent going away (or closing the channel) ends this process, so no contender outlives a bench run.
process.on('disconnect', () => process.exit(0))
