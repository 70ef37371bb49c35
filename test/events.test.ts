// Audit events on node:diagnostics_channel: every refusal, and every authenticated caller.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, AuthenticationError, SimpleUser, requires } from '../lib/index'
import { get, handshake, listen, record } from './helpers'

const TOKEN = 'secret-token-d41d8cd98f00b204'

async function app (t: Test): Promise<{ http: string, ws: string, server: FastifyInstance }> {
  const server = Fastify()
  await server.register(websocket)
  await server.register(async (covered) => {
    await covered.register(authentication, {
      timeout: 50,
      backend: {
        authenticate (request) {
          const header = request.headers.authorization
          if (header === undefined) return null
          if (header === 'crash') throw new Error('database down')
          if (header === 'slow') return new Promise(() => {})
          if (header !== `Bearer ${TOKEN}`) throw new AuthenticationError('Invalid token', { statusCode: 401 })
          return { auth: new AuthCredentials(['read']), user: new SimpleUser('alice') }
        }
      }
    })
    covered.get('/admin', { preHandler: requires(['admin', 'root'], { match: 'any' }) }, async () => 'admin')
    covered.get('/read', { config: { requires: 'read' } }, async () => 'read')
    covered.get('/ws', { websocket: true }, (socket) => { socket.send('open') })
  })
  const { http, ws } = await listen(server, t)
  return { http, ws, server }
}

t.test('each refusal is published once its answer is out, with the status the client got', async (t) => {
  const { refused, authenticated } = record(t)
  const { http, ws } = await app(t)
  const cases: Array<[string, Record<string, string>, string, number]> = [
    ['/admin', { authorization: `Bearer ${TOKEN}` }, 'missing-scopes', 403],
    ['/read', { authorization: 'Bearer wrong' }, 'unknown-token', 401],
    ['/read', { authorization: 'crash' }, 'backend-error', 500],
    ['/read', { authorization: 'slow' }, 'timeout', 503]
    // 'not-covered' (500): a covered route cannot get it, as an uncovered guard fails the app at startup (test/watch-unwatched.test.ts).
  ]
  for (const [path, headers, reason, statusCode] of cases) {
    t.equal((await get(http, path, headers)).status, statusCode, `${path} ${reason}`)
  }
  const refusedHandshake = await handshake(ws + '/ws', { origin: 'http://evil.example' })
  t.equal(refusedHandshake.opened ? 'opened' : refusedHandshake.status, 403)
  t.same(refused.map(({ reason, statusCode }) => [reason, statusCode]), [...cases.map(([, , reason, status]) => [reason, status]), ['foreign-origin', 403]])
  t.same(refused[0].required, ['admin', 'root'], 'missing scopes name the required scopes')
  t.ok(Object.isFrozen(refused[0].required), 'frozen: a subscriber cannot weaken the guard')
  t.same(refused.map((message) => Object.keys(message).sort()), refused.map((message) => message.reason === 'missing-scopes' ? ['reason', 'request', 'required', 'statusCode'] : ['reason', 'request', 'statusCode']))
  t.equal(refused[0].request.url, '/admin', 'the request is the Fastify request')
  const { request: _, ...rest } = refused[1]
  t.notMatch(JSON.stringify(rest), /wrong|secret-token/, 'no credential in the message itself')
  t.same(authenticated.map(({ user, request }) => [user.displayName, request.url]), [['alice', '/admin']], 'the authenticated caller')
})

t.test('the authenticated channel carries the user; nothing is published to nobody', async (t) => {
  const { http } = await app(t)
  t.equal((await get(http, '/read', { authorization: `Bearer ${TOKEN}` })).body, 'read', 'no subscriber: the requests are served as usual')
  const { authenticated, refused } = record(t)
  t.equal((await get(http, '/read', { authorization: `Bearer ${TOKEN}` })).body, 'read')
  t.equal(authenticated.length, 1)
  t.equal(authenticated[0].user.identity, 'alice')
  t.same(refused, [])
})
