import t from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, SimpleUser, requires, type AuthenticationBackend } from '../lib/index'
import { basic, basicAuth, get, handshake, listen, logLines, upgradeStatus } from './helpers'

// A backend that breaks its contract fails the request with 500 and a log line that says
// which contract: the handler never runs and no WebSocket is upgraded.

const user = new SimpleUser('mallory')
const auth = new AuthCredentials(['admin'])
const CONTRACT = 'backend.authenticate(request)'

// What a backend answers instead of { auth: AuthCredentials, user: BaseUser } | null | undefined.
const badResults: Array<[string, () => unknown]> = [
  ['a result without user', () => ({ auth })],
  ['a result without auth', () => ({ user })],
  ['auth as a plain object', () => ({ auth: { scopes: ['admin'] }, user })],
  ['auth as a plain object whose scopes is a string', () => ({ auth: { scopes: 'admin' }, user })],
  ['a user that is a string', () => ({ auth, user: 'mallory' })],
  ['a user without identity', () => ({ auth, user: { isAuthenticated: true, displayName: 'mallory' } })],
  ['a user whose isAuthenticated is a string', () => ({ auth, user: { isAuthenticated: 'yes', displayName: 'm', identity: 'm' } })],
  ['the number 1', () => 1],
  ['the number 0', () => 0],
  ['the string x', () => 'x'],
  ['the empty string', () => ''],
  ['true', () => true],
  ['false', () => false],
  ['an empty array', () => []],
  ['an array [auth, user]', () => [auth, user]],
  ['a function', () => () => user],
  ['a symbol', () => Symbol('admin')],
  // Pass `instanceof AuthCredentials` without being one: scopes a string, or no scopes at all.
  ['an AuthCredentials look-alike whose scopes is a string', () => ({ auth: Object.setPrototypeOf({ scopes: 'admin' }, AuthCredentials.prototype), user })],
  ['an AuthCredentials that was never constructed', () => ({ auth: Object.create(AuthCredentials.prototype), user })]
]

// What a backend throws (or rejects with) instead of an Error.
const nonErrors: Array<[string, unknown]> = [
  ['the string oops', 'oops'],
  ['null', null],
  ['undefined', undefined],
  ['the number 42', 42],
  ['an object that looks like an error', { message: 'boom', statusCode: 200 }]
]

interface Behaviour { name: string, authenticate: () => unknown, contract: boolean }
const behaviours: Behaviour[] = []
for (const [name, make] of badResults) {
  behaviours.push({ name: `returns ${name}`, authenticate: make, contract: true })
  behaviours.push({ name: `resolves to ${name}`, authenticate: async () => make(), contract: true })
}
for (const [name, value] of nonErrors) {
  behaviours.push({ name: `throws ${name}`, authenticate: () => { throw value }, contract: true })
  behaviours.push({ name: `rejects with ${name}`, authenticate: () => Promise.reject(value), contract: true })
}
behaviours.push({ name: 'throws an Error', authenticate: () => { throw new Error('backend bug') }, contract: false })
behaviours.push({ name: 'rejects with an Error', authenticate: () => Promise.reject(new Error('backend bug')), contract: false })
behaviours.push({ name: 'builds AuthCredentials from a string', authenticate: () => ({ auth: new AuthCredentials('admin' as unknown as string[]), user }), contract: false })

t.test('a misbehaving backend fails the request with 500', async (t) => {
  const logs = logLines()
  const app = Fastify({ logger: { level: 'trace', stream: logs.stream }, requestIdHeader: 'x-request-id' })
  await app.register(websocket)
  // A first backend that passes (sync or async) and the misbehaving one, chosen per request.
  const pass: AuthenticationBackend = { authenticate: (request) => request.headers['x-first'] === 'async' ? Promise.resolve(null) : null }
  const misbehaving: AuthenticationBackend = {
    authenticate (request: FastifyRequest) {
      const behaviour = behaviours[Number(request.headers['x-behaviour'])]
      return behaviour === undefined ? basicAuth.authenticate(request) : behaviour.authenticate() as ReturnType<AuthenticationBackend['authenticate']>
    }
  }
  await app.register(authentication, { backend: [pass, misbehaving] })
  const handled: string[] = []
  app.get('/open', async (request) => { handled.push(request.url); return 'open' })
  // 'adm' is a prefix of the 'admin' scope the look-alikes carry: only an exact match may grant it.
  app.get('/guarded', { config: { requires: 'adm' } }, async (request) => { handled.push(request.url); return 'guarded' })
  app.get('/ws', { websocket: true, preHandler: requires('admin') }, (socket, request) => {
    handled.push(request.url)
    socket.send('upgraded')
  })
  app.get('/ws-open', { websocket: true }, (socket, request) => {
    handled.push(request.url)
    socket.send('upgraded')
  })
  const { http, ws } = await listen(app, t)

  let id = 0
  for (const [index, behaviour] of behaviours.entries()) {
    t.test(`a backend that ${behaviour.name}`, async (t) => {
      const first = index % 2 === 0 ? 'sync' : 'async'
      const headers = (): Record<string, string> => ({ 'x-behaviour': String(index), 'x-first': first, 'x-request-id': `case-${++id}` })
      const before = handled.length
      const answers = await Promise.all([
        ...['/open', '/guarded'].map(async (path): Promise<[string, string, number]> => {
          const h = headers()
          return [h['x-request-id'], path, (await get(http, path, h)).status]
        }),
        ...['/ws', '/ws-open'].map(async (path): Promise<[string, string, number]> => {
          const h = headers()
          return [h['x-request-id'], `${path} (WebSocket)`, await upgradeStatus(ws + path, h)]
        })
      ])
      for (const [requestId, what, status] of answers) {
        t.equal(status, 500, `${what} answers 500`)
        const logged = logs.entries().filter((entry) => entry.reqId === requestId && Number(entry.level) >= 50)
        const text = JSON.stringify(logged)
        t.ok(logged.length > 0 && text.includes(behaviour.contract ? CONTRACT : 'Error'), `${what}: an error is logged${behaviour.contract ? ' naming the backend contract' : ''}`)
      }
      t.same(handled.slice(before), [], 'no handler ran')
    })
  }

  t.test('the server still works afterwards', async (t) => {
    t.equal((await get(http, '/guarded', {})).status, 403)
    t.same(await handshake(ws + '/ws-open'), { opened: true, message: 'upgraded' })
  })
})

t.test('the contract errors name the problem, never the values', async (t) => {
  const logs = logLines()
  const app = Fastify({ logger: { level: 'trace', stream: logs.stream } })
  const secret = 'Basic ' + Buffer.from('mallory:hunter2-' + Math.random().toString(36).slice(2)).toString('base64')
  await app.register(authentication, {
    backend: {
      authenticate (request) {
        const value = request.headers.authorization
        const mode = request.headers['x-mode']
        if (mode === 'return') return value as never
        if (mode === 'user') return { auth, user: value } as never
        if (mode === 'reject') return Promise.reject(value)
        throw value
      }
    }
  })
  app.get('/', async () => 'never')
  const { http } = await listen(app, t)
  const bodies: string[] = []
  for (const mode of ['return', 'user', 'reject', 'throw']) {
    const answer = await get(http, '/', { authorization: secret, 'x-mode': mode })
    t.equal(answer.status, 500, `${mode}: 500`)
    bodies.push(answer.body)
  }
  const text = logs.lines.join('\n')
  t.match(text, /returned a string/, 'the log says what was returned')
  t.match(text, /its user is a string/, 'the log says which part is wrong')
  t.match(text, /threw a string instead of an Error/, 'the log says what was thrown')
  t.notOk(text.includes(secret) || text.includes(secret.slice(6)), 'the credential is not in the logs')
  t.notOk(bodies.join('\n').includes(secret.slice(6)), 'nor in the answers')
})

t.test('a misbehaving backend fails closed, even after another recognised the caller', async (t) => {
  // The backends after the winner are asked for their rejections (the chain rule): a broken one is a 500, never ignored.
  const app = Fastify()
  let asked = 0
  await app.register(authentication, { backend: [basicAuth, { authenticate: () => { asked++; return 'x' as never } }] })
  app.get('/', async (request) => request.user.displayName)
  const { http } = await listen(app, t)
  t.equal((await get(http, '/', { authorization: basic('ann') })).status, 500)
  t.equal(asked, 1)
  t.equal((await get(http, '/', {})).status, 500, 'an anonymous caller reaches the broken backend')
  t.equal(asked, 2)
})
