import t from 'tap'
import { Agent, request } from 'node:http'
import Fastify, { type FastifyRequest } from 'fastify'
import authentication, { AuthCredentials, SimpleUser, requires } from '../../lib/index'
import { listen } from '../helpers'

// Stress: 100,000 requests at 200 concurrent connections, each with its own user and a backend
// of random latency; every handler must see exactly its own user. Run with `npm run test:stress`
// (it sets FASTIFY_AUTHENTICATION_STRESS=1); the normal suite skips it.
const enabled = process.env.FASTIFY_AUTHENTICATION_STRESS === '1'
const TOTAL = Number(process.env.STRESS_REQUESTS ?? 100_000)
const CONCURRENCY = Number(process.env.STRESS_CONCURRENCY ?? 200)
const TIME_LIMIT_MS = 300_000

function later<T> (value: T): T | Promise<T> {
  const roll = Math.random()
  if (roll < 0.15) return value
  if (roll < 0.3) return Promise.resolve(value)
  if (roll < 0.55) return new Promise((resolve) => setImmediate(() => resolve(value)))
  return new Promise((resolve) => setTimeout(() => resolve(value), Math.floor(Math.random() * 3)))
}

t.test(`isolation under load: ${TOTAL} requests at ${CONCURRENCY} concurrent`, { skip: !enabled && 'stress test: npm run test:stress' }, async (t) => {
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
    await later(null)
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
  const { hostname, port } = new URL(http)
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  t.teardown(() => agent.destroy())

  let next = 0
  let wrongAnswers = 0
  let answered = 0
  let anonymousCount = 0
  const deadline = Date.now() + TIME_LIMIT_MS
  const one = (i: number): Promise<void> => new Promise((resolve, reject) => {
    const anonymous = i % 10 === 0
    if (anonymous) anonymousCount++
    const id = `u${i}-${Math.random().toString(36).slice(2, 8)}`
    const req = request({ host: hostname, port, agent, path: anonymous ? '/open' : '/me', headers: anonymous ? {} : { 'x-user': id } })
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => {
        answered++
        if (res.statusCode !== 200 || body !== (anonymous ? '' : id)) wrongAnswers++
        resolve()
      })
    })
    req.on('error', reject)
    req.end()
  })
  const worker = async (): Promise<void> => {
    while (next < TOTAL && Date.now() < deadline) await one(next++)
  }
  const heapBefore = process.memoryUsage().heapUsed
  const started = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  const seconds = (performance.now() - started) / 1000
  t.comment(`${answered} requests in ${seconds.toFixed(1)} s (${Math.round(answered / seconds)} req/s), heap ${((process.memoryUsage().heapUsed - heapBefore) / 1e6).toFixed(1)} MB over the start`)

  t.equal(answered, TOTAL, `all ${TOTAL} requests answered within ${TIME_LIMIT_MS / 1000} s`)
  t.equal(wrongAnswers, 0, 'every client got its own user back')
  t.equal(mismatches, 0, 'every handler and hook saw its own user and scopes')
  t.equal(checked, answered * 3 - anonymousCount, 'every check ran')
  t.equal(backendCalls, answered, 'one backend call per request')
})
