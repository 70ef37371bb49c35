import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import authentication, { requires } from '../../lib/index'
import { basic, basicAuth, handshake, listen } from '../helpers'

// Stress: 10,000 refused WebSocket upgrades at 100 concurrent: every one answered 403, no socket
// left open, the heap back near its start, and an authorized client still connects.
// Run with `npm run test:stress` (FASTIFY_AUTHENTICATION_STRESS=1, node --expose-gc).
const enabled = process.env.FASTIFY_AUTHENTICATION_STRESS === '1'
const TOTAL = Number(process.env.STRESS_HANDSHAKES ?? 10_000)
const CONCURRENCY = Number(process.env.STRESS_CONCURRENCY_WS ?? 100)
const WARM_UP = 500
const TIME_LIMIT_MS = 300_000
const HEAP_SLACK_BYTES = 8 * 1024 * 1024

const gc = (globalThis as { gc?: () => void }).gc

function refused (url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers, handshakeTimeout: 10_000 })
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

async function drained (server: Parameters<typeof connections>[0]): Promise<number> {
  let count = await connections(server)
  for (let i = 0; i < 250 && count > 0; i++) {
    await sleep(20)
    count = await connections(server)
  }
  return count
}

const sockets = (): number => process.getActiveResourcesInfo().filter((type) => type === 'TCPSocketWrap').length

async function heapAfterGc (): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc?.()
    await sleep(50)
  }
  return process.memoryUsage().heapUsed
}

t.test(`${TOTAL} refused WebSocket upgrades at ${CONCURRENCY} concurrent`, { skip: !enabled && 'stress test: npm run test:stress' }, async (t) => {
  t.equal(typeof gc, 'function', 'gc is exposed (node --expose-gc, as npm run test:stress does)')
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
  const attempts: Array<[string, Record<string, string>]> = [
    ['/ws', {}],
    ['/ws', { authorization: 'Basic !!!' }],
    ['/admin', { authorization: basic('eve') }],
    ['/browser', { authorization: basic('eve') }],
    ['/browser', {}]
  ]
  const deadline = Date.now() + TIME_LIMIT_MS
  const flood = async (total: number): Promise<Map<number, number>> => {
    const statuses = new Map<number, number>()
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < total && Date.now() < deadline) {
        const [path, headers] = attempts[next++ % attempts.length]
        const status = await refused(ws + path, headers)
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    return statuses
  }

  // Warm up (JIT, pools, lazily built things), then measure from there.
  t.same([...await flood(WARM_UP)], [[403, WARM_UP]], 'warm-up handshakes refused with 403')
  t.equal(await drained(app.server), 0, 'no socket left open after the warm-up')
  const socketsBefore = sockets()
  const heapBefore = await heapAfterGc()

  const started = performance.now()
  const statuses = await flood(TOTAL)
  const seconds = (performance.now() - started) / 1000
  t.same([...statuses], [[403, TOTAL]], `every one of the ${TOTAL} handshakes was refused with 403 (${Math.round(TOTAL / seconds)}/s)`)
  t.equal(opened, 0, 'no WebSocket handler ran')
  t.equal(await drained(app.server), 0, 'no socket left open on the server')
  for (let i = 0; i < 100 && sockets() > socketsBefore; i++) await sleep(20)
  t.ok(sockets() <= socketsBefore, `no socket left open on the client side (${sockets()} vs ${socketsBefore})`)
  const heapAfter = await heapAfterGc()
  const growth = heapAfter - heapBefore
  t.comment(`heap: ${(heapBefore / 1e6).toFixed(1)} MB before, ${(heapAfter / 1e6).toFixed(1)} MB after (${(growth / 1e6).toFixed(2)} MB)`)
  t.ok(growth < HEAP_SLACK_BYTES, `heap back near its start (grew ${(growth / 1e6).toFixed(2)} MB, limit ${HEAP_SLACK_BYTES / 1e6} MB)`)
  t.same(await handshake(ws + '/ws', { authorization: basic('tom') }), { opened: true, message: 'tom' }, 'an authorized client still connects')
})
