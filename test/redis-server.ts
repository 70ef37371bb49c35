// A real redis-server for the tests that share state through Redis (CI installs it). No skipping:
// without redis-server these tests fail, saying how to install it.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import type { Test } from 'tap'

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

/** Starts `redis-server` on a free port, stopped when `t` ends; resolves with the port once it accepts connections. */
export async function startRedis (t: Test): Promise<number> {
  const port = await freePort()
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = once(server, 'exit')
  t.teardown(async () => {
    // Never spawned (ENOENT) or already gone: nothing to stop.
    if (server.pid === undefined || server.exitCode !== null || server.signalCode !== null) return
    server.kill()
    await exited
  })
  let output = ''
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'ENOENT'
        ? new Error('redis-server is not installed, and this test runs against against a real one: install it (apt-get install -y redis-server, or brew install redis); CI installs it')
        : error)
    })
    server.stdout.setEncoding('utf8')
    server.stdout.on('data', (chunk: string) => {
      output += chunk
      if (output.includes('Ready to accept connections')) resolve()
    })
    server.once('exit', (code) => { reject(new Error(`redis-server exited (${code}) before it was ready:\n${output}`)) })
  })
  return port
}
