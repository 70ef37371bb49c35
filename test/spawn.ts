import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

export const root = join(__dirname, '..')

/** Whether `npm run build` ran: the package and example tests run what a user runs, the built files. */
export function built (): boolean {
  return existsSync(join(root, 'dist', 'lib', 'index.mjs')) && existsSync(join(root, 'dist', 'example', 'server.js'))
}

/**
 * Node, from the project root, as a user would run it. Without NODE_V8_COVERAGE:
 * the built files are not the source the coverage gate measures.
 */
export function node (args: string[], env: Record<string, string> = {}): ChildProcess {
  const { NODE_V8_COVERAGE: _, NODE_OPTIONS: __, ...inherited } = process.env
  return spawn(process.execPath, args, { cwd: root, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
}

export function output (child: ChildProcess): Promise<{ code: number | null, stdout: string, stderr: string }> {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk })
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk })
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })))
}
