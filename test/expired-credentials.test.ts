// Credentials whose expiresAt has passed count as none: the caller is anonymous, and the chain goes on.
import t, { type Test } from 'tap'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import authentication, { AuthCredentials, SimpleUser, type AuthenticationBackend } from '../lib/index'
import { webSocketTickets } from '../lib/backends/tickets'
import { get, listen } from './helpers'

/** A backend that recognises `alice` by `x-user`, with credentials that expired 60 s ago. */
const expired: AuthenticationBackend = {
  challenge: 'Custom realm="api"',
  authenticate: (request) => request.headers['x-user'] === 'alice'
    ? { auth: new AuthCredentials(['authenticated'], { expiresAt: Date.now() - 60_000 }), user: new SimpleUser('alice') }
    : null
}

async function serve (t: Test, backend: AuthenticationBackend[]): Promise<{ http: string, ws: string, handled: string[] }> {
  const handled: string[] = []
  const app = Fastify()
  await app.register(websocket)
  await app.register(authentication, { backend })
  app.get('/', async (request) => ({ user: request.user.displayName, scopes: request.auth.scopes }))
  app.get('/me', { config: { requires: 'authenticated' } }, async (request) => { handled.push('/me'); return request.user.displayName })
  app.get('/ws', { websocket: true, config: { requires: 'authenticated' } }, (socket, request) => {
    handled.push('/ws')
    socket.on('message', () => handled.push('message'))
    socket.send(request.user.displayName)
  })
  return { ...(await listen(app, t)), handled }
}

/** A real `ws` handshake that sends a frame as soon as it opens: `opened` and the close code, or the refusal's status. */
function connect (url: string, headers: Record<string, string>): Promise<{ opened: boolean, status?: number }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers })
    socket.on('open', () => { socket.send('hello'); socket.close(); resolve({ opened: true }) })
    socket.on('unexpected-response', (_request, response) => {
      response.resume()
      resolve({ opened: false, status: response.statusCode })
      socket.terminate()
    })
    socket.on('error', () => resolve({ opened: false }))
  })
}

t.test('credentials that expired 60 s ago are none: a guarded route answers as to an anonymous caller, a handshake gets 403', async (t) => {
  let authenticated = 0
  const onAuthenticated = (): void => { authenticated++ }
  subscribe('fastify-authentication:authenticated', onAuthenticated)
  t.teardown(() => unsubscribe('fastify-authentication:authenticated', onAuthenticated))
  const { http, ws, handled } = await serve(t, [expired])
  const guarded = await get(http, '/me', { 'x-user': 'alice' })
  t.same([guarded.status, guarded.headers['www-authenticate']], [401, 'Custom realm="api"'], 'the anonymous caller\'s 401, with the challenge')
  t.equal((await get(http, '/', { 'x-user': 'alice' })).body, JSON.stringify({ user: '', scopes: [] }), 'an open route sees an anonymous caller')
  t.same(await connect(ws + '/ws', { 'x-user': 'alice' }), { opened: false, status: 403 }, 'no socket is opened, not even to be closed')
  t.same(handled, [], 'no handler ran, and no frame was read')
  t.equal(authenticated, 0, 'nobody was published as authenticated')
})

t.test('the chain goes on past expired credentials: the next backend may recognise the caller', async (t) => {
  const lasting: AuthenticationBackend = {
    authenticate: (request) => request.headers['x-token'] === 'bob' ? { auth: new AuthCredentials(['authenticated']), user: new SimpleUser('bob') } : null
  }
  const { http, ws, handled } = await serve(t, [expired, lasting])
  t.equal((await get(http, '/me', { 'x-user': 'alice', 'x-token': 'bob' })).body, 'bob')
  t.same(await connect(ws + '/ws', { 'x-user': 'alice', 'x-token': 'bob' }), { opened: true })
  t.equal((await get(http, '/me', { 'x-user': 'alice' })).status, 401)
  t.same(handled.slice(0, 2), ['/me', '/ws'])
})

t.test('credentials that expire after the chain admitted them buy no WebSocket ticket', async (t) => {
  const tickets = webSocketTickets()
  const app = Fastify()
  await app.register(authentication, {
    backend: { authenticate: () => ({ auth: new AuthCredentials(['authenticated'], { expiresAt: Date.now() + 500 }), user: new SimpleUser('alice') }) }
  })
  app.post('/ws-ticket', async (request) => {
    // The handler runs while the credentials last, and asks for a ticket once they have expired.
    await sleep((request.auth.expiresAt as number) - Date.now() + 10)
    return { ticket: await tickets.issue(request) }
  })
  const { http } = await listen(app, t)
  const answer = await fetch(http + '/ws-ticket', { method: 'POST' })
  t.equal(answer.status, 401)
  t.match(await answer.json(), { message: /credentials have expired/ })
})
