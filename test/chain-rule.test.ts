// The chain rule: a rejected credential refuses the request, whoever else recognises the caller;
// the chain moves past a rejection only to backends that read the same credential.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, AuthenticationError, SimpleUser, type AuthenticationBackend } from '../lib/index'
import type { AuthenticationResult } from '../lib/backends/contract'
import { runBackends } from '../lib/request/chain'
import { apiKey } from '../lib/backends/api-key'
import { basic } from '../lib/backends/basic'
import { bearer } from '../lib/backends/bearer'
import { jwt } from '../lib/backends/jwt'
import { basic as basicHeader, get, handshake, listen, record, refusalBody } from './helpers'

const SECRET = 'a secret of at least thirty-two bytes, for HS256'

function caller (name: string, scopes: string[] = []): AuthenticationResult {
  return { auth: new AuthCredentials(scopes), user: new SimpleUser(name) }
}

/** An app whose `/me` needs `authenticated` and names the caller, and whose `/ws` greets it. */
async function serve (t: Test, backend: AuthenticationBackend[]): Promise<{ http: string, ws: string, handled: string[] }> {
  const handled: string[] = []
  const app = Fastify()
  await app.register(websocket)
  await app.register(authentication, { backend })
  app.get('/me', { config: { requires: 'authenticated' } }, async (request) => { handled.push(request.url); return request.user.displayName })
  app.get('/ws', { websocket: true, config: { requires: 'authenticated' } }, (socket, request) => {
    handled.push(request.url)
    socket.send(request.user.displayName)
  })
  return { ...(await listen(app, t)), handled }
}

const admin = basic({ verify: (username, password) => username === 'admin' && password === 'right' ? caller('admin', ['admin']) : null })
const attackerKey = apiKey({ header: 'x-api-key', verify: (key) => key === 'attacker-key' ? caller('attacker') : null })
const wrongPassword = { status: 401, challenge: 'Basic realm="api", charset="UTF-8"', body: refusalBody(401, 'Invalid username or password', 'wrong-password') }

t.test('a good API key never covers for a wrong Basic password: guesses get 401 and a refusal event, in either order', async (t) => {
  const events = record(t)
  for (const backend of [[admin, attackerKey], [attackerKey, admin]]) {
    const { http, handled } = await serve(t, backend)
    for (const password of ['guess-1', 'guess-2', 'guess-3']) {
      const answer = await get(http, '/me', { 'x-api-key': 'attacker-key', authorization: basicHeader('admin', password) })
      t.same({ status: answer.status, challenge: answer.headers['www-authenticate'], body: answer.body }, wrongPassword, password)
    }
    t.same(handled, [], 'the handler never ran')
    t.same(events.refused.splice(0).map(({ reason, statusCode }) => [reason, statusCode]), Array(3).fill(['wrong-password', 401]))
    t.same(events.authenticated.splice(0).map(({ user }) => user.displayName), [], 'nobody was authenticated')

    t.equal((await get(http, '/me', { 'x-api-key': 'attacker-key' })).body, 'attacker', 'the key alone still works')
    t.equal((await get(http, '/me', { 'x-api-key': 'attacker-key', authorization: basicHeader('admin', 'right') })).body,
      backend[0] === admin ? 'admin' : 'attacker', 'two good credentials: the first backend that recognises the caller wins')
    const unknownKey = await get(http, '/me', { 'x-api-key': 'guess', authorization: basicHeader('admin', 'right') })
    t.same([unknownKey.status, unknownKey.body], [401, refusalBody(401, 'Invalid API key', 'unknown-token')], 'a wrong key next to a good password is refused as well')
    events.authenticated.splice(0)
    events.refused.splice(0)
  }
})

t.test('a WebSocket handshake with a rejected credential gets 403 though another credential is good, and the handler never runs', async (t) => {
  const events = record(t)
  const ticket: AuthenticationBackend = {
    authenticate (request) {
      if (request.headers['x-ticket'] === undefined) return null
      throw new AuthenticationError('Unknown ticket', { statusCode: 401 })
    }
  }
  const cookie: AuthenticationBackend = { authenticate: (request) => request.headers['x-user'] === 'alice' ? caller('alice', ['authenticated']) : null }
  const { ws, handled } = await serve(t, [ticket, cookie])
  t.match(await handshake(ws + '/ws', { 'x-user': 'alice' }), { opened: true, message: 'alice' }, 'the cookie alone opens a socket')
  t.match(await handshake(ws + '/ws', { 'x-ticket': 'used', 'x-user': 'alice' }), { opened: false, status: 403 }, 'with a used ticket: refused')
  t.same(handled, ['/ws'], 'the handler ran for the first handshake only')
  t.same(events.refused.map(({ reason, statusCode }) => [reason, statusCode]), [['unknown-token', 403]])
})

t.test('backends that read the same credential: opaque tokens and JWTs side by side, in either order', async (t) => {
  const jose = await import('jose')
  const token = await new jose.SignJWT({ sub: 'jwt-user' }).setProtectedHeader({ alg: 'HS256' })
    .setAudience('api').setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))
  const tokens = bearer({ tokens: { 'opaque-token': caller('opaque-user') } })
  const jwts = jwt({ secret: SECRET, algorithms: ['HS256'], audience: 'api' })
  for (const backend of [[tokens, jwts], [jwts, tokens]]) {
    const { http } = await serve(t, [...backend, admin])
    t.equal((await get(http, '/me', { authorization: 'Bearer opaque-token' })).body, 'opaque-user')
    t.equal((await get(http, '/me', { authorization: `Bearer ${token}` })).body, 'jwt-user', 'a JWT the tokens backend rejects is the jwt backend\'s')
    const unknown = await get(http, '/me', { authorization: 'Bearer unknown-token' })
    t.same([unknown.status, unknown.headers['www-authenticate']], [401, 'Bearer error="invalid_token", error_description="token unknown"'], 'a token neither knows: 401')
  }
})

t.test('a rejected credential stands until a backend that reads it admits the caller, wherever the other credentials are', async (t) => {
  const calls: string[] = []
  const counted = (name: string, known: string): AuthenticationBackend => bearer({
    verify: (token) => { calls.push(name); return token === known ? caller(name) : null }
  })
  const { http } = await serve(t, [counted('first', 'one'), admin, counted('second', 'two')])
  t.equal((await get(http, '/me', { authorization: 'Bearer two' })).body, 'second', 'rejected by the first, admitted by the second')
  t.same(calls.splice(0), ['first', 'second'])
  t.equal((await get(http, '/me', { authorization: 'Bearer one' })).body, 'first')
  t.same(calls.splice(0), ['first'], 'a backend that reads a credential already admitted is not asked')

  const withPassword = { authorization: 'Bearer two' }
  const { http: both } = await serve(t, [counted('first', 'one'), attackerKey, counted('second', 'two')])
  t.equal((await get(both, '/me', { ...withPassword, 'x-api-key': 'attacker-key' })).body, 'attacker',
    'the key wins, and the token the first rejected was admitted by the second: nothing stands')
  t.same(calls.splice(0), ['first', 'second'])
  const refused = await get(both, '/me', { authorization: 'Bearer three', 'x-api-key': 'attacker-key' })
  t.same([refused.status, refused.headers['www-authenticate']], [401, 'Bearer error="invalid_token", error_description="token unknown"'], 'a token both reject refuses the request')
  t.same(calls.splice(0), ['first', 'second'], 'the backends after the winner are asked, for their rejections')
})

t.test('a later 5xx (a backend could not decide) still wins over an earlier 4xx, across credentials too', async (t) => {
  const down: AuthenticationBackend = {
    async authenticate (request) {
      if (request.headers['x-down'] === undefined) return null
      throw new AuthenticationError('Key set unreachable', { statusCode: 503 })
    }
  }
  const { http } = await serve(t, [admin, down])
  const both = await get(http, '/me', { authorization: basicHeader('admin', 'guess'), 'x-down': '1' })
  t.same([both.status, both.body], [503, refusalBody(503, 'Key set unreachable', 'unavailable')])
  const afterAdmitted = await get(http, '/me', { authorization: basicHeader('admin', 'right'), 'x-down': '1' })
  t.same([afterAdmitted.status, afterAdmitted.body], [503, refusalBody(503, 'Key set unreachable', 'unavailable')], 'a credential that could not be checked refuses the request')
})

t.test('a chain of synchronous backends answers synchronously, its refusals too', async (t) => {
  const request = {} as FastifyRequest
  const refuse: AuthenticationBackend = { authenticate: () => { throw new AuthenticationError('no', { statusCode: 401 }) } }
  const admit: AuthenticationBackend = { authenticate: () => caller('alice') }
  const anonymous: AuthenticationBackend = { authenticate: () => null }
  t.same(runBackends([anonymous, admit, anonymous], request, undefined), caller('alice'))
  t.equal(runBackends([anonymous], request, undefined), null)
  t.throws(() => runBackends([admit, refuse], request, undefined), { message: 'no', statusCode: 401 }, 'thrown, not a rejected promise')
})

t.test('credentials that expire while later backends are asked count as none', async (t) => {
  const brief: AuthenticationBackend = {
    authenticate: () => ({ auth: new AuthCredentials(['authenticated'], { expiresAt: Date.now() + 30 }), user: new SimpleUser('brief') })
  }
  const slow: AuthenticationBackend = { authenticate: async () => { await sleep(80); return null } }
  const { http, ws, handled } = await serve(t, [brief, slow])
  t.equal((await get(http, '/me')).status, 403, 'anonymous by the time the chain ends (no challenge: 403)')
  t.match(await handshake(ws + '/ws'), { opened: false, status: 403 })
  t.same(handled, [])
})
