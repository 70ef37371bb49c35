// Starts a server variant in its own process, pinned to its own core, and talks to it over IPC.
import { fork, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Answer, Question, Startup } from './server'
import type { VariantName } from './servers'
import type { Mode } from './variant'

export const TASKSET = '/usr/bin/taskset'
/** The server's core; the load runs on core 0 (see run.ts). */
const SERVER_CORE = '1'
const START_TIMEOUT = 15_000
/**
 * Every server's young generation is 16 MB a semi-space from the start, V8's largest default.
 * Left to V8, it grows or not with what the app allocated while it started: the Set-based
 * scopes app got 16 MB and scavenged half as often per request as the plugin's, which stayed at
 * 8 MB (the same in every process), a difference of the two apps' startups, not of their requests.
 */
const NODE_FLAGS = ['--min-semi-space-size=16', '--max-semi-space-size=16']

export interface ServerOptions {
  /** Extra node flags for the server: --cpu-prof, --expose-gc… */
  nodeFlags?: string[]
  /** A command that runs node in the same process, like valgrind: its path and arguments, node's path after them. */
  wrapper?: string[]
  /** Milliseconds the server may take to start; START_TIMEOUT by default. */
  startTimeout?: number
}

export interface Server {
  readonly url: string
  readonly pid: number
  /** How long building the app and listening took, and (with --expose-gc) the heap it took. */
  readonly startup: Startup
  /** CPU seconds the server used so far, its clock in seconds, and its monotonic clock in µs. */
  usage (): Promise<{ cpu: number, wall: number, clock: number }>
  /** Heap used after a full GC, in bytes (needs --expose-gc). */
  heap (): Promise<number>
  exit (): Promise<void>
}

export function pinned (): boolean {
  return existsSync(TASKSET)
}

let snapshot: string | undefined
const ROOT = path.resolve(__dirname, '..', '..')

/**
 * The servers run from a copy of package.json, dist/lib and dist/bench made when the benchmark
 * starts: every round measures the same build, even if someone rebuilds dist/ meanwhile
 * (`rm -rf dist`). In the copy, `require('fastify-authentication')` still finds dist/lib (a
 * package's self-reference), and a link to the project's node_modules finds the rest, for
 * `require` and `import()` alike (`import()` ignores NODE_PATH).
 */
export function serverScript (): string {
  if (snapshot === undefined) {
    const copy = mkdtempSync(path.join(os.tmpdir(), 'fastify-authentication-bench-'))
    process.once('exit', () => rmSync(copy, { recursive: true, force: true }))
    for (const file of ['package.json', 'dist/lib', 'dist/bench']) {
      cpSync(path.join(ROOT, file), path.join(copy, file), { recursive: true })
    }
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'), 'dir')
    snapshot = copy
  }
  return path.join(snapshot, 'dist', 'bench', 'server.js')
}

export async function startServer (variant: VariantName, mode: Mode, options: ServerOptions = {}): Promise<Server> {
  const script = serverScript()
  // taskset (and the wrapper) exec node with the same arguments: the IPC channel fork sets up is inherited.
  // Under a wrapper (valgrind, which counts instructions, not time) the server may take either core.
  const pin = pinned() && options.wrapper === undefined
  const command = [...(pin ? [TASKSET, '-c', SERVER_CORE] : []), ...(options.wrapper ?? []), process.execPath, ...NODE_FLAGS, ...(options.nodeFlags ?? [])]
  const child = fork(script, [variant, mode], { execPath: command[0], execArgv: command.slice(1), stdio: 'inherit' })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const ready = await next(child, 'ready', options.startTimeout ?? START_TIMEOUT, `the ${variant} ${mode} server did not start`)
  const url = `${mode === 'ws' ? 'ws' : 'http'}://127.0.0.1:${ready.port}`
  return {
    url,
    pid: child.pid as number,
    startup: ready.startup,
    usage: () => ask(child, 'usage', `the ${variant} server did not report its CPU usage`),
    heap: async () => (await ask(child, 'heap', `the ${variant} server did not report its heap`)).heapUsed,
    async exit () {
      if (child.exitCode === null && child.signalCode === null) child.send('exit')
      const timer = setTimeout(() => child.kill(), 10_000)
      await exited
      clearTimeout(timer)
    }
  }
}

function ask<T extends Question & Answer['type']> (child: ChildProcess, question: T, failure: string): Promise<Extract<Answer, { type: T }>> {
  const answer = next(child, question, START_TIMEOUT, failure)
  child.send(question)
  return answer
}

/** The child's next message of this type; fails if it exits or stays silent. */
function next<T extends Answer['type']> (child: ChildProcess, type: T, timeout: number, failure: string): Promise<Extract<Answer, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => settle(new Error(failure)), timeout)
    const onMessage = (message: Answer): void => { if (message.type === type) settle(null, message) }
    const onExit = (): void => settle(new Error(failure))
    function settle (error: Error | null, message?: Answer): void {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
      if (error !== null) {
        if (child.exitCode === null) child.kill()
        reject(error)
      } else {
        resolve(message as Extract<Answer, { type: T }>)
      }
    }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}
