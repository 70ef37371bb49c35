import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, SimpleUser, requires, type AuthenticationResult } from '../lib/index'
import { get, listen, logLines, upgradeStatus } from './helpers'

// The timeout option: a backend that has not answered in time fails the request with 503,
// its late answer is ignored, and no timer outlives the request.

interface Deferred { resolve: (value: AuthenticationResult | null) => void, reject: (error: unknown) => void }

/** Requests set no timer of their own: these tests count the live ones. */
const noTimer = { timeout: false } as const

function timers (): number {
  return process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length
}

/** Waits (boundedly) for the count of live timers to come back to `baseline`; returns the last count. */
async function settleTimers (baseline: number): Promise<number> {
  for (let i = 0; i < 50 && timers() > baseline; i++) await new Promise((resolve) => setImmediate(resolve))
  return timers()
}

async function server (t: { teardown: (fn: () => unknown) => void }, timeout: number): Promise<{
  app: FastifyInstance, http: string, ws: string, pending: Map<string, Deferred>, handled: string[], lines: string[], entries: () => Array<Record<string, unknown>>, calls: { count: number }
}> {
  const { stream, lines, entries } = logLines()
  const app = Fastify({ logger: { level: 'trace', stream } })
  await app.register(websocket)
  // The backend answers when the test says so: no timer of the test's own is involved.
  const pending = new Map<string, Deferred>()
  const calls = { count: 0 }
  await app.register(authentication, {
    timeout,
    backend: {
      authenticate (request) {
        calls.count++
        const mode = request.headers['x-mode']
        if (mode === 'sync') return { auth: new AuthCredentials(['user']), user: new SimpleUser('sync') }
        if (mode === 'immediate') {
          return new Promise((resolve) => setImmediate(() => resolve({ auth: new AuthCredentials(['user']), user: new SimpleUser('quick') })))
        }
        return new Promise((resolve, reject) => pending.set(String(request.headers['x-id']), { resolve, reject }))
      }
    }
  })
  const handled: string[] = []
  app.get('/', async (request) => { handled.push(request.url); return request.user.displayName })
  app.get('/guarded', { config: { requires: 'user' } }, async (request) => { handled.push(request.url); return request.user.displayName })
  app.get('/ws', { websocket: true, preHandler: requires('user') }, (socket, request) => {
    handled.push(request.url)
    socket.send(request.user.displayName)
  })
  const { http, ws } = await listen(app, t)
  return { app, http, ws, pending, handled, lines, entries, calls }
}

const warnings = (lines: string[]): string[] => lines.filter((line) => /already sent|already been sent/i.test(line) || Number(JSON.parse(line).level) === 40)
const late = (): AuthenticationResult => ({ auth: new AuthCredentials(['user']), user: new SimpleUser('late') })

t.test('a backend that has not answered in time: 503, the handler never runs, the late answer is ignored', async (t) => {
  const { http, pending, handled, lines, entries } = await server(t, 50)
  for (const [path, lateAnswer] of [['/', 'resolve'], ['/guarded', 'resolve'], ['/', 'reject with an Error'], ['/guarded', 'reject with a string']] as const) {
    const id = `${path}-${lateAnswer}`
    const baseline = timers()
    const started = performance.now()
    const answer = await get(http, path, { 'x-id': id }, noTimer)
    const elapsed = performance.now() - started
    t.equal(answer.status, 503, `${path}: 503`)
    t.match(JSON.parse(answer.body), { statusCode: 503, code: 'FST_AUTHENTICATION_TIMEOUT' }, 'the timeout error')
    t.ok(elapsed >= 45, `answered after the timeout (${elapsed.toFixed(0)} ms)`)
    t.equal(await settleTimers(baseline), baseline, 'no timer is left once the request failed')
    t.ok(entries().some((entry) => Number(entry.level) === 50 && JSON.stringify(entry).includes('did not answer within 50 ms')), 'the timeout is logged')

    const logged = lines.length
    const deferred = pending.get(id)
    t.ok(deferred, 'the backend was asked')
    if (lateAnswer === 'resolve') deferred?.resolve(late())
    else deferred?.reject(lateAnswer === 'reject with an Error' ? new Error('too late') : 'too late')
    await sleep(20)
    t.same(handled, [], 'the late answer does not run the handler')
    t.same(warnings(lines.slice(logged)), [], 'nor log a warning (no second reply)')
    t.same(lines.slice(logged).filter((line) => Number(JSON.parse(line).level) >= 40), [], 'nor log an error')
    t.equal(await settleTimers(baseline), baseline, 'and leaves no timer')
  }
  // And the server still answers.
  const answer = await get(http, '/', { 'x-mode': 'sync' }, noTimer)
  t.hasStrict(answer, { status: 200, body: 'sync' })
})

t.test('a WebSocket handshake whose backend times out is refused, never upgraded', async (t) => {
  const { ws, pending, handled } = await server(t, 50)
  t.equal(await upgradeStatus(ws + '/ws', { 'x-id': 'ws' }), 503)
  pending.get('ws')?.resolve(late())
  await sleep(20)
  t.same(handled, [], 'the WebSocket handler never ran')
})

t.test('a backend that answers in time leaves no timer behind', async (t) => {
  // A long timeout: a timer that was not cleared would still be there after the answer.
  const { http, pending, handled, lines } = await server(t, 5000)
  const baseline = timers()
  const quick = await get(http, '/guarded', { 'x-mode': 'immediate' }, noTimer)
  t.hasStrict(quick, { status: 200, body: 'quick' })
  t.equal(await settleTimers(baseline), baseline, 'the timeout timer was cleared (promise answered on the next turn)')

  const slower = get(http, '/guarded', { 'x-id': 'slower' }, noTimer)
  for (let i = 0; i < 100 && !pending.has('slower'); i++) await sleep(5)
  t.ok(timers() > baseline, 'a timer runs while the backend is thinking')
  await sleep(30)
  pending.get('slower')?.resolve({ auth: new AuthCredentials(['user']), user: new SimpleUser('slower') })
  t.hasStrict(await slower, { status: 200, body: 'slower' })
  t.equal(await settleTimers(baseline), baseline, 'the timeout timer was cleared (answered after 30 ms)')

  const sync = await get(http, '/guarded', { 'x-mode': 'sync' }, noTimer)
  t.hasStrict(sync, { status: 200, body: 'sync' })
  t.equal(timers(), baseline, 'a synchronous backend needs no timer at all')
  t.same(handled, ['/guarded', '/guarded', '/guarded'])
  t.same(warnings(lines), [], 'no warning logged')
})

t.test('many concurrent requests time out independently', async (t) => {
  const { http, pending, handled, calls } = await server(t, 40)
  const baseline = timers()
  const answers = await Promise.all(Array.from({ length: 30 }, (_, i) =>
    get(http, i % 2 === 0 ? '/' : '/guarded', i % 3 === 0 ? { 'x-mode': 'immediate' } : { 'x-id': `c${i}` }, noTimer)))
  const expected = answers.map((_, i) => i % 3 === 0 ? 200 : 503)
  t.same(answers.map((answer) => answer.status), expected)
  t.equal(calls.count, 30, 'one backend call per request')
  t.equal(handled.length, 10, 'only the requests answered in time reached the handler')
  t.equal(await settleTimers(baseline), baseline, 'no timer left')
  for (const deferred of pending.values()) deferred.resolve(late())
  await sleep(20)
  t.equal(handled.length, 10, 'the late answers changed nothing')
})
