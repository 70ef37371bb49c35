// A benchmarked server in its own process: `node server.js <variant> <http|ws>`, forked by child.ts.
// It tells the parent its port and how long it took to start, and answers the parent's questions over IPC.
import type { AddressInfo } from 'node:net'
import { build, variants, type VariantName } from './servers'

export type Question = 'usage' | 'heap' | 'exit'

export type Answer =
  | { type: 'ready', port: number, startup: Startup }
  | { type: 'usage', cpu: number, wall: number, clock: number }
  | { type: 'heap', heapUsed: number }

async function main (): Promise<void> {
  const [name, mode] = process.argv.slice(2)
  if (!(name in variants) || (mode !== 'http' && mode !== 'ws')) {
    throw new Error(`usage: server.js <${Object.keys(variants).join('|')}> <http|ws>`)
  }
  // With --expose-gc, the heap the app takes too: after a full GC, less the same before it was built.
  const heapBefore = gcExposed() ? heapAfterGc() : NaN
  const started = performance.now()
  const app = await build(name as VariantName, mode)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const startup = { ms: performance.now() - started, heap: gcExposed() ? heapAfterGc() - heapBefore : NaN }
  answer({ type: 'ready', port: (app.server.address() as AddressInfo).port, startup })

  process.on('message', (question: Question) => {
    if (question === 'usage') {
      // CPU time this process used and the wall clock, both in seconds: the parent takes differences.
      // `clock` is the monotonic clock in µs, the one --cpu-prof stamps its samples with.
      const { user, system } = process.cpuUsage()
      answer({ type: 'usage', cpu: (user + system) / 1e6, wall: performance.now() / 1e3, clock: Number(process.hrtime.bigint() / 1000n) })
    } else if (question === 'heap') {
      answer({ type: 'heap', heapUsed: heapAfterGc() })
    } else if (question === 'exit') {
      // A normal exit, so that --cpu-prof writes its profile.
      process.exit(0)
    }
  })
  // The parent is gone: so is this benchmark.
  process.on('disconnect', () => process.exit(0))
}

/** From building the app to listening: milliseconds, and the heap it took (NaN without --expose-gc). */
export interface Startup {
  ms: number
  heap: number
}

function gcExposed (): boolean {
  return typeof (globalThis as { gc?: unknown }).gc === 'function'
}

function heapAfterGc (): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('the heap is measured with --expose-gc')
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

function answer (message: Answer): void {
  process.send?.(message)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
