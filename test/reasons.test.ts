// Issue 23, points 1-3: every refusal's reason reaches the audit event, the debug log line and
// onError, over real sockets; the client gets one JSON format, and an outage is a 503, not a
// rejected credential.
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import authentication, { AuthCredentials, AuthenticationError, SimpleUser, channels, type AuthenticationBackend, type RefusalReason, type RefusedMessage } from '../lib/index'
import { apiKey } from '../lib/backends/api-key'
import { basic, safeEqual } from '../lib/backends/basic'
import { jwt } from '../lib/backends/jwt'
import { webSocketTickets, type TicketStore } from '../lib/backends/tickets'
import { basic as basicHeader, handshake, listen, logLines } from './helpers'

type Jose = typeof import('jose', { with: { 'resolution-mode': 'import' } })
type SigningKey = Parameters<InstanceType<Jose['SignJWT']>['sign']>[0]

let jose: Jose
t.before(async () => { jose = await import('jose') })

const SECRET = new TextEncoder().encode('a secret of at least thirty-two bytes, for HS256')
const ISSUER = 'https://issuer.example'
const AUDIENCE = 'api'
const now = (): number => Math.floor(Date.now() / 1000)

function sign (claims: Record<string, unknown>, key: SigningKey = SECRET, header: Record<string, unknown> = { alg: 'HS256' }): Promise<string> {
  return new jose.SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'u-1', exp: now() + 600, ...claims }).setProtectedHeader(header as { alg: string }).sign(key)
}

/** What one app saw of its refusals: the events, the debug lines' reasons, and the errors onError got. */
interface Observed {
  send: (path: string, headers?: Record<string, string>) => Promise<Response>
  events: Array<Pick<RefusedMessage, 'reason' | 'statusCode'>>
  logged: () => Array<Record<string, unknown>>
  onError: RefusalReason[]
  app: FastifyInstance
  origin: string
}

/**
 * An app with the backends registered twice: under /default with the default answer, and under
 * /custom with an onError that answers its own JSON and keeps the headers the plugin set.
 */
async function observe (t: Test, backend: AuthenticationBackend | AuthenticationBackend[], extend?: (app: FastifyInstance) => Promise<void>): Promise<Observed> {
  const log = logLines()
  const app = Fastify({ logger: { level: 'debug', stream: log.stream } })
  const onError: RefusalReason[] = []
  if (extend !== undefined) await extend(app)
  await app.register(async (scope) => {
    await scope.register(authentication, { backend })
    scope.get('/', async () => 'open')
  }, { prefix: '/default' })
  await app.register(async (scope) => {
    await scope.register(authentication, {
      backend,
      onError: (error, _request, reply) => {
        onError.push(error.reason)
        return reply.code(error.statusCode).send({ custom: true, reason: error.reason })
      }
    })
    scope.get('/', async () => 'open')
  }, { prefix: '/custom' })
  const events: Observed['events'] = []
  const listener = (message: unknown): void => {
    // The tests run one at a time: every refusal is this app's.
    const { reason, statusCode } = message as RefusedMessage
    events.push({ reason, statusCode })
  }
  subscribe(channels.refused, listener)
  t.teardown(() => { unsubscribe(channels.refused, listener) })
  const { http } = await listen(app, t)
  return {
    send: (path, headers = {}) => fetch(http + path, { headers }),
    events,
    logged: () => log.entries().filter((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('fastify-authentication: refused')),
    onError,
    app,
    origin: http
  }
}

/**
 * Sends `headers` under /default and /custom: the JSON refusal with `reason`, the challenge kept
 * by onError, and the reason in the event, the debug line and onError. Returns the default answer.
 */
async function refused (t: Test, seen: Observed, headers: Record<string, string>, reason: RefusalReason, statusCode: number) {
  const before = { events: seen.events.length, logged: seen.logged().length, onError: seen.onError.length }
  const answer = await seen.send('/default/', headers)
  const body = await answer.json() as Record<string, unknown>
  t.equal(answer.status, statusCode, `${reason}: status`)
  t.equal(answer.headers.get('content-type'), 'application/json; charset=utf-8', `${reason}: JSON`)
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'reason', 'statusCode'], `${reason}: Fastify's error shape plus the reason`)
  t.match(body, { statusCode, reason, code: 'FST_AUTHENTICATION_' + reason.toUpperCase().replaceAll('-', '_') })
  const custom = await seen.send('/custom/', headers)
  t.same(await custom.json(), { custom: true, reason }, `${reason}: onError answered`)
  t.equal(custom.headers.get('www-authenticate'), answer.headers.get('www-authenticate'), `${reason}: onError keeps the challenge`)
  t.equal(custom.headers.get('retry-after'), answer.headers.get('retry-after'), `${reason}: and Retry-After`)
  // The events come once each answer is out.
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(seen.events.slice(before.events), [{ reason, statusCode }, { reason, statusCode }], `${reason}: the events`)
  const lines = seen.logged().slice(before.logged)
  t.same(lines.map((line) => [line.level, line.reason]), [[20, reason], [20, reason]], `${reason}: one debug line per refusal`)
  t.same(seen.onError.slice(before.onError), [reason], `${reason}: onError's error.reason`)
  return { answer, body, challenge: answer.headers.get('www-authenticate') }
}

t.test('jwt: one reason, and one RFC 6750 error_description, per cause', async (t) => {
  const seen = await observe(t, jwt({
    secret: SECRET,
    algorithms: ['HS256'],
    issuer: ISSUER,
    audience: AUDIENCE,
    realm: 'api',
    isRevoked: (claims) => claims.jti === 'revoked'
  }))
  const other = new TextEncoder().encode('another secret of thirty-two bytes or more')
  const cases: Array<[string, Promise<string>, RefusalReason, string]> = [
    ['expired', sign({ exp: now() - 60 }), 'expired', 'token expired'],
    ['not yet valid', sign({ nbf: now() + 600 }), 'not-yet-valid', 'token not valid yet'],
    ['wrong audience', sign({ aud: 'other-api' }), 'wrong-audience', 'audience not accepted'],
    ['wrong issuer', sign({ iss: 'https://other.example' }), 'wrong-issuer', 'issuer not accepted'],
    ['bad signature', sign({}, other), 'invalid-signature', 'signature invalid'],
    ['an algorithm the options do not allow', sign({}, SECRET, { alg: 'HS512' }), 'invalid-signature', 'signature invalid'],
    ['revoked', sign({ jti: 'revoked' }), 'revoked', 'token revoked'],
    ['no exp (nearest: unknown-token)', sign({ exp: undefined }), 'unknown-token', 'token unknown'],
    ['no sub: no caller', sign({ sub: undefined }), 'unknown-token', 'token unknown']
  ]
  for (const [name, token, reason, description] of cases) {
    const { challenge, body } = await refused(t, seen, { authorization: `Bearer ${await token}` }, reason, 401)
    t.equal(challenge, `Bearer realm="api", error="invalid_token", error_description="${description}"`, `${name}: the challenge says why`)
    t.type(body.message, 'string')
  }
  const { challenge } = await refused(t, seen, { authorization: 'Bearer not.a.jwt' }, 'unknown-token', 401)
  t.match(challenge, /error="invalid_token"/, 'a token jose cannot read')
  const malformed = await refused(t, seen, { authorization: 'Bearer ***' }, 'malformed-credentials', 400)
  t.equal(malformed.challenge, 'Bearer realm="api", error="invalid_request", error_description="token malformed"')
  const missing = await refused(t, seen, { authorization: 'Bearer' }, 'malformed-credentials', 400)
  t.equal(missing.challenge, 'Bearer realm="api", error="invalid_request", error_description="token missing"')
  // A cached token that is revoked later: the same refusal.
  t.equal((await seen.send('/default/', { authorization: `Bearer ${await sign({ jti: 'kept' })}` })).status, 200)
})

/** A JSON Web Key Set on 127.0.0.1; `status` can be changed. */
async function keySetServer (t: Test, keys: unknown[]) {
  const served = { status: 200 }
  const server: Server = createServer((_request, response) => {
    response.writeHead(served.status, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ keys }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { served, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json` }
}

t.test('jwt with a JWKS: a kid no key has is unknown-key; a key set that is down is 503 unavailable with Retry-After', async (t) => {
  const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true })
  const jwk = { ...await jose.exportJWK(publicKey), kid: 'known', alg: 'ES256' }
  const { served, url } = await keySetServer(t, [jwk])
  const seen = await observe(t, jwt({ jwks: url, algorithms: ['ES256'], issuer: ISSUER, audience: AUDIENCE }))
  const stranger = await sign({}, privateKey, { alg: 'ES256', kid: 'unknown' })
  const { challenge } = await refused(t, seen, { authorization: `Bearer ${stranger}` }, 'unknown-key', 401)
  t.equal(challenge, 'Bearer error="invalid_token", error_description="key unknown"')

  const { url: downUrl, served: down } = await keySetServer(t, [jwk])
  down.status = 500
  const outage = await observe(t, jwt({ jwks: downUrl, algorithms: ['ES256'], issuer: ISSUER, audience: AUDIENCE }))
  const token = await sign({}, privateKey, { alg: 'ES256', kid: 'known' })
  const { answer } = await refused(t, outage, { authorization: `Bearer ${token}` }, 'unavailable', 503)
  t.match(answer.headers.get('retry-after'), /^[1-9]\d*$/, 'Retry-After in seconds')
  t.equal(answer.headers.get('www-authenticate'), null, 'no challenge: the token is not at fault')
  t.notOk(outage.events.some((event) => event.reason !== 'unavailable'), 'never counted as rejected credentials')
  t.equal(served.status, 200)
})

t.test('basic: wrong-password for any unknown pair, and nothing the client sees tells which part was wrong', async (t) => {
  const seen = await observe(t, basic({
    verify: (username, password) => username === 'alice' && safeEqual(password, 'secret')
      ? { auth: new AuthCredentials(['read']), user: new SimpleUser('alice') }
      : null
  }))
  const wrongPassword = await refused(t, seen, { authorization: basicHeader('alice', 'guess') }, 'wrong-password', 401)
  const unknownUser = await refused(t, seen, { authorization: basicHeader('mallory', 'secret') }, 'wrong-password', 401)
  t.same(unknownUser.body, wrongPassword.body, 'the same body')
  const headers = (answer: Response) => [...answer.headers].filter(([name]) => name !== 'date')
  t.same(headers(unknownUser.answer), headers(wrongPassword.answer), 'the same headers')
  t.equal(wrongPassword.challenge, 'Basic realm="api", charset="UTF-8"')
  await refused(t, seen, { authorization: 'Basic !!!' }, 'malformed-credentials', 401)
})

t.test('api-key: an unknown key is unknown-token', async (t) => {
  const seen = await observe(t, apiKey({ header: 'x-api-key', verify: (key) => key === 'good' ? { auth: new AuthCredentials(), user: new SimpleUser('svc') } : null }))
  const { challenge } = await refused(t, seen, { 'x-api-key': 'bad' }, 'unknown-token', 401)
  t.equal(challenge, 'APIKey')
})

t.test('a guard\'s 401 to an anonymous caller is missing-credentials, its 403 missing-scopes, JSON both', async (t) => {
  const seen = await observe(t, apiKey({ header: 'x-api-key', verify: (key) => key === 'good' ? { auth: new AuthCredentials(), user: new SimpleUser('svc') } : null }),
    async (app) => {
      await app.register(async (scope) => {
        await scope.register(authentication, { backend: apiKey({ header: 'x-api-key', verify: () => ({ auth: new AuthCredentials(), user: new SimpleUser('svc') }) }) })
        scope.get('/admin', { config: { requires: 'admin' } }, async () => 'admin')
      }, { prefix: '/guarded' })
    })
  const anonymous = await seen.send('/guarded/admin')
  t.equal(anonymous.status, 401)
  t.match(await anonymous.json(), { reason: 'missing-credentials', code: 'FST_AUTHENTICATION_MISSING_CREDENTIALS', message: 'Authentication required' })
  const lacking = await seen.send('/guarded/admin', { 'x-api-key': 'any' })
  t.equal(lacking.status, 403)
  t.equal(lacking.headers.get('content-type'), 'application/json; charset=utf-8')
  t.match(await lacking.json(), { reason: 'missing-scopes', code: 'FST_AUTHENTICATION_MISSING_SCOPES' })
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(seen.events, [{ reason: 'missing-credentials', statusCode: 401 }, { reason: 'missing-scopes', statusCode: 403 }])
  t.same(seen.logged().map((line) => line.reason), ['missing-credentials', 'missing-scopes'])
})

t.test('tickets: a store that cannot be reached is 503 unavailable, logged once per outage and once when it recovers', async (t) => {
  const state = { down: true, sync: false }
  const stored = new Map<string, string>()
  const failure = (): Error => new Error('connect ECONNREFUSED 127.0.0.1:6379')
  const store: TicketStore = {
    set: async (id, value) => { if (state.down) throw failure(); stored.set(id, value) },
    take: (id) => {
      if (state.sync && state.down) throw failure()
      if (state.down) return Promise.reject(failure())
      const value = stored.get(id)
      stored.delete(id)
      return state.sync ? value : Promise.resolve(value)
    }
  }
  const tickets = webSocketTickets({ store })
  const log = logLines()
  const app = Fastify({ logger: { level: 'debug', stream: log.stream } })
  await app.register(websocket, { options: { handleProtocols: tickets.handleProtocols } })
  await app.register(authentication, { backend: [tickets, basic({ verify: (username) => ({ auth: new AuthCredentials(), user: new SimpleUser(username) }) })] })
  app.get('/ticket', async (request) => ({ ticket: await tickets.issue(request) }))
  app.get('/socket', { websocket: true }, (socket) => { socket.send('open') })
  const events: RefusalReason[] = []
  const listener = (message: unknown): void => { events.push((message as RefusedMessage).reason) }
  subscribe(channels.refused, listener)
  t.teardown(() => { unsubscribe(channels.refused, listener) })
  const { http, ws } = await listen(app, t)
  const issue = () => fetch(`${http}/ticket`, { headers: { authorization: basicHeader('alice') } })

  for (let i = 0; i < 2; i++) {
    const answer = await issue()
    t.equal(answer.status, 503, 'issue() while the store is down')
    t.match(await answer.json(), { code: 'FST_AUTHENTICATION_UNAVAILABLE' })
  }
  const offered = { 'sec-websocket-protocol': `chat, ticket.${'A'.repeat(43)}` }
  for (const sync of [false, true]) {
    state.sync = sync
    const refusal = await handshake(`${ws}/socket`, offered)
    t.match(refusal, { opened: false, status: 403 }, 'a handshake keeps its 403')
    t.match(JSON.parse((refusal as { body: string }).body), { reason: 'unavailable', statusCode: 403 })
  }
  const errors = () => log.entries().filter((entry) => entry.level === 50 && String(entry.msg).includes('ticket store'))
  t.equal(errors().length, 1, 'one error line for the outage')
  t.match(errors()[0], { err: { message: 'connect ECONNREFUSED 127.0.0.1:6379' } }, 'naming what failed')

  state.down = false
  const { ticket } = await (await issue()).json() as { ticket: string }
  const socket = new WebSocket(`${ws}/socket`, ['chat', `ticket.${ticket}`])
  const [message] = await once(socket, 'message')
  socket.close()
  t.equal(String(message), 'open', 'the store answers again: the handshake opens')
  t.equal(log.entries().filter((entry) => String(entry.msg).includes('ticket store (the store option) answers again')).length, 1, 'one line when it recovers')
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(events, ['unavailable', 'unavailable'], 'the handshakes\' events: unavailable, not a rejected ticket')
})

t.test('AuthenticationError: reason defaults by status, and a reason that is not a code fails at once', async (t) => {
  t.equal(new AuthenticationError().reason, 'malformed-credentials')
  t.equal(new AuthenticationError('x', { statusCode: 401 }).reason, 'unknown-token')
  t.equal(new AuthenticationError('x', { statusCode: 503 }).reason, 'unavailable')
  t.equal(new AuthenticationError('x', { statusCode: 401, reason: 'expired' }).code, 'FST_AUTHENTICATION_EXPIRED')
  t.throws(() => new AuthenticationError('x', { reason: 'origin' as RefusalReason }), { name: 'RangeError', message: /^AuthenticationError: reason must be one of missing-credentials, / })
})
