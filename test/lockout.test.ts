// The lockout option over real sockets, with the default store (a MemoryStore per registration):
// rejected credentials counted per IP (request.ip, X-Forwarded-For under trustProxy) and per
// Basic user-id, 429 with Retry-After before any backend runs, locks that end with their window.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, AuthenticationError, MemoryStore, SimpleUser, requires, type AuthenticationOptions, type AuthenticationStore } from '../lib/index'
import { basic } from '../lib/backends/basic'
import type { RefusedMessage } from '../lib/request/events'
import { basic as basicHeader, get, listen, logLines, upgradeStatus } from './helpers'

const PASSWORDS: Record<string, string> = { alice: 'alice-pw', bob: 'bob-pw' }

interface App { http: string, ws: string, verified: () => number, log: ReturnType<typeof logLines> }

/** An app with Basic (its verify calls counted), an outage header, an admin route and a socket. */
async function app (t: Test, options: Partial<AuthenticationOptions> = {}): Promise<App> {
  let verified = 0
  const log = logLines()
  const server: FastifyInstance = Fastify({ trustProxy: true, logger: { level: 'warn', stream: log.stream } })
  await server.register(websocket)
  const outage = {
    authenticate (request: { headers: Record<string, unknown> }) {
      if (request.headers['x-outage'] === undefined) return null
      throw new AuthenticationError('The user directory is down', { statusCode: 503, retryAfter: 1 })
    }
  }
  await server.register(authentication, {
    backend: [basic({
      verify (username, password) {
        verified++
        return PASSWORDS[username] === password ? { auth: new AuthCredentials(['read']), user: new SimpleUser(username) } : null
      }
    }), outage],
    lockout: { max: 3, windowMs: 60_000 },
    ...options
  })
  server.get('/', async (request) => request.user.displayName)
  server.get('/admin', { preHandler: requires('admin') }, async () => 'admin')
  server.get('/health', { config: { authenticate: false } }, async () => 'ok')
  server.get('/ws', { websocket: true }, (socket) => { socket.close() })
  return { ...await listen(server, t), verified: () => verified, log }
}

function from (ip: string, user?: string, password?: string): Record<string, string> {
  const headers: Record<string, string> = { 'x-forwarded-for': ip }
  if (user !== undefined) headers.authorization = basicHeader(user, password ?? PASSWORDS[user] ?? 'nope')
  return headers
}

function refusals (t: Test): RefusedMessage[] {
  const seen: RefusedMessage[] = []
  const onRefused = (message: unknown): void => { seen.push(message as RefusedMessage) }
  subscribe('fastify-authentication:refused', onRefused)
  t.teardown(() => unsubscribe('fastify-authentication:refused', onRefused))
  return seen
}

t.test('an IP locked out after max rejected credentials gets 429 with Retry-After, and no backend runs', async (t) => {
  const { http, ws, verified, log } = await app(t)
  const seen = refusals(t)
  // Three user-ids, so that only the IP reaches max.
  for (const user of ['carol', 'dave', 'erin']) t.equal((await get(http, '/', from('10.0.0.1', user, 'guess'))).status, 401, user)
  t.equal(verified(), 3)
  const locked = await get(http, '/', from('10.0.0.1', 'alice'))
  t.equal(locked.status, 429, 'even with the right password')
  t.equal(locked.headers['content-type'], 'application/json; charset=utf-8')
  t.same(JSON.parse(locked.body), {
    statusCode: 429,
    code: 'FST_AUTHENTICATION_LOCKED_OUT',
    error: 'Too Many Requests',
    message: 'Too many rejected credentials: try again once Retry-After has passed',
    reason: 'locked-out'
  })
  const retryAfter = Number(locked.headers['retry-after'])
  t.ok(retryAfter >= 59 && retryAfter <= 60, `Retry-After is what is left of the window: ${retryAfter}`)
  t.equal((await get(http, '/', from('10.0.0.1'))).status, 429, 'anonymous requests from the IP too')
  t.equal(await upgradeStatus(`${ws}/ws`, from('10.0.0.1', 'alice')), 403, 'a handshake gets 403, as every refused handshake')
  t.equal(verified(), 3, 'no backend ran while locked out')
  t.equal((await get(http, '/health', from('10.0.0.1'))).body, 'ok', 'routes that run no backend stay open')
  const other = await get(http, '/', from('10.0.0.2', 'alice'))
  t.equal(other.body, 'alice', 'another IP is not locked')
  await sleep(20)
  t.same(seen.map(({ reason, statusCode }) => [reason, statusCode]), [
    ['wrong-password', 401], ['wrong-password', 401], ['wrong-password', 401],
    ['locked-out', 429], ['locked-out', 429], ['locked-out', 403]
  ])
  t.match(log.messages(), [/the IP of this request is locked out for 60000 ms after 3 rejected credentials/])
})

t.test('an identity locked out is locked from every IP, and locks no one else', async (t) => {
  const { http, verified, log } = await app(t)
  for (const ip of ['10.0.1.1', '10.0.1.2', '10.0.1.3']) t.equal((await get(http, '/', from(ip, 'alice', 'guess'))).status, 401, ip)
  const locked = await get(http, '/', from('10.0.1.4', 'alice'))
  t.equal(locked.status, 429, 'alice, from a fourth IP, with her password')
  t.ok(Number(locked.headers['retry-after']) > 0)
  t.equal(verified(), 3)
  t.equal((await get(http, '/', from('10.0.1.1', 'bob'))).body, 'bob', 'bob, from an IP alice failed from')
  t.equal((await get(http, '/', from('10.0.1.1'))).body, '', 'an anonymous caller from it')
  t.match(log.messages(), [/the identity of this request is locked out/])
  t.notMatch(log.lines.join('\n'), /alice/, 'the log never names the user-id')
})

t.test('every lock ends with its window', async (t) => {
  const { http } = await app(t, { lockout: { max: 2, windowMs: 300 } })
  for (let i = 0; i < 2; i++) t.equal((await get(http, '/', from('10.0.2.1', 'alice', 'guess'))).status, 401)
  const locked = await get(http, '/', from('10.0.2.1', 'alice'))
  t.equal(locked.status, 429)
  t.equal(locked.headers['retry-after'], '1', 'a part of a second rounds up')
  await sleep(350)
  t.equal((await get(http, '/', from('10.0.2.1', 'alice'))).body, 'alice', 'the IP and the identity are free again')
  t.equal((await get(http, '/', from('10.0.2.1', 'alice', 'guess'))).status, 401, 'a new window counts from one')
  t.equal((await get(http, '/', from('10.0.2.1', 'alice'))).body, 'alice')
})

t.test('outages, missing scopes, successes and anonymous callers never count', async (t) => {
  const { http, verified } = await app(t, { lockout: { max: 1, windowMs: 60_000 } })
  for (let i = 0; i < 3; i++) {
    const outage = await get(http, '/', { ...from('10.0.3.1'), 'x-outage': '1' })
    t.equal(outage.status, 503, 'an outage')
    t.equal((await get(http, '/admin', from('10.0.3.1', 'alice'))).status, 403, 'missing scopes')
    t.equal((await get(http, '/', from('10.0.3.1', 'alice'))).body, 'alice', 'a success')
    t.equal((await get(http, '/admin', from('10.0.3.1'))).status, 401, 'an anonymous caller asked to log in')
  }
  t.equal(verified(), 6)
  t.equal((await get(http, '/', from('10.0.3.1', 'alice', 'guess'))).status, 401, 'the first rejection')
  t.equal((await get(http, '/', from('10.0.3.1', 'bob'))).status, 429, 'locks the IP (max 1)')
})

t.test('malformed Basic credentials count against the IP, naming no identity', async (t) => {
  const { http } = await app(t, { lockout: { max: 1, windowMs: 60_000 } })
  t.equal((await get(http, '/', { ...from('10.0.4.1'), authorization: 'Basic !!!' })).status, 401)
  t.equal((await get(http, '/', from('10.0.4.1', 'alice'))).status, 429)
  t.equal((await get(http, '/', from('10.0.4.2', 'alice'))).body, 'alice')
})

t.test('without the option, nothing is counted; true takes the defaults (10 per 15 minutes)', async (t) => {
  for (const lockout of [undefined, false]) {
    const { http } = await app(t, { lockout })
    for (let i = 0; i < 5; i++) await get(http, '/', from('10.0.5.1', 'alice', 'guess'))
    t.equal((await get(http, '/', from('10.0.5.1', 'alice'))).body, 'alice', `lockout: ${lockout}`)
  }
  const { http } = await app(t, { lockout: true })
  for (let i = 0; i < 10; i++) t.equal((await get(http, '/', from('10.0.5.1', 'alice', 'guess'))).status, 401)
  const locked = await get(http, '/', from('10.0.5.1', 'alice'))
  t.equal(locked.status, 429, 'the eleventh')
  t.ok(Number(locked.headers['retry-after']) > 14 * 60, locked.headers['retry-after'] as string)
  const maxOnly = await app(t, { lockout: { max: 1 } })
  await get(maxOnly.http, '/', from('10.0.5.1', 'alice', 'guess'))
  t.ok(Number((await get(maxOnly.http, '/', from('10.0.5.1', 'alice'))).headers['retry-after']) > 14 * 60, 'the default window')
})

t.test('a store that fails: its get refuses with 503 (fail closed), its increment is logged', async (t) => {
  const store: AuthenticationStore & { failing: 'get' | 'increment' } = {
    failing: 'get',
    async get () { if (store.failing === 'get') throw new Error('connection refused'); return null },
    increment () { throw new Error('connection refused') }
  }
  const { http, verified, log } = await app(t, { store })
  const refused = await get(http, '/', from('10.0.6.1', 'alice'))
  t.equal(refused.status, 503)
  t.notMatch(refused.body, /connection refused/, 'the cause is not the client\'s to read')
  t.equal(verified(), 0, 'no backend ran')
  t.equal(refused.headers['retry-after'], '5')
  await get(http, '/', from('10.0.6.1', 'alice'))
  // The outage is logged once, with its cause, however many requests meet it.
  t.match(log.entries().filter((entry) => Number(entry.level) >= 50), [{ level: 50, msg: /the store \(the store option\) cannot be reached/, err: { message: 'connection refused' } }])
  store.failing = 'increment'
  t.equal((await get(http, '/', from('10.0.6.1', 'alice', 'guess'))).status, 401, 'a rejection is refused still')
  t.equal((await get(http, '/', from('10.0.6.1', 'alice'))).body, 'alice')
  t.match(log.entries().at(-1), { level: 50, msg: 'fastify-authentication: the store did not count a rejected credential (the lockout option)', err: { message: 'connection refused' } })
})

t.test('the options are checked at startup, naming the one that is wrong', async (t) => {
  const backend = { authenticate: () => null }
  const cases: Array<[unknown, RegExp]> = [
    [{ lockout: 'yes' }, /the lockout option must be true or an object like \{ max: 10, windowMs: 900000 \}/],
    [{ lockout: null }, /the lockout option must be true or an object/],
    [{ lockout: { max: 0 } }, /lockout\.max must be a whole number/],
    [{ lockout: { max: 2.5 } }, /lockout\.max must be a whole number/],
    [{ lockout: { windowMs: 0 } }, /lockout\.windowMs must be a whole number of milliseconds/],
    [{ lockout: { windowMs: '15m' } }, /lockout\.windowMs must be a whole number of milliseconds/],
    [{ lockout: { maxAttempts: 5 } }, /unknown lockout option "maxAttempts"; the lockout options are max and windowMs/],
    [{ lockout: true, store: {} }, /the store option must have increment\(key, windowMs\) and get\(key\) methods/],
    [{ store: new Map() }, /the store option must have/]
  ]
  for (const [options, message] of cases) {
    const server = Fastify()
    await t.rejects(async () => { await server.register(authentication, { backend, ...options as object }) }, message, JSON.stringify(options))
    await server.close()
  }
  t.throws(() => new MemoryStore({ maxEntries: 0 }), /MemoryStore\(options\): maxEntries must be a positive integer/)
  t.throws(() => new MemoryStore({ size: 5 } as object), /MemoryStore\(options\): unknown option "size"; the only option is maxEntries/)
})

t.test('MemoryStore: bounded, oldest window forgotten first, a window restarts once ended', async (t) => {
  const store = new MemoryStore({ maxEntries: 2 })
  t.same(store.increment('a', 60_000).count, 1)
  t.same(store.increment('a', 60_000).count, 2)
  store.increment('b', 60_000)
  const { count, resetAt } = store.increment('c', 60_000)
  t.equal(count, 1)
  t.ok(resetAt > Date.now() + 59_000 && resetAt <= Date.now() + 60_000)
  t.equal(store.size, 2, 'never past maxEntries')
  t.equal(store.get('a'), undefined, 'the oldest window went first')
  t.equal(store.get('b')?.count, 1)
  store.increment('short', 1)
  await sleep(5)
  t.equal(store.get('short'), undefined, 'an ended window reads as none')
  t.equal(store.increment('short', 60_000).count, 1, 'and counts from one again')
  t.equal(store.size, 2, 'ended windows make room first')
  t.equal(store.get('c')?.count, 1, 'a live window is kept while an ended one can go')
  t.equal(new MemoryStore().size, 0)
})
