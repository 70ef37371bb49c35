// The rule this plugin makes explicit: HTTP gets the status the route chose; a WebSocket handshake always gets 403.
import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { requires } from '../lib/index'
import { basic, basicAuth, handshake, listen } from './helpers'

t.test('seed scenario: the same requires() gives 401 over HTTP and 403 to a WebSocket handshake', async (t) => {
  const app = Fastify()
  await app.register(websocket)
  await app.register(authentication, { backend: basicAuth, challenge: 'Basic realm="api"' })
  const guard = requires('authenticated', { statusCode: 401 })
  let opened = 0
  app.get('/api', { preHandler: guard }, async (request) => ({ user: request.user.displayName }))
  app.get('/ws', { websocket: true, preHandler: guard }, (socket, request) => {
    opened++
    socket.send(`hello ${request.user.displayName}`)
  })
  const { http, ws } = await listen(app, t)

  const response = await fetch(http + '/api')
  t.equal(response.status, 401)
  t.equal(response.headers.get('www-authenticate'), 'Basic realm="api"')

  const refused = await handshake(ws + '/ws')
  t.equal(refused.opened, false)
  if (!refused.opened) {
    t.equal(refused.status, 403)
    t.equal(refused.headers['www-authenticate'], undefined, 'a refused handshake carries no challenge')
    t.same(JSON.parse(refused.body), { statusCode: 403, code: 'FST_AUTHENTICATION_MISSING_SCOPES', error: 'Forbidden', message: 'Missing required scope', reason: 'missing-scopes' })
  }
  t.equal(opened, 0, 'the WebSocket handler never ran')

  t.same(await handshake(ws + '/ws', { authorization: basic('tom') }), { opened: true, message: 'hello tom' })
  t.equal(opened, 1)
})

t.test('a redirecting guard still refuses handshakes with 403', async (t) => {
  const app = Fastify()
  await app.register(websocket)
  await app.register(authentication, { backend: basicAuth })
  app.get('/live', { websocket: true, preHandler: requires('authenticated', { redirect: '/login' }) }, (socket) => {
    socket.send('live')
  })
  const { ws } = await listen(app, t)
  t.match(await handshake(ws + '/live'), { opened: false, status: 403 })
})

t.test('without @fastify/websocket, an upgrade request is still refused with 403', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: basicAuth })
  let ran = 0
  app.get('/ws', { preHandler: requires('authenticated', { statusCode: 401, redirect: '/login' }) }, async () => { ran++ })
  app.get('/bad-credentials', async () => { ran++ })
  const { http, ws } = await listen(app, t)
  t.match(await handshake(ws + '/ws'), { opened: false, status: 403 })
  t.match(await handshake(ws + '/bad-credentials', { authorization: 'basic foobar' }), { opened: false, status: 403 })
  const upgradeHeader = await app.inject({ url: '/ws', headers: { upgrade: 'WebSocket' } })
  t.equal(upgradeHeader.statusCode, 403, 'the Upgrade header alone marks a handshake, in any case')
  t.equal((await fetch(http + '/ws', { redirect: 'manual' })).status, 303, 'plain HTTP is redirected')
  t.equal(ran, 0)
})
