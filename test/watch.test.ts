// Guards without the plugin fail at startup: the package watches each app created after it is
// imported (lib/routes/watch.ts), and an app with a guarded route that no registration covers fails
// at ready() and listen(), naming the route.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, SimpleUser, requires } from '../lib/index'
import { get, listen } from './helpers'

const backend = { authenticate: () => ({ auth: new AuthCredentials(['admin']), user: new SimpleUser('root') }) }
const said = (route: string, guard: string): string =>
  `fastify-authentication: ${route} has ${guard}, but fastify-authentication does not cover it: register it with \`await app.register(authentication, { backend })\` in this scope or a parent scope (not a sibling one)`

/** Each way to guard a route, in an app that never registers the plugin. */
const unregistered: Array<[string, string, string, (app: FastifyInstance) => Promise<void>]> = [
  ['config.requires', 'GET /admin', 'config.requires', async (app) => {
    app.get('/admin', { config: { requires: 'admin' } }, async () => 'admin')
  }],
  ['a route-level requires()', 'GET /admin', 'requires() in preHandler', async (app) => {
    app.get('/admin', { preHandler: requires('admin') }, async () => 'admin')
  }],
  ['a scope-level requires()', 'GET /admin', 'requires() added with addHook in its scope', async (app) => {
    await app.register(async (admin) => {
      admin.addHook('onRequest', requires('admin'))
      admin.get('/admin', async () => 'admin')
    })
  }],
  ['a WebSocket route', 'GET /ws', 'config.requires', async (app) => {
    await app.register(websocket)
    app.get('/ws', { websocket: true, config: { requires: 'admin' } }, (socket) => { socket.send('open') })
  }]
]

t.test('a guarded route in an app that never registers the plugin fails ready() and listen()', async (t) => {
  for (const [name, route, guard, declare] of unregistered) {
    const app = Fastify()
    await declare(app)
    await t.rejects(async () => { await app.ready() }, { message: said(route, guard) }, `${name}: ready() rejects`)
    await app.close()
    const served = Fastify()
    await declare(served)
    await t.rejects(served.listen({ host: '127.0.0.1', port: 0 }), { message: said(route, guard) }, `${name}: listen() rejects`)
    t.notOk(served.server.listening, `${name}: nothing listens`)
    await served.close()
  }
})

t.test('a registration in a sibling scope does not cover the route', async (t) => {
  const app = Fastify()
  await app.register(async (users) => {
    await users.register(authentication, { backend })
    users.get('/me', { config: { requires: 'admin' } }, async () => 'me')
  })
  await app.register(async (admin) => {
    admin.addHook('preHandler', requires('admin'))
    admin.get('/admin', async () => 'admin')
  })
  await t.rejects(async () => { await app.ready() }, { message: said('GET /admin', 'requires() added with addHook in its scope') })
})

t.test('a registration in the route\'s scope or a parent one covers it, declared before or after the route', async (t) => {
  const app = Fastify()
  app.get('/root', { config: { requires: 'admin' } }, async () => 'root')
  await app.register(async (child) => {
    child.get('/child', { onRequest: requires('admin') }, async () => 'child')
    await child.register(async (grandchild) => {
      // In preHandler: an onRequest guard added before the registration runs before the plugin's hook (README).
      grandchild.addHook('preHandler', requires('admin'))
      grandchild.get('/grandchild', async () => 'grandchild')
    })
  })
  await app.register(authentication, { backend })
  app.get('/open', async () => 'open')
  const { http } = await listen(app, t)
  for (const path of ['/root', '/child', '/grandchild', '/open']) t.equal((await get(http, path)).body, path.slice(1), path)
})

t.test('a route declared before the plugin with requires() in preParsing fails ready()', async (t) => {
  const app = Fastify()
  // Never prepared, it would run as a preParsing hook, which gets the body where a guard expects done.
  app.post('/early', { preParsing: requires('admin') as never }, async () => 'early')
  await app.register(authentication, { backend })
  app.post('/late', { preParsing: requires('admin') as never }, async () => 'late')
  await t.rejects(async () => { await app.ready() }, { message: /POST \/early has requires\(\) in preParsing but was declared before fastify-authentication was registered/ })
})

t.test('declared after the plugin, requires() in preParsing guards as any other', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend })
  app.post('/late', { preParsing: requires('admin') as never }, async () => 'late')
  app.post('/denied', { preParsing: requires('other') as never }, async () => 'denied')
  const { http } = await listen(app, t)
  t.equal((await fetch(http + '/late', { method: 'POST', body: 'x' })).status, 200)
  t.equal((await fetch(http + '/denied', { method: 'POST', body: 'x' })).status, 403)
})

t.test('an app that never uses the plugin is left alone', async (t) => {
  const app = Fastify()
  app.addHook('onRequest', async (request, reply) => { reply.header('x-seen', request.url) })
  app.get('/', async () => 'plain')
  const { http } = await listen(app, t)
  const answer = await get(http, '/')
  t.same([answer.body, answer.headers['x-seen']], ['plain', '/'])
})

t.test('every scope calls the app\'s own addHook, so wrapping it once watches them all', async (t) => {
  const app = Fastify()
  let nested: FastifyInstance | undefined
  await app.register(async (child) => { await child.register(async (grandchild) => { nested = grandchild }) })
  t.equal(nested?.addHook, app.addHook)
  t.notOk(Object.hasOwn(nested as object, 'addHook'), 'inherited through the prototype chain')
})

t.test('another copy of the package: its registration counts, and its guards are its own to check', async (t) => {
  const other = t.mockRequire<typeof import('../lib/index')>('../lib/index')
  const theirBackend = { authenticate: () => ({ auth: new other.AuthCredentials(['admin']), user: new other.SimpleUser('root') }) }
  const app = Fastify()
  await app.register(other.default, { backend: theirBackend })
  app.get('/theirs', { config: { requires: 'admin' }, preHandler: other.requires('admin') }, async () => 'theirs')
  app.get('/mine', { preHandler: requires('admin') }, async () => 'mine')
  const { http } = await listen(app, t)
  t.equal((await get(http, '/theirs')).body, 'theirs', 'this copy does not fail an app the other copy covers')
  t.equal((await get(http, '/mine')).status, 500, 'this copy\'s guard under the other\'s registration fails closed')

  const uncovered = Fastify()
  await uncovered.register(async (scope) => { scope.get('/theirs', { preHandler: other.requires('admin') }, async () => 'theirs') })
  await uncovered.register(async (scope) => { await scope.register(other.default, { backend: theirBackend }) })
  await t.rejects(async () => { await uncovered.ready() }, { message: said('GET /theirs', 'requires() in preHandler') }, 'the other copy checks its own guards')
})
