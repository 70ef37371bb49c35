import t, { type Test } from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import authentication, {
  AuthCredentials, AuthenticationError, SimpleUser, requires, type AuthenticationBackend, type AuthenticationOptions
} from '../lib/index'
import { handshake, listen, logLines, refusalBody } from './helpers'

function named (name: string, answer: 'user' | 'null' | 'undefined' | 'refuse', calls: string[], async = false): AuthenticationBackend {
  return {
    authenticate (request: FastifyRequest) {
      calls.push(name)
      if (request.headers['x-backend'] !== name && answer === 'user') return null
      const result = answer === 'user'
        ? { auth: new AuthCredentials(['read']), user: new SimpleUser(name) }
        : answer === 'refuse'
          ? (() => { throw new AuthenticationError(`${name} refused`) })()
          : answer === 'null' ? null : undefined
      return async ? Promise.resolve(result) : result
    }
  }
}

t.test('backends are tried in order; the first that recognises the caller wins, and later ones are asked for rejections only', async (t) => {
  for (const async of [false, true]) {
    const calls: string[] = []
    const app = Fastify()
    await app.register(authentication, {
      backend: [named('a', 'user', calls, async), named('none', 'null', calls), named('b', 'user', calls, !async), named('nothing', 'undefined', calls, async)]
    })
    app.get('/', async (request) => request.user.displayName)
    const { http } = await listen(app, t)
    t.equal(await (await fetch(http + '/', { headers: { 'x-backend': 'b' } })).text(), 'b')
    t.same(calls.splice(0), ['a', 'none', 'b', 'nothing'], 'each backend reads a credential of its own: each is asked')
    t.equal(await (await fetch(http + '/', { headers: { 'x-backend': 'a' } })).text(), 'a')
    t.same(calls.splice(0), ['a', 'none', 'b', 'nothing'])
    t.equal(await (await fetch(http + '/')).text(), '', 'nobody recognised: anonymous')
    t.same(calls.splice(0), ['a', 'none', 'b', 'nothing'])
  }
})

t.test('an AuthenticationError refuses the request, whoever recognises the caller: the first error answers', async (t) => {
  for (const async of [false, true]) {
    const calls: string[] = []
    const app = Fastify()
    await app.register(authentication, {
      backend: [named('none', 'null', calls, async), named('strict', 'refuse', calls, async), named('later', 'refuse', calls, !async), named('b', 'user', calls, async)]
    })
    app.get('/', async (request) => request.user.displayName)
    const { http } = await listen(app, t)
    const recognised = await fetch(http + '/', { headers: { 'x-backend': 'b' } })
    t.same([recognised.status, await recognised.text()], [400, refusalBody(400, 'strict refused', 'malformed-credentials')], 'a later backend that reads another credential recognised the caller: refused')
    t.same(calls.splice(0), ['none', 'strict', 'later', 'b'])
    const response = await fetch(http + '/')
    t.equal(response.status, 400)
    // Issue 23: JSON, no longer text/plain.
    t.equal(response.headers.get('content-type'), 'application/json; charset=utf-8')
    t.equal(await response.text(), refusalBody(400, 'strict refused', 'malformed-credentials'), 'the first AuthenticationError')
    t.same(calls.splice(0), ['none', 'strict', 'later', 'b'])
    await app.close()
  }
})

t.test('a backend that could not decide (a 5xx AuthenticationError) wins over an earlier 4xx refusal', async (t) => {
  const refusing = (statusCode: number, message: string): AuthenticationBackend => ({
    async authenticate () { throw new AuthenticationError(message, { statusCode }) }
  })
  const app = Fastify()
  await app.register(authentication, {
    backend: [refusing(401, 'unknown token'), refusing(503, 'key set down'), refusing(502, 'later server error'), refusing(400, 'malformed')]
  })
  app.get('/', async () => 'handler')
  const { http } = await listen(app, t)
  const response = await fetch(http + '/')
  t.same([response.status, await response.text()], [503, refusalBody(503, 'key set down', 'unavailable')], 'the first 5xx: the credentials may be good')
})

t.test('anonymous requests get empty credentials and an UnauthenticatedUser', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: { authenticate: () => null } })
  app.get('/', async (request) => ({
    scopes: request.auth.scopes, isAuthenticated: request.user.isAuthenticated, displayName: request.user.displayName, identity: request.user.identity
  }))
  const { http } = await listen(app, t)
  t.same(await (await fetch(http + '/')).json(), { scopes: [], isAuthenticated: false, displayName: '', identity: '' })
})

t.test('a backend error that is not an AuthenticationError goes to Fastify\'s error handler', async (t) => {
  let ran = 0
  const app = Fastify({ logger: { level: 'error', stream: logLines().stream } })
  await app.register(authentication, { backend: { authenticate: () => { throw new Error('database down') } } })
  app.get('/', async () => { ran++ })
  const { http } = await listen(app, t)
  const response = await fetch(http + '/')
  t.equal(response.status, 500)
  t.equal(ran, 0)
})

async function withOnError (t: Test, onError: AuthenticationOptions['onError']) {
  const lines = logLines()
  const app = Fastify({ logger: { level: 'error', stream: lines.stream } })
  await app.register(websocket)
  await app.register(authentication, { backend: named('strict', 'refuse', []), onError })
  app.get('/', { preHandler: requires('read') }, async () => 'handler')
  app.get('/ws', { websocket: true }, (socket) => { socket.send('opened') })
  return { ...(await listen(app, t)), lines }
}

t.test('onError decides what HTTP requests get', async (t) => {
  const cases: Array<[string, AuthenticationOptions['onError'], number, string]> = [
    ['sends', (error, _request, reply) => { reply.code(401).send({ error: error.message }) }, 401, '{"error":"strict refused"}'],
    ['returns a payload', (error, _request, reply) => { reply.code(401); return `no: ${error.message}` }, 401, 'no: strict refused'],
    ['resolves a payload', async (_error, _request, reply) => { reply.code(418); return { late: true } }, 418, '{"late":true}'],
    ['resolves the reply it sent', async (_error, _request, reply) => reply.code(402).send('pay'), 402, 'pay']
  ]
  for (const [name, onError, status, body] of cases) {
    const { http } = await withOnError(t, onError)
    const response = await fetch(http + '/')
    t.equal(response.status, status, name)
    t.equal(await response.text(), body, name)
  }
})

t.test('an onError that fails or forgets to reply ends in a 500, never the handler', async (t) => {
  const cases: Array<[string, AuthenticationOptions['onError'], RegExp]> = [
    ['throws', () => { throw new Error('onError broke') }, /onError broke/],
    ['rejects', async () => { throw new Error('onError rejected') }, /onError rejected/],
    ['returns nothing', () => {}, /onError\(error, request, reply\) neither sent a reply nor returned a payload/],
    ['returns the reply unsent', (_error, _request, reply) => reply.code(401), /neither sent a reply/]
  ]
  for (const [name, onError, message] of cases) {
    const { http, lines } = await withOnError(t, onError)
    const response = await fetch(http + '/')
    t.equal(response.status, 500, name)
    t.match(lines.messages().join('\n'), message, name)
  }
})

t.test('a WebSocket handshake that fails authentication gets 403, whatever onError does', async (t) => {
  let called = 0
  const { ws } = await withOnError(t, (_error, _request, reply) => { called++; reply.code(401).send('custom') })
  const refused = await handshake(ws + '/ws')
  t.match(refused, { opened: false, status: 403 })
  t.equal(called, 0)
})
