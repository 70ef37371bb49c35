// Starlette's tests/test_authentication.py, case by case, over real sockets.
import t, { type Test } from 'tap'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { requires, type AuthenticationOptions } from '../lib/index'
import { basic, basicAuth, handshake, listen } from './helpers'

const TOM = { authorization: basic('tomchristie') }
const BAD = { authorization: 'basic foobar' }

function whoami (request: FastifyRequest): { authenticated: boolean, user: string } {
  return { authenticated: request.user.isAuthenticated, user: request.user.displayName }
}

// Starlette's decorated endpoints get an extra argument injected by an outer decorator.
function injectAdditional (request: FastifyRequest, _reply: FastifyReply, done: () => void): void {
  (request as FastifyRequest & { additional?: string }).additional = 'payload'
  done()
}

class Dashboard {
  get (request: FastifyRequest): { authenticated: boolean, user: string } {
    return whoami(request)
  }
}

async function app (t: Test, options: Partial<AuthenticationOptions> = {}) {
  const app = Fastify()
  await app.register(websocket)
  await app.register(authentication, { backend: basicAuth, ...options })
  app.get('/', async (request) => whoami(request))
  app.get('/dashboard', { preHandler: requires('authenticated') }, async (request) => whoami(request))
  app.get('/admin', { preHandler: requires('authenticated', { redirect: '/' }) }, async (request) => whoami(request))
  app.get('/dashboard/sync', { preHandler: requires('authenticated') }, (request, reply) => { reply.send(whoami(request)) })
  const dashboard = new Dashboard()
  app.get('/dashboard/class', { config: { requires: 'authenticated' } }, (request) => dashboard.get(request))
  app.get('/admin/sync', { preHandler: requires('authenticated', { redirect: '/' }) }, (request, reply) => { reply.send(whoami(request)) })
  app.get('/dashboard/decorated', { preHandler: [injectAdditional, requires('authenticated')] }, async (request) => ({
    ...whoami(request), additional: (request as FastifyRequest & { additional?: string }).additional
  }))
  app.get('/dashboard/decorated/sync', { preHandler: [requires('authenticated'), injectAdditional] }, (request, reply) => {
    reply.send({ ...whoami(request), additional: (request as FastifyRequest & { additional?: string }).additional })
  })
  app.get('/ws', { websocket: true, preHandler: requires('authenticated') }, (socket, request) => {
    socket.send(JSON.stringify(whoami(request)))
  })
  app.get('/ws/decorated', { websocket: true, preHandler: [injectAdditional, requires('authenticated')] }, (socket, request) => {
    socket.send(JSON.stringify({ ...whoami(request), additional: (request as FastifyRequest & { additional?: string }).additional }))
  })
  app.get('/control-panel', { preHandler: requires('authenticated') }, (request, reply) => { reply.send(whoami(request)) })
  return listen(app, t)
}

t.test('test_invalid_decorator_usage: a misused requires() throws at once', async (t) => {
  // @ts-expect-error no scopes at all
  t.throws(() => requires(), TypeError)
  t.throws(() => requires(''), TypeError)
})

t.test('test_user_interface', async (t) => {
  const { http } = await app(t)
  let response = await fetch(http + '/')
  t.equal(response.status, 200)
  t.same(await response.json(), { authenticated: false, user: '' })

  response = await fetch(http + '/', { headers: TOM })
  t.equal(response.status, 200)
  t.same(await response.json(), { authenticated: true, user: 'tomchristie' })
})

t.test('test_authentication_required', async (t) => {
  const { http } = await app(t)
  for (const path of ['/dashboard', '/dashboard/sync', '/dashboard/class']) {
    t.equal((await fetch(http + path)).status, 403, `${path} anonymous`)
    const response = await fetch(http + path, { headers: TOM })
    t.equal(response.status, 200, `${path} signed in`)
    t.same(await response.json(), { authenticated: true, user: 'tomchristie' })
  }
  for (const path of ['/dashboard/decorated', '/dashboard/decorated/sync']) {
    const response = await fetch(http + path, { headers: TOM })
    t.equal(response.status, 200, `${path} signed in`)
    t.same(await response.json(), { authenticated: true, user: 'tomchristie', additional: 'payload' })
    t.equal((await fetch(http + path)).status, 403, `${path} anonymous`)
  }
  const response = await fetch(http + '/dashboard', { headers: BAD })
  t.equal(response.status, 400)
  // Starlette answers with the message as text; every refusal here is JSON with the same message.
  t.match(await response.json(), { statusCode: 400, message: 'Invalid basic auth credentials', reason: 'malformed-credentials' })
})

t.test('test_websocket_authentication_required', async (t) => {
  const { ws } = await app(t)
  for (const path of ['/ws', '/ws/decorated']) {
    t.match(await handshake(ws + path), { opened: false, status: 403 }, `${path} anonymous`)
    t.match(await handshake(ws + path, BAD), { opened: false, status: 403 }, `${path} bad credentials`)
  }
  const plain = await handshake(ws + '/ws', TOM)
  t.same(plain.opened && JSON.parse(plain.message), { authenticated: true, user: 'tomchristie' })
  const decorated = await handshake(ws + '/ws/decorated', TOM)
  t.same(decorated.opened && JSON.parse(decorated.message), { authenticated: true, user: 'tomchristie', additional: 'payload' })
})

t.test('test_authentication_redirect', async (t) => {
  const { http } = await app(t)
  for (const path of ['/admin', '/admin/sync']) {
    let response = await fetch(http + path)
    t.equal(response.status, 200, `${path} followed to the homepage`)
    t.equal(response.url, `${http}/?${new URLSearchParams({ next: path })}`)
    t.same(await response.json(), { authenticated: false, user: '' })

    response = await fetch(http + path, { headers: TOM })
    t.equal(response.status, 200)
    t.same(await response.json(), { authenticated: true, user: 'tomchristie' })
  }
})

t.test('test_custom_on_error', async (t) => {
  const { http } = await app(t, {
    onError: (error, _request, reply) => reply.code(401).send({ error: error.message })
  })
  let response = await fetch(http + '/control-panel', { headers: TOM })
  t.equal(response.status, 200)
  t.same(await response.json(), { authenticated: true, user: 'tomchristie' })

  response = await fetch(http + '/control-panel', { headers: BAD })
  t.equal(response.status, 401)
  t.same(await response.json(), { error: 'Invalid basic auth credentials' })
})
