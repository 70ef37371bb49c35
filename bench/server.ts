// One benchmarked server in a process of its own: `node server.js <app>`, forked by load.ts. It
// sends its port and the CPU time it took to start (from building the app to listening: wall time
// would count whatever else the machine did meanwhile), then answers `usage` with the CPU seconds it has used.
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { apps, type AppName } from './apps'

export type Message = { type: 'ready', port: number, startupMs: number } | { type: 'usage', cpu: number }

async function main (): Promise<void> {
  const name = process.argv[2]
  if (!(name in apps)) throw new Error(`usage: server.js <${Object.keys(apps).join('|')}>`)
  const cpuMs = (): number => {
    const { user, system } = process.cpuUsage()
    return (user + system) / 1000
  }
  const started = cpuMs()
  const app = Fastify({ logger: false })
  await apps[name as AppName](app)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const send = (message: Message): boolean | undefined => process.send?.(message)
  send({ type: 'ready', port: (app.server.address() as AddressInfo).port, startupMs: cpuMs() - started })
  process.on('message', () => send({ type: 'usage', cpu: cpuMs() / 1000 }))
  process.on('disconnect', () => process.exit(0))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
