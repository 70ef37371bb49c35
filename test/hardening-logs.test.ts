import t from 'tap'
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, AuthenticationError, SimpleUser, requires } from '../lib/index'
import { get, handshake, listen, logLines } from './helpers'

// At log level trace, on every path (success and every failure), no credential from a request
// reaches the logs.

const token = (kind: string): string => `${kind}_${randomBytes(18).toString('hex')}`

/** The status and all the client got back (body and headers), to look for an echoed credential. */
interface Reply { status: number, text: string }

async function plain (origin: string, path: string, headers: Record<string, string>): Promise<Reply> {
  const answer = await get(origin, path, headers)
  return { status: answer.status, text: answer.body + JSON.stringify(answer.headers) }
}

async function upgrade (url: string, headers: Record<string, string>): Promise<Reply> {
  const answer = await handshake(url, headers)
  return answer.opened ? { status: 101, text: answer.message } : { status: answer.status, text: answer.body + JSON.stringify(answer.headers) }
}

t.test('no credential reaches the logs, at level trace, on any path', async (t) => {
  const { stream, lines } = logLines()
  const app = Fastify({ logger: { level: 'trace', stream } })
  await app.register(websocket)
  // Sessions and bearer tokens this test hands out; anything else is refused with AuthenticationError.
  const known = new Map<string, { name: string, scopes: string[] }>()
  await app.register(authentication, {
    timeout: 100,
    challenge: 'Bearer realm="api"',
    backend: [
      {
        authenticate (request: FastifyRequest) {
          const header = request.headers.authorization
          if (header === undefined) return null
          const mode = request.headers['x-mode']
          // Misbehaving on purpose, with the credential itself as the bad value.
          if (mode === 'return') return header as never
          if (mode === 'throw') throw header
          if (mode === 'reject') return Promise.reject(header)
          if (mode === 'slow') return new Promise(() => {})
          const found = known.get(header.replace(/^Bearer /, ''))
          if (found === undefined) throw new AuthenticationError('Invalid token')
          return Promise.resolve({ auth: new AuthCredentials(found.scopes), user: new SimpleUser(found.name) })
        }
      },
      {
        authenticate (request: FastifyRequest) {
          const session = /(?:^|; )session=([^;]+)/.exec(request.headers.cookie ?? '')?.[1]
          if (session === undefined) return null
          const found = known.get(session)
          if (found === undefined) throw new AuthenticationError('Invalid session')
          return { auth: new AuthCredentials(found.scopes), user: new SimpleUser(found.name) }
        }
      }
    ]
  })
  app.get('/open', async (request) => {
    request.log.info('handler ran')
    return request.user.displayName
  })
  app.get('/member', { config: { requires: 'member' } }, async (request) => request.user.displayName)
  app.get('/admin', { config: { requires: { scopes: 'admin', statusCode: 401 } } }, async () => 'admin')
  app.get('/page', { config: { requires: { scopes: 'admin', redirect: '/login' } } }, async () => 'page')
  app.get('/ws', { websocket: true, preHandler: requires('member') }, (socket, request) => {
    socket.send(request.user.displayName)
  })
  const { http, ws } = await listen(app, t)

  const secrets: string[] = []
  const issue = (scopes: string[]): string => {
    const value = token('tok')
    known.set(value, { name: 'member-' + known.size, scopes })
    secrets.push(value)
    return value
  }
  const unknown = (kind: string): string => {
    const value = token(kind)
    secrets.push(value)
    return value
  }

  const cases: Array<[string, () => Promise<Reply>, number]> = [
    ['anonymous, with an unrelated cookie', () => plain(http, '/open', { cookie: `theme=${unknown('theme')}` }), 200],
    ['accepted bearer token', () => plain(http, '/member', { authorization: `Bearer ${issue(['member'])}` }), 200],
    ['accepted session cookie', () => plain(http, '/member', { cookie: `lang=en; session=${issue(['member'])}` }), 200],
    ['denied 403', () => plain(http, '/member', { authorization: `Bearer ${issue([])}` }), 403],
    ['denied 401', () => plain(http, '/admin', { cookie: `session=${issue(['member'])}` }), 401],
    ['anonymous 401', () => plain(http, '/admin', { cookie: `other=${unknown('other')}` }), 401],
    ['redirect 303', () => plain(http, '/page', { cookie: `other=${unknown('redirected')}` }), 303],
    ['recognised on a redirect route 403', () => plain(http, '/page', { authorization: `Bearer ${issue(['member'])}` }), 403],
    ['AuthenticationError 400 (bearer)', () => plain(http, '/open', { authorization: `Bearer ${unknown('bad')}` }), 400],
    ['AuthenticationError 400 (cookie)', () => plain(http, '/open', { cookie: `session=${unknown('badsession')}` }), 400],
    ['WebSocket accepted', () => upgrade(ws + '/ws', { authorization: `Bearer ${issue(['member'])}` }), 101],
    ['WebSocket refused (scope)', () => upgrade(ws + '/ws', { cookie: `session=${issue([])}` }), 403],
    ['WebSocket refused (bad token)', () => upgrade(ws + '/ws', { authorization: `Bearer ${unknown('badws')}` }), 403],
    ['WebSocket refused (anonymous)', () => upgrade(ws + '/ws', { cookie: `theme=${unknown('wstheme')}` }), 403],
    ['backend returns the credential: 500', () => plain(http, '/open', { authorization: `Bearer ${unknown('returned')}`, 'x-mode': 'return' }), 500],
    ['backend throws the credential: 500', () => plain(http, '/open', { authorization: `Bearer ${unknown('thrown')}`, 'x-mode': 'throw' }), 500],
    ['backend rejects with the credential: 500', () => plain(http, '/member', { authorization: `Bearer ${unknown('rejected')}`, 'x-mode': 'reject' }), 500],
    ['WebSocket with a throwing backend: 500', () => upgrade(ws + '/ws', { authorization: `Bearer ${unknown('wsthrown')}`, 'x-mode': 'throw' }), 500],
    ['timeout 503', () => plain(http, '/member', { authorization: `Bearer ${unknown('slow')}`, cookie: `session=${unknown('slowsession')}`, 'x-mode': 'slow' }), 503]
  ]
  const bodies: string[] = []
  for (const [name, run, status] of cases) {
    const answer = await run()
    t.equal(answer.status, status, `${name}: ${status}`)
    bodies.push(answer.text)
  }
  await app.close() // flushes the last 'request completed' lines

  const text = lines.join('\n')
  t.ok(lines.length >= cases.length * 2, `logs were captured (${lines.length} lines)`)
  t.match(text, /handler ran/, 'the handler logs are there')
  t.match(text, /fastify-authentication: refused \(malformed-credentials\)/, 'the plugin debug line is there')
  t.match(text, /backend\.authenticate\(request\) must return/, 'the contract error is there')
  t.match(text, /did not answer within 100 ms/, 'the timeout is there')
  const leaked = secrets.filter((secret) => text.includes(secret))
  t.same(leaked, [], `none of the ${secrets.length} credentials is in the logs`)
  const echoed = secrets.filter((secret) => bodies.some((body) => body.includes(secret)))
  t.same(echoed, [], 'nor in any answer')
})
