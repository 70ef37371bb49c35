import type { Test } from 'tap'
import { Agent } from 'node:http'
import Fastify, { type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, SimpleUser, requires } from '../lib/index'
import { basic, basicAuth, drained, get, handshake, listen, upgradeStatus } from './helpers'

// The load scenarios, one each, at whatever size: the normal suite runs them small
// (hardening-isolation, hardening-websocket-flood), `npm run test:stress` big (test/stress/).

export interface Load {
  total: number
  concurrency: number
  /** No new request starts after this: a stuck server fails the test instead of stalling it. */
  timeLimitMs: number
}

/** What the stress scripts measure around the load (heap, sockets): starts measuring, returns the check. */
export type Measure = () => Promise<(t: Test) => Promise<void>>

/** Runs `total` jobs, `concurrency` at a time, until the time limit. */
async function run ({ total, concurrency, timeLimitMs }: Load, job: (i: number) => Promise<void>): Promise<number> {
  const deadline = Date.now() + timeLimitMs
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < total && Date.now() < deadline) await job(next++)
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  return (performance.now() - started) / 1000
}

/** Answers on a random turn: synchronously, after a microtask, an immediate, or a 0-2 ms timer. */
function later<T> (value: T): T | Promise<T> {
  const roll = Math.random()
  if (roll < 0.15) return value
  if (roll < 0.3) return Promise.resolve(value)
  if (roll < 0.55) return new Promise((resolve) => setImmediate(() => resolve(value)))
  return new Promise((resolve) => setTimeout(() => resolve(value), Math.floor(Math.random() * 3)))
}

/**
 * Requests with a user each (every tenth anonymous), a backend answering in random order, and
 * hooks and handlers that yield in between: every one of them must see exactly its own caller.
 */
export async function isolationUnderLoad (t: Test, load: Load, measure?: Measure): Promise<void> {
  const app = Fastify()
  let backendCalls = 0
  await app.register(authentication, {
    backend: {
      authenticate (request: FastifyRequest) {
        backendCalls++
        const id = request.headers['x-user']
        if (typeof id !== 'string') return later(null)
        return later({ auth: new AuthCredentials(['member', `user:${id}`]), user: new SimpleUser(id) })
      }
    }
  })
  let mismatches = 0
  let checked = 0
  const check = (request: FastifyRequest): void => {
    checked++
    const id = request.headers['x-user']
    const expected = typeof id === 'string' ? id : ''
    const scopes = request.auth.scopes
    if (request.user.identity !== expected || (expected === '' ? scopes.length !== 0 : scopes[1] !== `user:${expected}`)) mismatches++
  }
  const stillMine = async (request: FastifyRequest): Promise<void> => {
    await later(null) // other requests run in between
    check(request)
  }
  app.get('/me', { config: { requires: 'member' }, preHandler: [stillMine, requires('member')] }, async (request) => {
    check(request)
    await later(null)
    check(request)
    return request.user.identity
  })
  app.get('/open', { preHandler: stillMine }, async (request) => {
    await later(null)
    check(request)
    return request.user.identity
  })
  const { http } = await listen(app, t)
  const agent = new Agent({ keepAlive: true, maxSockets: load.concurrency })
  t.teardown(() => agent.destroy())

  const anonymous = (i: number): boolean => i % 10 === 0
  let answered = 0
  let wrongAnswers = 0
  const measured = await measure?.()
  const seconds = await run(load, async (i) => {
    const id = `u${i}-${Math.random().toString(36).slice(2, 8)}`
    const answer = await get(http, anonymous(i) ? '/open' : '/me', anonymous(i) ? {} : { 'x-user': id }, { agent })
    answered++
    if (answer.status !== 200 || answer.body !== (anonymous(i) ? '' : id)) wrongAnswers++
  })
  t.comment(`${answered} requests in ${seconds.toFixed(1)} s (${Math.round(answered / seconds)} req/s)`)

  const anonymousTotal = Math.ceil(load.total / 10)
  t.equal(answered, load.total, `all ${load.total} requests answered within ${load.timeLimitMs / 1000} s`)
  t.equal(wrongAnswers, 0, 'every client got its own user back')
  t.equal(mismatches, 0, 'every handler and hook saw its own user and scopes')
  // /me checks three times, /open (anonymous) twice.
  t.equal(checked, load.total * 3 - anonymousTotal, 'every check ran')
  t.equal(backendCalls, load.total, 'one backend call per request')
  await measured?.(t)
}

/**
 * WebSocket handshakes refused every way the plugin refuses them, after a warm-up: each one gets
 * 403, no handler runs, no socket stays open, and an authorized client still connects.
 */
export async function refusedHandshakeFlood (t: Test, { warmUp, ...load }: Load & { warmUp: number }, measure?: Measure): Promise<void> {
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
  const flood = async (total: number): Promise<{ statuses: Array<[number, number]>, seconds: number }> => {
    const statuses = new Map<number, number>()
    const seconds = await run({ ...load, total }, async (i) => {
      const [path, headers] = attempts[i % attempts.length]
      // Generous: under a flood a handshake may wait its turn.
      const status = await upgradeStatus(ws + path, headers, 10_000)
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
    })
    return { statuses: [...statuses], seconds }
  }

  // Warm up (JIT, pools, lazily built things), so that what is measured is the steady state.
  t.same((await flood(warmUp)).statuses, [[403, warmUp]], 'warm-up handshakes refused with 403')
  t.equal(await drained(app.server), 0, 'no socket left open after the warm-up')

  const measured = await measure?.()
  const { statuses, seconds } = await flood(load.total)
  t.comment(`${load.total} handshakes in ${seconds.toFixed(1)} s (${Math.round(load.total / seconds)}/s)`)
  t.same(statuses, [[403, load.total]], `every one of the ${load.total} handshakes was refused with 403 within ${load.timeLimitMs / 1000} s`)
  t.equal(opened, 0, 'no WebSocket handler ran')
  t.equal(await drained(app.server), 0, 'no socket left open on the server')
  await measured?.(t)
  t.same(await handshake(ws + '/ws', { authorization: basic('tom') }), { opened: true, message: 'tom' }, 'an authorized client still connects')
}
