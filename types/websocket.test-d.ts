// fastify-authentication/websocket: tickets are a backend with issue() and handleProtocols, whose
// handleProtocols fits @fastify/websocket's options and whose store fits a few lines of ioredis.
import type { IncomingMessage } from 'node:http'
import Fastify, { type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import Redis from 'ioredis'
import { expectAssignable, expectError, expectType } from 'tsd'
import authentication, { BaseUser, type AuthenticationBackend } from 'fastify-authentication'
import {
  MemoryTicketStore, TicketUser, webSocketTickets,
  type MemoryTicketStoreOptions, type TicketOwner, type TicketStore, type WebSocketTickets, type WebSocketTicketsOptions
} from 'fastify-authentication/websocket'

const tickets = webSocketTickets()
expectType<WebSocketTickets>(tickets)
expectAssignable<AuthenticationBackend>(tickets)
webSocketTickets({})
webSocketTickets({ ttl: 10_000 })
webSocketTickets({ ttl: 10_000, store: new MemoryTicketStore({ maxEntries: 100 }) })
webSocketTickets({ ttl: 10_000, maxPerIdentity: 4 })
expectError(webSocketTickets({ maxPerIdentity: '4' }))
expectType<'sec-websocket-protocol:ticket'>(tickets.credential)
expectAssignable<WebSocketTicketsOptions>({ store: new MemoryTicketStore() })
expectError(webSocketTickets({ ttl: '30s' }))
expectError(webSocketTickets({ ttl: 1000, maxEntries: 10 }))
expectError(webSocketTickets({ store: { set () {} } }))
expectError(webSocketTickets({ store: { take: () => null } }))
expectError(webSocketTickets({ store: { set (_id: string, _value: object) {}, take: () => null } }))
expectError(webSocketTickets({ store: { set () {}, take: () => 42 } }))

// The README's Redis store: set through a script that keeps each identity's quota, take with GETDEL.
const redis = new Redis()
const SET_TICKET = 'the README\'s script'
const redisStore: TicketStore = {
  set: (id, value, ttlMs, { identity, maxPerIdentity }) =>
    redis.eval(SET_TICKET, 2, `ws-ticket:${id}`, `ws-tickets-of:${identity}`, value, ttlMs, Date.now(), maxPerIdentity),
  take: (id) => redis.getdel(`ws-ticket:${id}`)
}
webSocketTickets({ store: redisStore })
// A store written before set() had an owner still fits (with no quota), and a full one says false.
expectAssignable<TicketStore>({ set: (id: string, value: string, ttlMs: number) => redis.set(id, value, 'PX', ttlMs), take: (id: string) => redis.getdel(id) })
expectAssignable<TicketStore>({ set: () => false, take: () => null })
expectAssignable<TicketOwner>({ identity: 'u-1', maxPerIdentity: 16 })
// Sync and async stores alike.
const map = new Map<string, string>()
expectAssignable<TicketStore>({ set: (id: string, value: string) => { map.set(id, value) }, take: (id: string) => map.get(id) })
expectAssignable<TicketStore>({ set: async () => {}, take: async () => null })

// The default store.
const store = new MemoryTicketStore()
expectAssignable<TicketStore>(store)
expectType<number>(store.size)
expectType<string | undefined>(store.take('id'))
expectType<boolean>(store.set('id', 'value', 1000, { identity: 'u-1', maxPerIdentity: 16 }))
expectError(store.set('id', 'value', 1000))
expectAssignable<MemoryTicketStoreOptions>({ maxEntries: 10 })
expectError(new MemoryTicketStore({ max: 10 }))
expectError(new MemoryTicketStore({ maxEntries: '10' }))

// handleProtocols is ws's: @fastify/websocket takes it as it is.
expectType<string | false>(tickets.handleProtocols(new Set(['chat', 'ticket.x'])))
const handleProtocols: (protocols: Set<string>, request: IncomingMessage) => string | false = tickets.handleProtocols
expectError(tickets.handleProtocols(['chat']))

const app = Fastify()
app.register(websocket, { options: { handleProtocols: tickets.handleProtocols } })
app.register(websocket, { options: { handleProtocols } })
app.register(authentication, { backend: [tickets, { authenticate: () => null }] })
app.post('/ws-ticket', async (request) => {
  expectType<Promise<string>>(tickets.issue(request))
  return { ticket: await tickets.issue(request) }
})
expectError(tickets.issue())
expectError(tickets.issue({ headers: {} }))
expectType<(request: FastifyRequest) => Promise<string>>(tickets.issue)

// What request.user is on a socket a ticket opened.
const user = new TicketUser({ identity: 'u-1', displayName: 'Alice' })
expectAssignable<BaseUser>(user)
expectType<string>(user.identity)
expectType<string>(user.displayName)
expectType<boolean>(user.isAuthenticated)
expectError(new TicketUser('u-1'))
expectError(new TicketUser({ identity: 'u-1' }))
