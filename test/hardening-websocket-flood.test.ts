import t from 'tap'
import { connect } from 'node:net'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { requires } from '../lib/index'
import { basicAuth, drained, listen } from './helpers'
import { refusedHandshakeFlood } from './load'

// A flood of refused WebSocket handshakes: each one gets 403, no socket stays open, and an
// authorized client still connects. The big version is test/stress/websocket-flood.ts.
const flood = { total: 500, concurrency: 50, warmUp: 50, timeLimitMs: 20_000 }

t.test(`${flood.total} refused handshakes at ${flood.concurrency} concurrent`, (t) => refusedHandshakeFlood(t, flood))

t.test('the server closes a refused handshake itself, even if the client does not', async (t) => {
  const app = Fastify()
  await app.register(websocket)
  await app.register(authentication, { backend: basicAuth })
  app.get('/ws', { websocket: true, preHandler: requires('authenticated') }, (socket) => { socket.send('hi') })
  const { ws } = await listen(app, t)
  const { hostname, port } = new URL(ws)
  const lazyClient = (): Promise<{ status: number, closedByServer: boolean }> => new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
    })
    let data = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => { data += chunk })
    // The client never ends or destroys the socket; only the server can close it.
    const timer = setTimeout(() => { socket.destroy(); resolve({ status: 0, closedByServer: false }) }, 3000)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0), closedByServer: true })
    })
    socket.on('error', () => {})
  })
  const results = await Promise.all(Array.from({ length: 50 }, lazyClient))
  t.same(results.filter((result) => result.status !== 403 || !result.closedByServer), [], 'all 50 refused with 403 and closed by the server')
  t.equal(await drained(app.server), 0, 'no socket left open')
})
