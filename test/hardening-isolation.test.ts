import t from 'tap'
import { Agent, request } from 'node:http'
import Fastify, { type FastifyRequest } from 'fastify'
import authentication, { AuthCredentials, SimpleUser, requires } from '../lib/index'
import { listen } from './helpers'

// Under load, with backends answering in random order, every handler sees its own caller.
// The big version (100,000 requests at 200 concurrent) is test/stress/isolation.ts.
const TOTAL = 2000
const CONCURRENCY = 50

/** Answers on a random turn: synchronously, after a microtask, an immediate, or a 0-2 ms timer. */
function later<T> (value: T): T | Promise<T> {
  const roll = Math.random()
  if (roll < 0.15) return value
  if (roll < 0.3) return Promise.resolve(value)
  if (roll < 0.55) return new Promise((resolve) => setImmediate(() => resolve(value)))
  return new Promise((resolve) => setTimeout(() => resolve(value), Math.floor(Math.random() * 3)))
}

t.test(`${TOTAL} requests at ${CONCURRENCY} concurrent: every handler sees exactly its own user`, async (t) => {
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
  const { hostname, port } = new URL(http)
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  t.teardown(() => agent.destroy())

  let next = 0
  let wrongAnswers = 0
  let answered = 0
  const deadline = Date.now() + 20_000
  const one = (i: number): Promise<void> => new Promise((resolve, reject) => {
    const anonymous = i % 10 === 0
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
  const started = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  const seconds = (performance.now() - started) / 1000

  t.equal(answered, TOTAL, `all ${TOTAL} requests answered (${Math.round(TOTAL / seconds)} req/s)`)
  t.equal(wrongAnswers, 0, 'every client got its own user back')
  t.equal(mismatches, 0, 'every handler and hook saw its own user and scopes')
  t.equal(checked, TOTAL * 3 - (TOTAL / 10), 'every check ran')
  t.equal(backendCalls, TOTAL, 'one backend call per request')
})
