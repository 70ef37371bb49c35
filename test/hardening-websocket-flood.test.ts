import t from 'tap'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import authentication, { requires } from '../lib/index'
import { basic, basicAuth, handshake, listen } from './helpers'

// A flood of refused WebSocket handshakes: each one gets 403, no socket stays open, and an
// authorized client still connects. The big version is test/stress/websocket-flood.ts.
const TOTAL = 500
const CONCURRENCY = 50

/** A refused handshake with a real client: the status, once the client has let go of the socket. */
function refused (url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers, handshakeTimeout: 5000 })
    socket.on('upgrade', () => { socket.terminate(); resolve(101) })
    socket.on('unexpected-response', (request, response) => {
      response.resume()
      response.on('end', () => {
        request.destroy()
        resolve(response.statusCode ?? 0)
      })
    })
    socket.on('error', () => resolve(0))
  })
}

async function connections (server: { getConnections: (cb: (error: Error | null, count: number) => void) => void }): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((error, count) => error === null ? resolve(count) : reject(error)))
}

/** Polls (boundedly) until the server holds no connection; returns the last count. */
async function drained (server: Parameters<typeof connections>[0]): Promise<number> {
  let count = await connections(server)
  for (let i = 0; i < 100 && count > 0; i++) {
    await sleep(20)
    count = await connections(server)
  }
  return count
}

t.test(`${TOTAL} refused handshakes at ${CONCURRENCY} concurrent`, async (t) => {
  const app = Fastify()
  await app.register(websocket)
  await app.register(authentication, { backend: basicAuth })
  let opened = 0
  app.get('/ws', { websocket: true, preHandler: requires('authenticated') }, (socket, request) => {
    opened++
    socket.send(request.user.displayName)
  })
  app.get('/admin', { websocket: true, config: { requires: { scopes: 'admin', statusCode: 401 } } }, (socket) => {
    opened++
    socket.send('admin')
  })
  app.get('/browser', { websocket: true, config: { requires: { scopes: 'admin', redirect: '/login' } } }, (socket) => {
    opened++
    socket.send('browser')
  })
  const { ws } = await listen(app, t)

  // Anonymous, bad credentials (AuthenticationError), and a signed-in user without the scope.
  const attempts: Array<[string, Record<string, string>]> = [
    ['/ws', {}],
    ['/ws', { authorization: 'Basic !!!' }],
    ['/admin', { authorization: basic('eve') }],
    ['/browser', { authorization: basic('eve') }],
    ['/browser', {}]
  ]
  const statuses = new Map<number, number>()
  let next = 0
  const deadline = Date.now() + 20_000
  const worker = async (): Promise<void> => {
    while (next < TOTAL && Date.now() < deadline) {
      const [path, headers] = attempts[next++ % attempts.length]
      const status = await refused(ws + path, headers)
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))

  t.same([...statuses], [[403, TOTAL]], `every one of the ${TOTAL} handshakes was refused with 403`)
  t.equal(opened, 0, 'no WebSocket handler ran')
  t.equal(await drained(app.server), 0, 'no socket left open')
  t.same(await handshake(ws + '/ws', { authorization: basic('tom') }), { opened: true, message: 'tom' }, 'an authorized client still connects')
})

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
