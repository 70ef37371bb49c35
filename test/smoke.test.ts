import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { requires } from '../lib/index'
import { basic, basicAuth, handshake, listen } from './helpers'

t.test('seed', async (t) => {
  const app = Fastify()
  await app.register(websocket)
  await app.register(authentication, { backend: basicAuth })
  app.get('/ws', { websocket: true, preHandler: requires('authenticated', { statusCode: 401 }) }, (socket, request) => {
    socket.send(request.user.displayName)
  })
  const { ws } = await listen(app, t)
  const refused = await handshake(ws + '/ws')
  t.match(refused, { opened: false, status: 403 })
  const ok = await handshake(ws + '/ws', { authorization: basic('tom') })
  t.same(ok, { opened: true, message: 'tom' })
})
