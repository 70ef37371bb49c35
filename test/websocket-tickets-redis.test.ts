// WebSocket tickets shared through Redis, as several server processes share them: a real
// redis-server on a free port, two Fastify instances each with its own connection and backend.
// No skipping: without redis-server this test fails, saying how to install it (CI installs it).
import { request as httpRequest } from 'node:http'
import { text } from 'node:stream/consumers'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import Redis from 'ioredis'
import WebSocket from 'ws'
import authentication from '../lib/index'
import { TicketUser, webSocketTickets, type TicketStore, type WebSocketTicketsOptions } from '../lib/backends/tickets'
import { listen } from './helpers'
import { startRedis } from './redis-server'
import { tokens } from './ticket-caller'

const SITE = 'https://app.example'
const EVIL = 'https://evil.example'

// The Redis store of docs/backends/tickets.md, as written there.

// KEYS: the ticket, the identity's tickets (a sorted set by expiry); ARGV: value, ttlMs, now, maxPerIdentity.
const SET_TICKET = `
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
for _, oldest in ipairs(redis.call('ZRANGE', KEYS[2], 0, -tonumber(ARGV[4]))) do
  redis.call('DEL', oldest)
  redis.call('ZREM', KEYS[2], oldest)
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[2]), KEYS[1])
redis.call('PEXPIREAT', KEYS[2], redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')[2])
`

function redisStore (redis: Redis): TicketStore {
  return {
    set: (id, value, ttlMs, { identity, maxPerIdentity }) =>
      redis.eval(SET_TICKET, 2, `ws-ticket:${id}`, `ws-tickets-of:${identity}`, value, ttlMs, Date.now(), maxPerIdentity),
    take: (id) => redis.getdel(`ws-ticket:${id}`) // GETDEL: Redis 6.2+
  }
}

interface Instance { http: string, ws: string, redis: Redis }

/** One server process: its own Redis connection, its own backend, the same Redis. */
async function instance (t: Test, port: number, options: WebSocketTicketsOptions = {}): Promise<Instance> {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true })
  await redis.connect()
  const tickets = webSocketTickets({ ...options, store: redisStore(redis) })
  const app = Fastify()
  await app.register(websocket, { options: { handleProtocols: tickets.handleProtocols } })
  await app.register(authentication, { backend: [tickets, tokens], origins: [SITE, EVIL] })
  app.post('/ws-ticket', { config: { requires: 'authenticated' } }, async (request) => ({ ticket: await tickets.issue(request) }))
  app.get('/ws', { websocket: true, config: { requires: 'authenticated' } }, (socket, request: FastifyRequest) => {
    socket.send(JSON.stringify({
      user: request.user.displayName,
      ticketUser: request.user instanceof TicketUser,
      scopes: request.auth.scopes,
      expiresAt: request.auth.expiresAt ?? null
    }))
  })
  const urls = await listen(app, t)
  // Registered after listen's: runs first, so the connection closes after the app.
  t.teardown(async () => { await redis.quit() })
  return { ...urls, redis }
}

async function issue (http: string, { user = 'alice', origin, expiresAt }: { user?: string, origin?: string, expiresAt?: number } = {}): Promise<string> {
  const headers: Record<string, string> = { authorization: `Token ${user}` }
  if (origin !== undefined) headers.origin = origin
  if (expiresAt !== undefined) headers['x-expires-at'] = String(expiresAt)
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(http)
    const req = httpRequest({ host: hostname, port, path: '/ws-ticket', method: 'POST', headers, agent: false })
    req.on('response', (res) => {
      text(res).then((body) => res.statusCode === 200 ? resolve(JSON.parse(body).ticket) : reject(new Error(`POST /ws-ticket answered ${res.statusCode}: ${body}`)), reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** A real handshake offering `chat` and the ticket: 101 with the first message, or the refusal's status. */
function open (ws: string, ticket: string, origin?: string): Promise<{ status: number, protocol?: string, message?: { user: string } & Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${ws}/ws`, ['chat', `ticket.${ticket}`], { origin })
    socket.on('message', (data) => {
      resolve({ status: 101, protocol: socket.protocol, message: JSON.parse(String(data)) })
      socket.terminate()
    })
    socket.on('unexpected-response', (request, response) => {
      response.resume()
      response.on('end', () => {
        request.destroy()
        resolve({ status: response.statusCode ?? 0 })
      })
    })
    socket.on('error', reject)
  })
}

t.test('the Redis store, against a real redis-server', async (t) => {
  const port = await startRedis(t)

  t.test('several server processes: a ticket issued by one is redeemed by another, once', async (t) => {
    const a = await instance(t, port)
    const b = await instance(t, port)
    const ticket = await issue(a.http, { origin: SITE })
    const keys = await a.redis.keys('ws-ticket:*')
    t.equal(keys.length, 1, 'one entry in Redis')
    t.notOk(keys[0].includes(ticket), 'keyed by the digest, not the ticket')
    t.notOk((await a.redis.get(keys[0]))?.includes(ticket), 'the value does not hold the ticket')
    const ttl = await a.redis.pttl(keys[0])
    t.ok(ttl > 29_000 && ttl <= 30_000, 'Redis expires it after the default ttl, 30 s')

    t.same(await open(b.ws, ticket, SITE), {
      status: 101, protocol: 'chat', message: { user: 'alice', ticketUser: true, scopes: ['authenticated', 'chat'], expiresAt: null }
    }, 'issued on A, redeemed on B')
    t.equal(await a.redis.exists(keys[0]), 0, 'GETDEL removed it')
    t.same(await open(b.ws, ticket, SITE), { status: 403 }, 'replayed on B: 403')
    t.same(await open(a.ws, ticket, SITE), { status: 403 }, 'replayed on A: 403')
  })

  t.test('of handshakes racing on two servers with one ticket, exactly one is upgraded', async (t) => {
    const a = await instance(t, port)
    const b = await instance(t, port)
    for (let round = 0; round < 5; round++) {
      const ticket = await issue(round % 2 === 0 ? a.http : b.http)
      const statuses = await Promise.all([a, b, a, b].map(({ ws }) => open(ws, ticket).then(({ status }) => status)))
      t.same(statuses.sort(), [101, 403, 403, 403], `round ${round}`)
    }
  })

  t.test('expiry: Redis drops the ticket after ttl, or when the credentials expire first', async (t) => {
    const a = await instance(t, port, { ttl: 200 })
    const b = await instance(t, port, { ttl: 200 })
    const ticket = await issue(a.http)
    await sleep(300)
    t.same(await a.redis.keys('ws-ticket:*'), [], 'gone from Redis')
    t.same(await open(b.ws, ticket), { status: 403 }, 'expired: 403')

    const long = await instance(t, port)
    const expiresAt = Date.now() + 1000
    const early = await issue(long.http, { expiresAt })
    const [key] = await long.redis.keys('ws-ticket:*')
    t.ok(await long.redis.pttl(key) <= 1000, 'PX is cut to the credentials\' expiry')
    t.match(await open(b.ws, early), { status: 101, message: { expiresAt } }, 'and the redeemed credentials carry it')
  })

  t.test('the Origin binding holds across servers', async (t) => {
    const a = await instance(t, port)
    const b = await instance(t, port)
    const ticket = await issue(a.http, { origin: SITE })
    t.same(await open(b.ws, ticket, EVIL), { status: 403 }, 'another Origin on another server: 403')
    t.same(await open(a.ws, ticket, SITE), { status: 403 }, 'and the refusal used the ticket up')
    const bare = await issue(b.http)
    t.same(await open(a.ws, bare, SITE), { status: 403 }, 'issued without an Origin, used with one: 403')
  })

  t.test('one identity holds maxPerIdentity tickets across servers, its oldest going first; other identities keep theirs', async (t) => {
    const a = await instance(t, port, { maxPerIdentity: 2 })
    const b = await instance(t, port, { maxPerIdentity: 2 })
    const bob = await issue(a.http, { user: 'bob' })
    const erin = [await issue(a.http, { user: 'erin' }), await issue(b.http, { user: 'erin' }), await issue(a.http, { user: 'erin' })]
    t.same(await a.redis.zcard('ws-tickets-of:erin'), 2, 'a sorted set of erin\'s tickets, two of them')
    const ttl = await a.redis.pttl('ws-tickets-of:erin')
    t.ok(ttl > 29_000 && ttl <= 30_000, 'which Redis drops with the last of them')
    t.same(await open(b.ws, erin[0]), { status: 403 }, 'erin\'s oldest went')
    t.match(await open(b.ws, erin[1]), { status: 101, message: { user: 'erin' } }, 'her newer ones redeem')
    t.match(await open(a.ws, erin[2]), { status: 101, message: { user: 'erin' } })
    t.match(await open(b.ws, bob), { status: 101, message: { user: 'bob' } }, 'and bob\'s is untouched')
  })
})
