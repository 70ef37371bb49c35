import t from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, SimpleUser, hasRequiredScope, requires } from '../lib/index'
import { get, handshake, listen } from './helpers'

// The backend runs once per request, however many guards the route has.

for (const kind of ['sync', 'async'] as const) {
  t.test(`${kind === 'sync' ? 'a sync' : 'an async'} backend runs once per request`, async (t) => {
    const app = Fastify()
    await app.register(websocket)
    // Per request (by x-id): how often each backend was asked.
    const calls = new Map<string, number[]>()
    const count = (request: FastifyRequest, index: number): void => {
      const id = String(request.headers['x-id'])
      const counts = calls.get(id) ?? [0, 0]
      counts[index]++
      calls.set(id, counts)
    }
    const answer = <T> (value: T): T | Promise<T> => kind === 'sync' ? value : new Promise((resolve) => setImmediate(() => resolve(value)))
    await app.register(authentication, {
      backend: [
        { authenticate: (request) => { count(request, 0); return answer(null) } },
        {
          authenticate: (request) => {
            count(request, 1)
            const scopes = request.headers['x-scopes']
            return answer(typeof scopes === 'string' ? { auth: new AuthCredentials(scopes.split(',')), user: new SimpleUser('u') } : null)
          }
        }
      ]
    })
    const ok = async (request: FastifyRequest): Promise<string> => {
      // Checking scopes in the handler does not ask the backend again either.
      return hasRequiredScope(request, 'a') && hasRequiredScope(request, ['a', 'b']) ? 'ok' : 'partial'
    }
    app.get('/many', {
      config: { requires: 'a' },
      onRequest: [requires('a'), requires(['a', 'b'])],
      preValidation: requires('b'),
      preHandler: [requires('a'), requires(['b', 'c'], { match: 'any' }), requires(['a', 'b'], { statusCode: 401 })]
    }, ok)
    app.get('/last-refuses', {
      config: { requires: ['a', 'b'] },
      onRequest: requires('a'),
      preHandler: [requires('b'), requires('c')]
    }, ok)
    app.get('/first-refuses', { config: { requires: 'c' }, preHandler: [requires('a'), requires('b')] }, ok)
    app.get('/skipped', { config: { authenticate: false } }, async (request) => request.user.isAuthenticated ? 'user' : 'anonymous')
    app.get('/ws', { websocket: true, config: { requires: 'a' }, onRequest: requires('a'), preHandler: [requires('b'), requires(['a', 'b'])] }, (socket) => {
      socket.send('upgraded')
    })
    await app.register(async (child) => {
      // Guards as app-level hooks of an encapsulated context, on top of the route's own.
      child.addHook('onRequest', requires('a'))
      child.addHook('preHandler', requires('b'))
      child.get('/child', { config: { requires: ['a', 'b'] }, preHandler: requires('a') }, ok)
    }, { prefix: '/scoped' })
    const { http, ws } = await listen(app, t)

    let id = 0
    // The first backend never recognises anyone, so both are asked: each exactly once.
    const expectOnce = (what: string): void => {
      t.same(calls.get(String(id)), [1, 1], `${what}: each backend asked exactly once`)
    }
    const cases: Array<[string, string | undefined, number, string?]> = [
      ['/many', 'a,b', 200, 'ok'],
      ['/many', 'a', 403],
      ['/many', undefined, 403],
      ['/last-refuses', 'a,b', 403],
      ['/first-refuses', 'a,b', 403],
      ['/scoped/child', 'a,b', 200, 'ok'],
      ['/scoped/child', 'b', 403],
      ['/nowhere', 'a,b', 404]
    ]
    for (const [path, scopes, status, body] of cases) {
      const headers: Record<string, string> = { 'x-id': String(++id) }
      if (scopes !== undefined) headers['x-scopes'] = scopes
      const answered = await get(http, path, headers)
      t.equal(answered.status, status, `${path} with ${scopes ?? 'no scopes'}: ${status}`)
      if (body !== undefined) t.equal(answered.body, body)
      expectOnce(`${path} with ${scopes ?? 'no scopes'}`)
    }

    for (const [scopes, expected] of [['a,b', { opened: true, message: 'upgraded' }], ['a', { opened: false, status: 403 }]] as const) {
      const headers = { 'x-id': String(++id), 'x-scopes': scopes }
      t.match(await handshake(ws + '/ws', headers), expected, `WebSocket with ${scopes}`)
      expectOnce(`WebSocket with ${scopes}`)
    }

    const skipped = await get(http, '/skipped', { 'x-id': String(++id), 'x-scopes': 'a' })
    t.hasStrict(skipped, { status: 200, body: 'anonymous' })
    t.equal(calls.get(String(id)), undefined, 'authenticate: false never asks the backend')
    t.equal(calls.size, id - 1, 'no request was counted twice under another id')
  })
}
