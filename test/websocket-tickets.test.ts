// WebSocket tickets: issued over HTTP, redeemed once in a real handshake (ws clients against a listening server).
import { once } from 'node:events'
import { request as httpRequest } from 'node:http'
import { text } from 'node:stream/consumers'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import authentication, { AuthCredentials, AuthenticationError, SimpleUser } from '../lib/index'
import { MemoryTicketStore, TicketUser, webSocketTickets, type TicketOwner, type TicketStore, type WebSocketTickets, type WebSocketTicketsOptions } from '../lib/backends/tickets'
import { get, listen, logLines, rawRequest } from './helpers'
import { tokens } from './ticket-caller'

const TICKET = /^[A-Za-z0-9_-]{43}$/
const SITE = 'https://app.example'
const EVIL = 'https://evil.example'
// The pages the app lets open a WebSocket (the plugin's origins option): a ticket from one is no good to another.
const ORIGINS = [SITE, EVIL, 'https://app.example:8443']

/** What a route saw of its caller. */
function caller (request: FastifyRequest): Record<string, unknown> {
  return {
    user: request.user.displayName,
    identity: request.user.identity,
    isAuthenticated: request.user.isAuthenticated,
    ticketUser: request.user instanceof TicketUser,
    scopes: request.auth.scopes,
    expiresAt: request.auth.expiresAt ?? null
  }
}

interface Server { http: string, ws: string, tickets: WebSocketTickets }

/**
 * `@fastify/websocket` with the tickets' handleProtocols, the plugin with `[tickets, tokens]`, a
 * guarded and an open ticket route, a guarded and an open WebSocket route, and an HTTP route.
 */
async function serve (
  t: Test, options: WebSocketTicketsOptions = {}, logger?: { write: (line: string) => void }, origins: '*' | string[] = ORIGINS
): Promise<Server> {
  const tickets = webSocketTickets(options)
  const app = Fastify(logger === undefined ? {} : { logger: { level: 'trace', stream: logger } })
  await app.register(websocket, { options: { handleProtocols: tickets.handleProtocols } })
  await app.register(authentication, { backend: [tickets, tokens], origins })
  app.post('/ws-ticket', { config: { requires: 'authenticated' } }, async (request) => ({ ticket: await tickets.issue(request) }))
  app.post('/ws-ticket-open', async (request) => ({ ticket: await tickets.issue(request) }))
  app.get('/ws', { websocket: true, config: { requires: 'authenticated' } }, (socket, request) => {
    socket.send(JSON.stringify({ ...caller(request), protocol: socket.protocol }))
  })
  app.get('/ws-open', { websocket: true }, (socket, request) => { socket.send(JSON.stringify(caller(request))) })
  // A socket asking for a ticket for its own caller: what a ticket must never buy.
  app.get('/ws-renew', { websocket: true, config: { requires: 'authenticated' } }, (socket, request) => {
    tickets.issue(request).then(
      () => socket.send(JSON.stringify({ issued: true })),
      (error: AuthenticationError) => socket.send(JSON.stringify({ statusCode: error.statusCode, message: error.message }))
    )
  })
  app.get('/http', async (request) => caller(request))
  const { http, ws } = await listen(app, t)
  return { http, ws, tickets }
}

/** One real POST on a connection of its own; no client-side timer. */
function post (origin: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(origin)
    const req = httpRequest({ host: hostname, port, path, method: 'POST', headers, agent: false })
    req.on('response', (res) => {
      text(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject)
    })
    req.on('error', reject)
    req.end()
  })
}

interface Caller { user?: string, origin?: string, expiresAt?: number }

/** A ticket for `user` (default alice), asked for with `Origin: origin` (none by default). */
async function issue (http: string, { user = 'alice', origin, expiresAt }: Caller = {}, path = '/ws-ticket'): Promise<string> {
  const headers: Record<string, string> = { authorization: `Token ${user}` }
  if (origin !== undefined) headers.origin = origin
  if (expiresAt !== undefined) headers['x-expires-at'] = String(expiresAt)
  const answer = await post(http, path, headers)
  if (answer.status !== 200) throw new Error(`POST ${path} answered ${answer.status}: ${answer.body}`)
  return (JSON.parse(answer.body) as { ticket: string }).ticket
}

type Opened = { opened: true, protocol: string, header: string | undefined, message: Record<string, unknown> }
type Refused = { opened: false, status: number, body: string }

/**
 * A real handshake with a ws client offering `protocols`: the selected protocol (as ws reads it,
 * and the raw `Sec-WebSocket-Protocol` of the 101) and the first message, or the refusal.
 */
function open (url: string, protocols: string[], { origin, headers }: { origin?: string, headers?: Record<string, string> } = {}): Promise<Opened | Refused> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, { origin, headers })
    let header: string | undefined
    socket.on('upgrade', (response) => { header = response.headers['sec-websocket-protocol'] as string | undefined })
    socket.on('message', (data) => {
      resolve({ opened: true, protocol: socket.protocol, header, message: JSON.parse(String(data)) })
      socket.terminate()
    })
    socket.on('unexpected-response', (request, response) => {
      text(response).then((body) => {
        request.destroy()
        resolve({ opened: false, status: response.statusCode ?? 0, body })
      }, reject)
    })
    socket.on('error', reject)
  })
}

/** Only the status of a handshake: 101 or the refusal's. */
async function status (url: string, protocols: string[], options?: { origin?: string, headers?: Record<string, string> }): Promise<number> {
  const answer = await open(url, protocols, options)
  return answer.opened ? 101 : answer.status
}

const offer = (ticket: string): string[] => ['chat', `ticket.${ticket}`]

/** A handshake as the backend sees it, for calling authenticate() directly: a GET Node handed to its upgrade path. */
function handshakeRequest (protocols: string, origin?: string): FastifyRequest {
  const headers: Record<string, string> = { connection: 'upgrade', upgrade: 'websocket', 'sec-websocket-protocol': protocols }
  if (origin !== undefined) headers.origin = origin
  return { method: 'GET', headers, raw: { upgrade: true } } as unknown as FastifyRequest
}

/** An HTTP request a backend recognised, for calling issue() directly. */
function issuingRequest (auth = new AuthCredentials(['authenticated']), user: unknown = new SimpleUser('alice'), origin?: string): FastifyRequest {
  return { auth, user, headers: origin === undefined ? {} : { origin } } as unknown as FastifyRequest
}

t.test('a ticket carries the caller over to the handshake; the server selects the client\'s protocol, never the ticket', async (t) => {
  const { http, ws } = await serve(t)
  const ticket = await issue(http)
  t.match(ticket, TICKET, '43 base64url characters')
  const answer = await open(`${ws}/ws`, offer(ticket))
  t.same(answer, {
    opened: true,
    protocol: 'chat',
    header: 'chat',
    message: { user: 'alice', identity: 'alice', isAuthenticated: true, ticketUser: true, scopes: ['authenticated', 'chat'], expiresAt: null, protocol: 'chat' }
  }, 'the issuer\'s user and scopes; Sec-WebSocket-Protocol: chat')

  const later = await issue(http, { user: 'bob' })
  const reversed = await open(`${ws}/ws`, [`ticket.${later}`, 'chat', 'v2'])
  t.match(reversed, { opened: true, protocol: 'chat', header: 'chat', message: { user: 'bob' } }, 'the first protocol that is not the ticket, wherever the ticket is')
})

t.test('single use: a replay gets 403, and of two handshakes racing with one ticket, one wins', async (t) => {
  const { http, ws } = await serve(t)
  const ticket = await issue(http)
  t.equal(await status(`${ws}/ws`, offer(ticket)), 101)
  const replay = await open(`${ws}/ws`, offer(ticket))
  t.same(replay, { opened: false, status: 403, body: JSON.stringify({ statusCode: 403, code: 'FST_AUTHENTICATION_UNKNOWN_TOKEN', error: 'Forbidden', message: 'Unknown or already used WebSocket ticket', reason: 'unknown-token' }) }, 'replayed: 403')
  t.equal(await status(`${ws}/ws-open`, offer(ticket)), 403, 'replayed on a route with no guard: 403 too')

  const raced = await issue(http)
  const statuses = await Promise.all([1, 2, 3, 4].map(() => status(`${ws}/ws`, offer(raced))))
  t.same(statuses.sort(), [101, 403, 403, 403], 'exactly one of four simultaneous handshakes is upgraded')
})

t.test('a ticket expires after ttl', async (t) => {
  const { http, ws } = await serve(t, { ttl: 500 })
  const kept = await issue(http)
  const expired = await issue(http)
  t.equal(await status(`${ws}/ws`, offer(kept)), 101, 'within ttl')
  await sleep(550)
  t.equal(await status(`${ws}/ws`, offer(expired)), 403, 'past ttl: 403')
})

t.test('a ticket expires with the issuing credentials when they expire first, and carries their expiry', async (t) => {
  const { http, ws } = await serve(t)
  const expiresAt = Date.now() + 1000
  const early = await issue(http, { expiresAt })
  const late = await issue(http, { expiresAt })
  t.match(await open(`${ws}/ws`, offer(early)), { opened: true, message: { expiresAt, ticketUser: true } }, 'before: upgraded, with the credentials\' expiresAt')
  await sleep(Math.max(0, expiresAt - Date.now()) + 20)
  t.equal(await status(`${ws}/ws`, offer(late)), 403, 'after the credentials expired, well within ttl: 403')

  // The plugin closes a socket when its credentials expire: a ticket's socket too, since it carries their expiry.
  const closing = await issue(http, { expiresAt: Date.now() + 500 })
  const socket = new WebSocket(`${ws}/ws`, offer(closing))
  const [code, reason] = await once(socket, 'close') as [number, Buffer]
  t.same([code, String(reason)], [1008, 'authentication credentials expired'], 'a socket a ticket opened is closed when the issuing credentials expire')

  const refused = await post(http, '/ws-ticket-open', { authorization: 'Token alice', 'x-expires-at': String(Date.now() - 1000) })
  t.equal(refused.status, 401, 'credentials already expired: no ticket')
  t.match(JSON.parse(refused.body), { message: /Authentication required/ }, 'expired credentials are none: the caller is anonymous')
})

t.test('a ticket is bound to the Origin of the request that issued it', async (t) => {
  const { http, ws } = await serve(t)
  const cases: Array<[string, string | undefined, string | undefined, number]> = [
    ['same Origin', SITE, SITE, 101],
    ['another Origin', SITE, EVIL, 403],
    ['another port of the same host', SITE, 'https://app.example:8443', 403],
    ['no Origin, when the issuing request had one', SITE, undefined, 403],
    ['no Origin, as the issuing request', undefined, undefined, 101],
    ['an Origin, when the issuing request had none', undefined, SITE, 403]
  ]
  for (const [name, issuedTo, handshakeFrom, expected] of cases) {
    const ticket = await issue(http, { origin: issuedTo })
    t.equal(await status(`${ws}/ws`, offer(ticket), { origin: handshakeFrom }), expected, `${name}: ${expected}`)
    if (expected === 403) t.equal(await status(`${ws}/ws`, offer(ticket), { origin: issuedTo }), 403, `${name}: the ticket was used up by the refusal`)
  }

  // With origins: '*', the plugin lets any page open a socket: the binding still holds, and the
  // opaque origin `null` (a sandboxed frame, a file: page) names no page, so it matches nothing.
  const any = await serve(t, {}, undefined, '*')
  t.equal(await status(`${any.ws}/ws`, offer(await issue(any.http, { origin: SITE })), { origin: EVIL }), 403, 'origins \'*\': another Origin: 403')
  t.equal(await status(`${any.ws}/ws`, offer(await issue(any.http, { origin: SITE })), { origin: SITE }), 101, 'origins \'*\': same Origin: 101')
  t.equal(await status(`${any.ws}/ws`, offer(await issue(any.http, { origin: 'null' })), { origin: 'null' }), 403, 'Origin null, issued and used: 403')
})

t.test('only authenticated callers get a ticket', async (t) => {
  const { http } = await serve(t)
  const guarded = await post(http, '/ws-ticket')
  t.equal(guarded.status, 403, 'the guarded route refuses an anonymous caller (no challenge here: 403)')
  const open = await post(http, '/ws-ticket-open')
  t.equal(open.status, 401, 'an unguarded route: issue() refuses with 401')
  t.match(JSON.parse(open.body), { statusCode: 401, message: 'Authentication required for a WebSocket ticket' })

  const tickets = webSocketTickets()
  await t.rejects(tickets.issue(issuingRequest(new AuthCredentials(['authenticated']), { isAuthenticated: false, identity: '', displayName: '' })),
    new AuthenticationError('Authentication required for a WebSocket ticket', { statusCode: 401, reason: 'missing-credentials' }), 'a user that is not authenticated')
  await t.rejects(tickets.issue(issuingRequest(new AuthCredentials(), null)), new AuthenticationError('Authentication required for a WebSocket ticket', { statusCode: 401, reason: 'missing-credentials' }), 'no user')
  for (const request of [undefined, {}, { auth: null, user: new SimpleUser('alice') }, { auth: { scopes: ['admin'] }, user: new SimpleUser('alice') }]) {
    await t.rejects(tickets.issue(request as never), new TypeError('fastify-authentication/websocket: tickets.issue(request) takes a request the plugin authenticated: register fastify-authentication in the route\'s scope or a parent scope'),
      'not a request the plugin authenticated')
  }
  await t.rejects(tickets.issue(issuingRequest(undefined, { isAuthenticated: true, identity: 42, displayName: 'x' })), /request\.user must have a string identity and displayName/)
  await t.rejects(tickets.issue(issuingRequest(undefined, { isAuthenticated: true, identity: 'x' })), /request\.user must have a string identity and displayName/)
  t.match(await tickets.issue(issuingRequest(new AuthCredentials([]))), TICKET, 'an authenticated caller with no scopes gets one: it carries no scopes')
})

t.test('a route the plugin does not cover cannot issue tickets: 500', async (t) => {
  const tickets = webSocketTickets()
  const app = Fastify()
  await app.register(async (child) => { await child.register(authentication, { backend: [tickets, tokens] }) })
  app.post('/ws-ticket', async (request) => ({ ticket: await tickets.issue(request) }))
  const { http } = await listen(app, t)
  t.equal((await post(http, '/ws-ticket', { authorization: 'Token alice' })).status, 500)
})

t.test('tickets: 256 random bits in base64url', async (t) => {
  const tickets = webSocketTickets()
  const request = issuingRequest()
  const issued = await Promise.all(Array.from({ length: 1024 }, () => tickets.issue(request)))
  t.ok(issued.every((ticket) => TICKET.test(ticket)), 'each is 43 characters of A-Z a-z 0-9 - _')
  t.equal(new Set(issued).size, issued.length, 'no two are alike')
  const bits = new Array<number>(256).fill(0)
  for (const ticket of issued) {
    const bytes = Buffer.from(ticket, 'base64url')
    t.equal(bytes.length, 32, '32 bytes') || t.bailout()
    for (let bit = 0; bit < 256; bit++) bits[bit] += (bytes[bit >> 3] >> (bit & 7)) & 1
  }
  // Each bit is set in about half the tickets: 512 ± 16 (one standard deviation); 7 deviations out is never chance.
  t.ok(bits.every((count) => count > 400 && count < 624), 'every one of the 256 bits varies')
})

t.test('no ticket offered: the next backend has its say', async (t) => {
  const { http, ws } = await serve(t)
  t.equal(await status(`${ws}/ws`, ['chat']), 403, 'anonymous on a guarded route: 403')
  t.match(await open(`${ws}/ws-open`, ['chat']), { opened: true, protocol: 'chat', message: { user: '', isAuthenticated: false } }, 'anonymous on an open route')
  t.match(await open(`${ws}/ws-open`, []), { opened: true, protocol: '', message: { isAuthenticated: false } }, 'no protocol at all')
  t.match(await open(`${ws}/ws`, ['chat'], { headers: { authorization: 'Token carol' } }),
    { opened: true, protocol: 'chat', message: { user: 'carol', ticketUser: false } }, 'recognised by the app\'s own backend')

  // A refused ticket refuses the handshake (the core's chain rule), though the next backend recognises the caller.
  const used = await issue(http)
  t.equal(await status(`${ws}/ws`, offer(used)), 101)
  t.equal(await status(`${ws}/ws`, offer(used), { headers: { authorization: 'Token carol' } }), 403,
    'a used ticket with credentials the next backend knows: refused')
})

t.test('tickets are only read from handshakes: an HTTP request with the header is anonymous and leaves the ticket', async (t) => {
  const { http, ws } = await serve(t)
  const ticket = await issue(http)
  const answer = await get(http, '/http', { 'sec-websocket-protocol': `chat, ticket.${ticket}` })
  t.match(JSON.parse(answer.body), { user: '', isAuthenticated: false })
  t.equal(await status(`${ws}/ws`, offer(ticket)), 101, 'the ticket is still good')
})

t.test('a ticket is a handshake credential only: on a request Node did not hand to its upgrade path it is ignored, and kept', async (t) => {
  const { http, ws } = await serve(t)
  // What a stolen ticket tried: `Upgrade: websocket` without `Connection: upgrade` is ordinary HTTP to Node.
  const plain = (ticket: string): Record<string, string> => ({ upgrade: 'websocket', 'sec-websocket-protocol': `chat, ticket.${ticket}`, 'content-length': '0' })
  const read = await issue(http)
  const answer = await rawRequest(http, 'GET', '/http', plain(read))
  t.same([answer.status, JSON.parse(answer.body).isAuthenticated], [200, false], 'GET with the ticket: anonymous')

  const renew = await issue(http)
  const renewed = await rawRequest(http, 'POST', '/ws-ticket', plain(renew))
  t.same([renewed.status, JSON.parse(renewed.body).ticket], [403, undefined], 'POST /ws-ticket with the ticket: refused as an anonymous caller, no new ticket')
  // Node's upgrade path, but not a GET: no handshake either (RFC 6455 §4.1), and a handshake's refusal.
  const posted = await rawRequest(http, 'POST', '/ws-ticket', { connection: 'Upgrade', ...plain(renew) })
  t.same([posted.status, JSON.parse(posted.body).ticket], [403, undefined], 'the same POST as an upgrade: 403')

  const malformed = await rawRequest(http, 'GET', '/http', plain('nope'))
  t.same([malformed.status, JSON.parse(malformed.body).isAuthenticated], [200, false], 'a malformed ticket there is not even read')
  for (const ticket of [read, renew]) {
    t.match(await open(`${ws}/ws`, offer(ticket)), { opened: true, message: { user: 'alice', ticketUser: true } }, 'the ticket was not used up: a real handshake redeems it')
  }
})

t.test('of 8 simultaneous handshakes with one ticket exactly one is upgraded, whatever plain requests carry it meanwhile', async (t) => {
  const { http, ws } = await serve(t)
  for (let round = 0; round < 3; round++) {
    const ticket = await issue(http)
    const plain = { upgrade: 'websocket', 'sec-websocket-protocol': `chat, ticket.${ticket}` }
    const [handshakes, requests] = await Promise.all([
      Promise.all(Array.from({ length: 8 }, () => status(`${ws}/ws`, offer(ticket)))),
      Promise.all(Array.from({ length: 8 }, () => rawRequest(http, 'GET', '/http', plain)))
    ])
    t.same(handshakes.sort(), [101, 403, 403, 403, 403, 403, 403, 403], `round ${round}: one 101, seven 403`)
    t.same(requests.map(({ body }) => JSON.parse(body).isAuthenticated), new Array(8).fill(false), `round ${round}: the plain requests are all anonymous`)
  }
})

t.test('a ticket never buys another: issue() refuses the caller of a socket a ticket opened with 401', async (t) => {
  const { http, ws } = await serve(t)
  t.same(await open(`${ws}/ws-renew`, offer(await issue(http))), {
    opened: true, protocol: 'chat', header: 'chat', message: { statusCode: 401, message: 'Authentication required for a WebSocket ticket' }
  })
  t.match(await open(`${ws}/ws-renew`, ['chat'], { headers: { authorization: 'Token alice' } }), { opened: true, message: { issued: true } },
    'the same route, for a caller the app\'s own backend recognised: a ticket')
})

t.test('bad tickets are refused with 403, on guarded and open routes alike', async (t) => {
  const { http, ws } = await serve(t)
  const good = await issue(http)
  const other = await issue(http)
  const offers: Record<string, string[]> = {
    unknown: offer('A'.repeat(43)),
    'too short': offer(good.slice(1)),
    'too long': offer(good + 'A'),
    'not base64url': offer(good.slice(1) + '+'),
    empty: ['chat', 'ticket.'],
    'two tickets': ['chat', `ticket.${good}`, `ticket.${other}`]
  }
  for (const [name, protocols] of Object.entries(offers)) {
    t.equal(await status(`${ws}/ws`, protocols), 403, `${name}: 403`)
    t.equal(await status(`${ws}/ws-open`, protocols), 403, `${name}, on an open route: 403`)
  }
  t.equal(await status(`${ws}/ws`, offer(good)), 101, 'two tickets offered together used neither up')
})

t.test('a client that offers only the ticket: upgraded with no protocol selected, which ws and browsers then refuse', async (t) => {
  const { http, ws } = await serve(t)
  const ticket = await issue(http)
  const answer = await get(http, '/ws', {
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-version': '13',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'sec-websocket-protocol': `ticket.${ticket}`
  })
  t.equal(answer.status, 101)
  t.notOk('sec-websocket-protocol' in answer.headers, 'no Sec-WebSocket-Protocol: the ticket is never echoed')

  const other = await issue(http)
  await t.rejects(open(`${ws}/ws`, [`ticket.${other}`]), /Server sent no subprotocol/, 'ws fails such a handshake: offer your own protocol too')
})

t.test('handleProtocols: the first protocol that is not a ticket, else false', async (t) => {
  const { handleProtocols } = webSocketTickets()
  t.equal(handleProtocols(new Set(['chat', 'ticket.abc'])), 'chat')
  t.equal(handleProtocols(new Set(['ticket.abc', 'v2', 'chat'])), 'v2')
  t.equal(handleProtocols(new Set(['ticket.abc'])), false)
  t.equal(handleProtocols(new Set()), false)
  t.equal(handleProtocols(new Set(['ticket.a', 'ticket.b'])), false, 'never a ticket')
})

t.test('the ticket appears in no log line and no error message', async (t) => {
  const log = logLines()
  const { http, ws, tickets } = await serve(t, {}, log.stream)
  const used = await issue(http, { origin: SITE })
  const wrongOrigin = await issue(http, { origin: SITE })
  t.equal(await status(`${ws}/ws`, offer(used), { origin: SITE }), 101)
  t.equal(await status(`${ws}/ws`, offer(used), { origin: SITE }), 403)
  t.equal(await status(`${ws}/ws`, offer(wrongOrigin), { origin: EVIL }), 403)
  t.equal(await status(`${ws}/ws`, ['chat', `ticket.${used}x`]), 403)
  t.ok(log.lines.length > 10, 'requests were logged')
  for (const ticket of [used, wrongOrigin]) {
    t.notOk(log.lines.some((line) => line.includes(ticket)), 'no log line holds the ticket')
  }

  const errors: unknown[] = []
  const ticket = await tickets.issue(issuingRequest(undefined, undefined, SITE))
  for (const protocols of [`chat, ticket.${ticket}x`, `ticket.${ticket}, ticket.${ticket}`, `ticket.${ticket}`, `ticket.${ticket}`]) {
    try {
      await tickets.authenticate(handshakeRequest(protocols, EVIL))
    } catch (error) {
      errors.push(error)
    }
  }
  t.same(errors.map((error) => [(error as AuthenticationError).message, (error as AuthenticationError).statusCode]), [
    ['Malformed WebSocket ticket', 403],
    ['Several WebSocket tickets offered', 403],
    ['WebSocket ticket issued to another Origin', 403],
    ['Unknown or already used WebSocket ticket', 403]
  ], 'each refusal says why, and none says what the ticket was')
})

t.test('refusals are built once: every refusal of one kind is the same error, so a refused request captures no stack trace', async (t) => {
  const tickets = webSocketTickets({ ttl: 50 })
  const thrown = async (attempt: () => unknown): Promise<unknown> => {
    try {
      await attempt()
    } catch (error) {
      return error
    }
    throw new Error('not refused')
  }
  const twice = async (name: string, attempt: () => unknown): Promise<void> => {
    const first = await thrown(attempt)
    t.type(first, AuthenticationError, name)
    t.equal(await thrown(attempt), first, `${name}: the same error each time`)
  }
  const unknown = 'A'.repeat(43)
  await twice('malformed', () => tickets.authenticate(handshakeRequest('ticket.x')))
  await twice('several', () => tickets.authenticate(handshakeRequest(`ticket.${unknown}, ticket.${unknown}`)))
  await twice('unknown', () => tickets.authenticate(handshakeRequest(`ticket.${unknown}`)))
  await twice('another Origin', async () => tickets.authenticate(handshakeRequest(`ticket.${await tickets.issue(issuingRequest(undefined, undefined, SITE))}`, EVIL)))
  await twice('expired', async () => {
    const ticket = await tickets.issue(issuingRequest())
    await sleep(60)
    return tickets.authenticate(handshakeRequest(`ticket.${ticket}`))
  })
  await twice('issue(): anonymous', () => tickets.issue(issuingRequest(new AuthCredentials(), null)))
  await twice('issue(): expired credentials', () => tickets.issue(issuingRequest(new AuthCredentials(['authenticated'], { expiresAt: Date.now() - 1 }))))
  const full = webSocketTickets({ store: new MemoryTicketStore({ maxEntries: 1 }) })
  await full.issue(issuingRequest(undefined, new SimpleUser('bob')))
  await twice('issue(): no room', () => full.issue(issuingRequest()))
})

t.test('the store: holds digests of tickets, gets the ttl, and may be async', async (t) => {
  const held = new Map<string, { value: string, ttlMs: number }>()
  const store: TicketStore = {
    async set (id, value, ttlMs) { held.set(id, { value, ttlMs }) },
    async take (id) {
      const entry = held.get(id)
      held.delete(id)
      return entry?.value
    }
  }
  const { http, ws } = await serve(t, { store, ttl: 5000 })
  const ticket = await issue(http, { origin: SITE })
  const [[id, { value, ttlMs }]] = [...held]
  t.match(id, /^[A-Za-z0-9_-]{43}$/, 'keyed by the SHA-256 digest of the ticket')
  t.not(id, ticket)
  t.notOk(value.includes(ticket), 'the value does not hold the ticket')
  t.equal(ttlMs, 5000, 'ttlMs is the ttl')
  t.match(JSON.parse(value), { scopes: ['authenticated', 'chat'], user: { identity: 'alice', displayName: 'alice' }, origin: SITE, authExpiresAt: null })
  t.match(await open(`${ws}/ws`, offer(ticket), { origin: SITE }), { opened: true, message: { user: 'alice', ticketUser: true } }, 'redeemed through an async take')
  t.equal(held.size, 0, 'taken')
  t.equal(await status(`${ws}/ws`, offer(ticket), { origin: SITE }), 403, 'replay through an async store: 403')

  const expiresAt = Date.now() + 4000
  await issue(http, { expiresAt })
  const [[, soon]] = [...held]
  t.ok(soon.ttlMs <= 4000 && soon.ttlMs > 2000, 'credentials that expire first shorten ttlMs')
  t.equal(JSON.parse(soon.value).expiresAt, expiresAt, 'and the ticket\'s expiry')
})

t.test('a store that keeps expired entries: the backend checks expiry itself', async (t) => {
  const held = new Map<string, string>()
  const store: TicketStore = {
    set (id, value) { held.set(id, value) },
    take (id) { return held.get(id) }
  }
  const { http, ws } = await serve(t, { store, ttl: 50 })
  const ticket = await issue(http)
  await sleep(80)
  t.equal(await status(`${ws}/ws`, offer(ticket)), 403, 'expired: 403')
})

t.test('a store that gives back what it was not given: 500; one that cannot be reached: 503 (403 for a handshake); never an upgrade', async (t) => {
  const answers: Record<string, () => unknown> = {
    'a value that is not JSON': () => 'not json',
    'JSON of another shape': () => JSON.stringify({ scopes: 'admin' }),
    'JSON null': () => 'null',
    'a parsed object, not the string': () => ({ scopes: [], user: { identity: 'a', displayName: 'a' }, origin: null, expiresAt: Date.now() + 1000, authExpiresAt: null }),
    'a record with a bad user': () => JSON.stringify({ scopes: [], user: { identity: 1 }, origin: null, expiresAt: Date.now() + 1000, authExpiresAt: null }),
    'a record with a bad origin': () => JSON.stringify({ scopes: [], user: { identity: 'a', displayName: 'a' }, origin: 1, expiresAt: Date.now() + 1000, authExpiresAt: null }),
    'a record with a bad expiry': () => JSON.stringify({ scopes: [], user: { identity: 'a', displayName: 'a' }, origin: null, expiresAt: Date.now() + 1000, authExpiresAt: 'soon' }),
    // Issue 23: a store that cannot be reached is an outage (unavailable), and a handshake keeps its 403.
    'a take that throws': () => { throw new Error('store down') },
    'a take that rejects': () => Promise.reject(new Error('store down'))
  }
  for (const [name, take] of Object.entries(answers)) {
    const store = { set () {}, take } as unknown as TicketStore
    const { http, ws } = await serve(t, { store })
    const ticket = await issue(http)
    t.equal(await status(`${ws}/ws`, offer(ticket)), name.startsWith('a take') ? 403 : 500, name)
  }
  const failing = { set () { throw new Error('store down') }, take () { return null } }
  const { http } = await serve(t, { store: failing })
  t.equal((await post(http, '/ws-ticket', { authorization: 'Token alice' })).status, 503, 'a set that throws: issue() fails with 503')
})

t.test('under pressure: one identity holds maxPerIdentity tickets, its oldest going first; a full store refuses with 503', async (t) => {
  const { http, ws } = await serve(t, { maxPerIdentity: 2, store: new MemoryTicketStore({ maxEntries: 4 }) })
  const bob = await issue(http, { user: 'bob' })
  // One caller issuing ticket after ticket, as to flush the store: only its own go.
  const alice = []
  for (let i = 0; i < 10; i++) alice.push(await issue(http))
  const carol = await issue(http, { user: 'carol' })
  const full = await post(http, '/ws-ticket', { authorization: 'Token dave' })
  t.same([full.status, JSON.parse(full.body).message], [503, 'No room for another WebSocket ticket: try again shortly'],
    'four live tickets of three identities: the store is full, and a fourth identity gets 503')
  alice.push(await issue(http))
  t.pass('an identity at its quota still gets one when the store is full: it replaces its own oldest')
  for (const [who, ticket] of [['bob', bob], ['carol', carol], ['alice', alice[9]], ['alice', alice[10]]]) {
    t.match(await open(`${ws}/ws`, offer(ticket)), { opened: true, message: { user: who } }, `${who}'s live ticket redeems`)
  }
  t.same(await Promise.all(alice.slice(0, 9).map((ticket) => status(`${ws}/ws`, offer(ticket)))), new Array(9).fill(403), 'alice\'s older ones went')
  t.match(await issue(http, { user: 'dave' }), TICKET, 'once tickets are used, there is room again')
})

t.test('the default store holds 10 000 tickets, and forgets none while they live', async (t) => {
  const store = new MemoryTicketStore()
  const owner = (i: number): TicketOwner => ({ identity: `user${i}`, maxPerIdentity: 16 })
  for (let i = 0; i < 10_000; i++) t.equal(store.set(`id${i}`, `value${i}`, 60_000, owner(i)), true) || t.bailout()
  t.equal(store.size, 10_000, '10 000 by default')
  t.equal(store.set('id10000', 'value10000', 60_000, owner(10_000)), false, 'full: the next is refused')
  t.equal(store.size, 10_000)
  t.equal(store.take('id0'), 'value0', 'the oldest is still there')
  t.equal(store.set('id10000', 'value10000', 60_000, owner(10_000)), true, 'a ticket taken makes room')
  t.equal(store.take('id10000'), 'value10000')
  t.equal(store.take('id10000'), undefined, 'once')
})

t.test('the default store drops expired entries, with no timer', async (t) => {
  const owner = { identity: 'alice', maxPerIdentity: 100 }
  const store = new MemoryTicketStore({ maxEntries: 100 })
  for (let i = 0; i < 5; i++) store.set(`old${i}`, 'v', 20, owner)
  store.set('lasting', 'v', 60_000, owner)
  store.set('late', 'v', 20, { identity: 'bob', maxPerIdentity: 1 })
  t.equal(store.size, 7)
  await sleep(40)
  t.equal(store.take('late'), undefined, 'an expired entry is not given back')
  t.equal(store.size, 6, 'and is gone')
  store.set('new', 'v', 60_000, owner)
  t.equal(store.size, 2, 'storing drops the expired entries at the old end')
  t.equal(store.take('lasting'), 'v')

  // Expired entries behind a live one are left until the store is full, then all dropped to make room.
  const small = new MemoryTicketStore({ maxEntries: 3 })
  small.set('lasting', 'v', 60_000, { identity: 'alice', maxPerIdentity: 3 })
  small.set('short1', 'v', 20, { identity: 'bob', maxPerIdentity: 3 })
  small.set('short2', 'v', 20, { identity: 'bob', maxPerIdentity: 3 })
  await sleep(40)
  t.equal(small.set('new', 'v', 60_000, { identity: 'carol', maxPerIdentity: 3 }), true, 'a full store of expired entries has room')
  t.equal(small.size, 2)
  t.same([small.take('lasting'), small.take('new')], ['v', 'v'])

  t.throws(() => new MemoryTicketStore({ maxEntries: 0 }), /maxEntries must be a positive integer/)
  t.throws(() => new MemoryTicketStore({ maxEntries: 1.5 }), /maxEntries must be a positive integer/)
  t.throws(() => new MemoryTicketStore({ maxEntries: '10' as never }), /maxEntries must be a positive integer/)
  t.throws(() => new MemoryTicketStore({ max: 10 } as never), /new MemoryTicketStore\(options\): unknown option "max"; the only option is maxEntries$/)
  t.throws(() => new MemoryTicketStore(null as never), /options must be an object like \{ maxEntries: 10000 \}/)
})

/** Live timers (see hardening-timeout.test.ts). */
function timers (): number {
  return process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length
}

async function settledTimers (baseline: number): Promise<number> {
  for (let i = 0; i < 100 && timers() > baseline; i++) await sleep(10)
  return timers()
}

t.test('timers: a waiting ticket holds none, and issuing, redeeming, replaying and expiry leave none', async (t) => {
  const { http, ws } = await serve(t, { ttl: 600 })
  await issue(http)
  const baseline = await settledTimers(0)
  const waiting = await issue(http)
  const expiring = await issue(http, { origin: SITE })
  t.equal(await settledTimers(baseline), baseline, 'two tickets wait, no timer')
  t.equal(await status(`${ws}/ws`, offer(waiting)), 101)
  t.equal(await status(`${ws}/ws`, offer(waiting)), 403)
  t.equal(await settledTimers(baseline), baseline, 'none after redeeming and replaying')
  await new Promise((resolve) => { setTimeout(resolve, 650) })
  t.equal(await status(`${ws}/ws`, offer(expiring), { origin: SITE }), 403)
  t.equal(await settledTimers(baseline), baseline, 'none after expiry')
})

t.test('options are checked when webSocketTickets() is called', async (t) => {
  const store = new MemoryTicketStore()
  const bad: Array<[unknown, RegExp]> = [
    [null, /^fastify-authentication\/websocket: options must be an object like \{ ttl: 30000, maxPerIdentity: 16, store \}$/],
    ['30000', /options must be an object/],
    [{ ttl: 0 }, /the ttl option must be a positive integer of milliseconds, like 30000/],
    [{ ttl: -1 }, /the ttl option/],
    [{ ttl: 1.5 }, /the ttl option/],
    [{ ttl: '30000' }, /the ttl option/],
    [{ ttl: Infinity }, /the ttl option/],
    [{ maxPerIdentity: 0 }, /the maxPerIdentity option must be a positive integer, like 16/],
    [{ maxPerIdentity: 1.5 }, /the maxPerIdentity option/],
    [{ maxPerIdentity: '16' }, /the maxPerIdentity option/],
    [{ store: null }, /the store option must be an object with set\(id, value, ttlMs, owner\) and take\(id\) methods/],
    [{ store: new Map() }, /the store option/],
    [{ store: { set () {} } }, /the store option/],
    [{ store: { take () {} } }, /the store option/],
    [{ store: 'redis' }, /the store option/],
    [{ ttl: 1000, store, maxEntries: 10 }, /unknown option "maxEntries"; the options are ttl, maxPerIdentity and store/]
  ]
  for (const [options, message] of bad) {
    t.throws(() => webSocketTickets(options as WebSocketTicketsOptions), message, JSON.stringify(options) ?? String(options))
  }
  const tickets = webSocketTickets({ ttl: 1, store })
  t.same(Object.keys(tickets).sort(), ['authenticate', 'credential', 'handleProtocols', 'issue'], 'a backend with issue and handleProtocols, and no challenge')
  t.equal(tickets.credential, 'sec-websocket-protocol:ticket', 'it reads the ticket offered as a subprotocol')
  t.equal(tickets.challenge, undefined)
})

t.test('TicketUser', async (t) => {
  const user = new TicketUser({ identity: 'u-1', displayName: 'Alice' })
  t.same([user.isAuthenticated, user.identity, user.displayName], [true, 'u-1', 'Alice'])
  t.throws(() => new TicketUser({ identity: 'u-1' } as never), new TypeError('TicketUser({ identity, displayName }) takes two strings'))
  t.throws(() => new TicketUser({ identity: 1, displayName: 'Alice' } as never), TypeError)
})
