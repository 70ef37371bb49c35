// One benchmarked server in a process of its own: `node server.js <app>`, forked by load.ts. It
// sends its port and how long it took to start, then answers `usage` with the CPU seconds it has used.
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { apps, type AppName } from './apps'

export type Message = { type: 'ready', port: number, startupMs: number } | { type: 'usage', cpu: number }

async function main (): Promise<void> {
  const name = process.argv[2]
  if (!(name in apps)) throw new Error(`usage: server.js <${Object.keys(apps).join('|')}>`)
  const started = performance.now()
  const app = Fastify({ logger: false })
  await apps[name as AppName](app)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const send = (message: Message): boolean | undefined => process.send?.(message)
  send({ type: 'ready', port: (app.server.address() as AddressInfo).port, startupMs: performance.now() - started })
  process.on('message', () => {
    const { user, system } = process.cpuUsage()
    send({ type: 'usage', cpu: (user + system) / 1e6 })
  })
  process.on('disconnect', () => process.exit(0))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
