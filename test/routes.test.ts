import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, SimpleUser, requires } from '../lib/index'
import { handshake, listen, logLines } from './helpers'

let calls = 0
const headerScopes = {
  authenticate (request: { headers: Record<string, unknown> }) {
    calls++
    const header = request.headers['x-scopes']
    if (typeof header !== 'string') return null
    return { auth: new AuthCredentials(header.split(',')), user: new SimpleUser('scoped') }
  }
}
const READ = { headers: { 'x-scopes': 'read' } }

t.test('config.requires: a scope, an array, or the full options', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: headerScopes, challenge: 'Basic realm="api"' })
  app.get('/one', { config: { requires: 'read' } }, async () => 'ok')
  app.get('/all', { config: { requires: ['read', 'write'] } }, async () => 'ok')
  app.get('/options', { config: { requires: { scopes: ['read', 'write'], match: 'any', statusCode: 401 } } }, async () => 'ok')
  app.get('/redirect', { config: { requires: { scopes: 'read', redirect: '/login' } } }, async () => 'ok')
  const { http } = await listen(app, t)

  t.equal((await fetch(http + '/one')).status, 401, 'an anonymous caller is asked to authenticate: a challenge is known')
  t.equal((await fetch(http + '/one', READ)).status, 200)
  t.equal((await fetch(http + '/all', READ)).status, 403)
  t.equal((await fetch(http + '/all', { headers: { 'x-scopes': 'read,write' } })).status, 200)
  const refused = await fetch(http + '/options')
  t.equal(refused.status, 401)
  t.equal(refused.headers.get('www-authenticate'), 'Basic realm="api"')
  t.equal((await fetch(http + '/options', READ)).status, 200)
  const redirected = await fetch(http + '/redirect?x=1', { redirect: 'manual' })
  t.equal(redirected.status, 303)
  t.equal(redirected.headers.get('location'), '/login?next=%2Fredirect%3Fx%3D1')
})

t.test('config.requires and requires hooks together: every guard applies, the backend runs once', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: headerScopes })
  app.get('/', { config: { requires: 'read' }, preHandler: [requires('write'), requires('read')] }, async () => 'ok')
  const { http } = await listen(app, t)
  calls = 0
  t.equal((await fetch(http + '/', READ)).status, 403)
  t.equal((await fetch(http + '/', { headers: { 'x-scopes': 'write' } })).status, 403)
  t.equal((await fetch(http + '/', { headers: { 'x-scopes': 'read,write' } })).status, 200)
  t.equal(calls, 3)
})

t.test('routes share a plan only when they ask for the same: one field apart, each keeps its own answer', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: headerScopes, challenge: 'Basic realm="api"' })
  app.get('/read', { config: { requires: 'read' } }, async () => 'ok')
  app.get('/read-again', { preHandler: requires('read') }, async () => 'ok')
  app.get('/read-404', { config: { requires: { scopes: 'read', statusCode: 404 } } }, async () => 'ok')
  app.get('/read-login', { config: { requires: { scopes: 'read', redirect: '/login' } } }, async () => 'ok')
  app.get('/any', { config: { requires: { scopes: ['read', 'write'], match: 'any' } } }, async () => 'ok')
  app.get('/all', { config: { requires: ['read', 'write'] } }, async () => 'ok')
  app.get('/anonymous', { config: { authenticate: false, requires: 'read' } }, async () => 'ok')
  // The same two guards, in the other order: the first one failed answers.
  app.get('/write-first', { preHandler: [requires('write', { statusCode: 404 }), requires('read', { statusCode: 410 })] }, async () => 'ok')
  app.get('/read-first', { preHandler: [requires('read', { statusCode: 410 }), requires('write', { statusCode: 404 })] }, async () => 'ok')
  // The same guard under another registration, whose backend grants 'read' to everyone.
  await app.register(async (child) => {
    await child.register(authentication, { backend: { authenticate: () => ({ auth: new AuthCredentials(['read']), user: new SimpleUser('everyone') }) } })
    child.get('/child/read', { config: { requires: 'read' } }, async () => 'ok')
  })
  const { http } = await listen(app, t)
  const status = async (path: string, scopes?: string): Promise<number> =>
    (await fetch(http + path, { redirect: 'manual', headers: scopes === undefined ? {} : { 'x-scopes': scopes } })).status
  const expected: Array<[string, string | undefined, number]> = [
    ['/read', 'write', 403], ['/read', 'read', 200], ['/read-again', 'write', 403], ['/read-again', 'read', 200],
    ['/read-404', 'write', 404], ['/read-login', 'write', 403], ['/read-login', undefined, 303],
    ['/any', 'write', 200], ['/all', 'write', 403],
    ['/anonymous', 'read', 401],
    ['/write-first', 'other', 404], ['/read-first', 'other', 410],
    ['/read', undefined, 401], ['/child/read', undefined, 200]
  ]
  for (const [path, scopes, answer] of expected) t.equal(await status(path, scopes), answer, `${path} with ${scopes ?? 'no scopes'}`)
})

t.test('config.authenticate: false skips the backend; the request is anonymous', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: headerScopes })
  app.get('/health', { config: { authenticate: false } }, async (request) => ({
    user: request.user.isAuthenticated, scopes: request.auth.scopes
  }))
  app.get('/guarded', { config: { authenticate: false, requires: 'read' } }, async () => 'ok')
  const { http } = await listen(app, t)
  calls = 0
  t.same(await (await fetch(http + '/health', READ)).json(), { user: false, scopes: [] })
  t.equal((await fetch(http + '/guarded', READ)).status, 403)
  t.equal(calls, 0, 'the backend never ran')
})

t.test('a route declared before the plugin is covered all the same', async (t) => {
  const app = Fastify({ logger: { level: 'error', stream: logLines().stream } })
  let ran = 0
  app.get('/early', { config: { requires: 'read' } }, async (request) => { ran++; return request.user.displayName })
  app.get('/early-hook', { preHandler: requires('read') }, async () => { ran++; return 'ok' })
  app.get('/early-bad', { config: { requires: { scopes: 'read', statusCode: 200 } } }, async () => { ran++ })
  await app.register(authentication, { backend: headerScopes })
  const { http } = await listen(app, t)
  t.equal((await fetch(http + '/early')).status, 403)
  t.equal((await fetch(http + '/early', { method: 'HEAD' })).status, 403)
  t.equal(await (await fetch(http + '/early', READ)).text(), 'scoped')
  t.equal((await fetch(http + '/early-hook')).status, 403)
  t.equal((await fetch(http + '/early-bad', READ)).status, 500, 'its bad config refuses every request')
  t.equal(ran, 1)
})

t.test('bad route config fails at startup, naming the route', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [{ requires: '' }, /config.requires of GET \/x: scopes must be/],
    [{ requires: { scopes: 'read', statusCode: 302 } }, /config.requires of GET \/x: statusCode must be/],
    [{ requires: { scopes: 'read', typo: true } }, /unknown option "typo"/],
    [{ authenticate: 'no' }, /config.authenticate of GET \/x must be true or false/]
  ]
  for (const [config, message] of bad) {
    const app = Fastify()
    await app.register(authentication, { backend: headerScopes })
    await t.rejects(async () => {
      app.get('/x', { config: config as object }, async () => 'ok')
      await app.ready()
    }, message)
  }
})

t.test('a WebSocket route asking for another answer than 403 is warned about at startup', async (t) => {
  const lines = logLines()
  const app = Fastify({ logger: { level: 'warn', stream: lines.stream } })
  await app.register(websocket)
  await app.register(authentication, { backend: headerScopes })
  const noop = () => {}
  app.get('/ws-401', { websocket: true, preHandler: requires('read', { statusCode: 401 }) }, noop)
  app.get('/ws-redirect', { websocket: true, config: { requires: { scopes: 'read', redirect: '/login' } } }, noop)
  app.get('/ws-403', { websocket: true, preHandler: [requires('read')], config: { requires: 'read' } }, noop)
  app.get('/http-401', { preHandler: requires('read', { statusCode: 401 }) }, noop)
  await app.ready()
  const warned = lines.messages().filter((message) => message.includes('always refused with 403'))
  t.equal(warned.length, 2)
  t.match(warned[0], /GET \/ws-401 is a WebSocket route/)
  t.match(warned[1], /GET \/ws-redirect is a WebSocket route/)
  await app.close()
})

t.test('config.requires on a WebSocket route refuses the handshake with 403', async (t) => {
  const app = Fastify({ logger: { level: 'error', stream: logLines().stream } })
  await app.register(websocket)
  await app.register(authentication, { backend: headerScopes })
  app.get('/ws', { websocket: true, config: { requires: { scopes: 'read', statusCode: 401, redirect: '/login' } } }, (socket) => {
    socket.send('welcome')
  })
  const { ws } = await listen(app, t)
  t.match(await handshake(ws + '/ws'), { opened: false, status: 403 })
  t.same(await handshake(ws + '/ws', { 'x-scopes': 'read' }), { opened: true, message: 'welcome' })
})
