// WebSocket tickets: reads a single-use ticket offered as the subprotocol `ticket.<ticket>` in a
// handshake's `Sec-WebSocket-Protocol` (RFC 6455 §4.1), issued by `issue(request)` to the caller of
// an authenticated HTTP request and redeemed once from a TicketStore. Served as
// `fastify-authentication/websocket`.
import { hash, randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyRequest } from 'fastify'
import { isThenable, type AuthenticationBackend, type AuthenticationResult } from './contract'
import { Outage } from '../model/outage'
import { AuthCredentials, areCredentials } from '../model/credentials'
import { AuthenticationError } from '../model/errors'
import type { Scope } from '../model/types'
import { BaseUser } from '../model/users'
import { isUpgrade } from '../websocket/handshake'
import { checkOptionNames } from './shared'
import { MemoryTicketStore, type TicketStore } from './ticket-store'

export { MemoryTicketStore, type MemoryTicketStoreOptions, type TicketOwner, type TicketStore } from './ticket-store'

export interface WebSocketTicketsOptions {
  /** How long a ticket lives, in milliseconds: 30 000 unless given. Less if the credentials expire first. */
  ttl?: number
  /** Live tickets one identity may hold, 16 unless given; a new one then replaces the identity's oldest. */
  maxPerIdentity?: number
  /** Where tickets wait: one bounded `MemoryTicketStore` per backend unless given. Share one (Redis) between processes. */
  store?: TicketStore
}

/** A backend for WebSocket handshakes that carries the caller of an HTTP request over, with a single-use ticket. */
export interface WebSocketTickets extends AuthenticationBackend {
  /** What the backend reads, for the chain rule: the ticket offered as a subprotocol. */
  readonly credential: 'sec-websocket-protocol:ticket'
  /**
   * A ticket for the caller of `request`, an authenticated HTTP request: 43 base64url characters
   * (256 random bits), bound to the request's `Origin`. Rejects with a 401 `AuthenticationError`
   * for an anonymous caller, expired credentials or a caller a ticket admitted (a ticket never
   * buys another), and with a 503 `unavailable` one (with `Retry-After`) when the store has no
   * room left or cannot be reached.
   */
  issue (request: FastifyRequest): Promise<string>
  /**
   * `ws`'s `handleProtocols`: the first protocol the client offered that is not a ticket, or
   * `false` (no `Sec-WebSocket-Protocol` in the answer). Never the ticket.
   */
  handleProtocols (protocols: ReadonlySet<string>, request?: IncomingMessage): string | false
}

/**
 * The caller of a handshake a ticket admitted: the issuing user's `identity` and `displayName`,
 * which is what survives a store that keeps strings (Redis). `isAuthenticated` is true.
 */
export class TicketUser extends BaseUser {
  readonly #identity: string
  readonly #displayName: string

  constructor ({ identity, displayName }: { identity: string, displayName: string }) {
    super()
    if (typeof identity !== 'string' || typeof displayName !== 'string') {
      throw new TypeError('TicketUser({ identity, displayName }) takes two strings')
    }
    this.#identity = identity
    this.#displayName = displayName
  }

  get isAuthenticated (): boolean { return true }
  get identity (): string { return this.#identity }
  get displayName (): string { return this.#displayName }
}

const MODULE = 'fastify-authentication/websocket'
const PREFIX = 'ticket.'
// 256 bits in base64url, unpadded.
const TICKET = /^[A-Za-z0-9_-]{43}$/
const DEFAULT_TTL = 30_000
// A user's tabs and reconnections within a ttl: 16 is plenty, and one identity can fill at most 16 places of a store.
const DEFAULT_MAX_PER_IDENTITY = 16
/** The requests a ticket admitted, of any `webSocketTickets` backend: a ticket never buys another. */
const admittedByTicket = new WeakSet<FastifyRequest>()

// Built once, thrown as often as needed. A handshake is refused with 403 whatever the status: the
// message says why, never what the ticket was.
const severalTickets = new AuthenticationError('Several WebSocket tickets offered', { statusCode: 403, reason: 'malformed-credentials' })
const malformedTicket = new AuthenticationError('Malformed WebSocket ticket', { statusCode: 403, reason: 'malformed-credentials' })
const unknownTicket = new AuthenticationError('Unknown or already used WebSocket ticket', { statusCode: 403, reason: 'unknown-token' })
const expiredTicket = new AuthenticationError('Expired WebSocket ticket', { statusCode: 403, reason: 'expired' })
const otherOrigin = new AuthenticationError('WebSocket ticket issued to another Origin', { statusCode: 403, reason: 'foreign-origin' })
// issue()'s refusals, sent to the HTTP caller asking for a ticket.
const anonymous = new AuthenticationError('Authentication required for a WebSocket ticket', { statusCode: 401, reason: 'missing-credentials' })
const expiredCredentials = new AuthenticationError('The credentials have expired: sign in again before asking for a WebSocket ticket', { statusCode: 401, reason: 'expired' })
const storeFull = new AuthenticationError('No room for another WebSocket ticket: try again shortly', { statusCode: 503, retryAfter: 1, reason: 'unavailable' })
// RFC 9110 §10.2.3: Retry-After in seconds; a store that cannot be reached is asked again on the next request.
const storeDown = new AuthenticationError('WebSocket tickets cannot be issued or redeemed right now', { statusCode: 503, retryAfter: 5, reason: 'unavailable' })

/**
 * Single-use tickets that carry an HTTP caller over to a WebSocket handshake, offered as the
 * subprotocol `ticket.<ticket>`: `await tickets.issue(request)` in an authenticated route, then
 * `new WebSocket(url, ['chat', 'ticket.' + ticket])` on the client, with `tickets` in the plugin's
 * backends and `tickets.handleProtocols` in `@fastify/websocket`'s options.
 */
export function webSocketTickets (options: WebSocketTicketsOptions = {}): WebSocketTickets {
  const { ttl, maxPerIdentity, store } = checkOptions(options)
  const outage = storeOutage()

  return {
    credential: 'sec-websocket-protocol:ticket',

    authenticate (request) {
      // A real handshake only: on anything else a ticket would be an HTTP credential.
      if (!isUpgrade(request)) return null
      const ticket = offeredTicket(request.headers['sec-websocket-protocol'])
      if (ticket === undefined) return null
      const origin = request.headers.origin ?? null
      const admit = (value: string | null | undefined): AuthenticationResult => {
        const caller = redeemed(value, origin)
        admittedByTicket.add(request)
        return caller
      }
      let taken: ReturnType<TicketStore['take']>
      try {
        taken = store.take(idOf(ticket))
      } catch (error) {
        return outage.failed(error, request)
      }
      if (!isThenable(taken)) return admit(outage.answered(taken, request))
      return taken.then((value) => admit(outage.answered(value, request)), (error: unknown) => outage.failed(error, request))
    },

    async issue (request) {
      const { auth, user } = callerOf(request)
      const now = Date.now()
      if (auth.expiresAt !== undefined && auth.expiresAt <= now) throw expiredCredentials
      const expiresAt = Math.min(now + ttl, auth.expiresAt ?? Infinity)
      const record: TicketRecord = {
        scopes: [...auth.scopes],
        user,
        origin: request.headers.origin ?? null,
        expiresAt,
        authExpiresAt: auth.expiresAt ?? null
      }
      const ticket = randomBytes(32).toString('base64url')
      let stored: Awaited<ReturnType<TicketStore['set']>>
      try {
        stored = await store.set(idOf(ticket), JSON.stringify(record), Math.ceil(expiresAt - now), { identity: user.identity, maxPerIdentity })
      } catch (error) {
        return outage.failed(error, request)
      }
      if (outage.answered(stored, request) === false) throw storeFull
      return ticket
    },

    handleProtocols: selectProtocol
  }
}

/**
 * A store that throws or rejects cannot be reached: a 503 `unavailable` with `Retry-After`, never a
 * rejected ticket, logged once per outage.
 */
function storeOutage (): {
  failed: (error: unknown, request: FastifyRequest) => never
  answered: <T>(value: T, request: FastifyRequest) => T
} {
  const outage = new Outage(`${MODULE}: the ticket store (the store option) cannot be reached; issue() and handshakes with a ticket get 503 until it can`)
  return {
    failed (error, request) {
      outage.failed(error, request.log)
      throw storeDown
    },
    answered (value, request) {
      outage.answered(request.log, `${MODULE}: the ticket store (the store option) answers again`)
      return value
    }
  }
}

/** What a ticket stands for, as stored: JSON, so that any store that keeps strings will do. */
interface TicketRecord {
  scopes: string[]
  user: { identity: string, displayName: string }
  /** The issuing request's `Origin`; `null` when it had none. */
  origin: string | null
  /** When the ticket expires, in epoch milliseconds. */
  expiresAt: number
  /** When the issuing credentials expire, in epoch milliseconds; `null` if they do not. */
  authExpiresAt: number | null
}

/**
 * The issuing request's credentials and user, checked: only a caller authenticated by other
 * credentials than a ticket gets one (a ticket never buys another).
 */
function callerOf (request: FastifyRequest): { auth: AuthCredentials, user: TicketRecord['user'] } {
  const { auth, user } = (request ?? {}) as Partial<FastifyRequest>
  if (!areCredentials(auth)) {
    throw new TypeError(`${MODULE}: tickets.issue(request) takes a request the plugin authenticated: register fastify-authentication in the route's scope or a parent scope`)
  }
  if (user?.isAuthenticated !== true || admittedByTicket.has(request)) throw anonymous
  const { identity, displayName } = user
  if (typeof identity !== 'string' || typeof displayName !== 'string') {
    throw new TypeError(`${MODULE}: tickets.issue(request): request.user must have a string identity and displayName`)
  }
  return { auth, user: { identity, displayName } }
}

/** The store's key for a ticket: its digest, so that whoever reads the store cannot redeem what is in it. */
function idOf (ticket: string): string {
  return hash('sha256', ticket, 'base64url')
}

/** The ticket among the offered subprotocols, `undefined` if none is. Never put in an error message. */
function offeredTicket (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const offered = header.split(',').map((protocol) => protocol.trim()).filter((protocol) => protocol.startsWith(PREFIX))
  if (offered.length === 0) return undefined
  if (offered.length > 1) throw severalTickets
  const ticket = offered[0].slice(PREFIX.length)
  if (!TICKET.test(ticket)) throw malformedTicket
  return ticket
}

/** The caller a taken ticket stands for, or a refusal: gone (unknown, used), expired, or from another Origin. */
function redeemed (value: string | null | undefined, origin: string | null): AuthenticationResult {
  if (value == null) throw unknownTicket
  const record = parsed(value)
  if (record.expiresAt <= Date.now()) throw expiredTicket
  // An opaque origin (a sandboxed frame, a file: page) is `null` on the wire whoever sends it: it matches nothing.
  if (record.origin !== origin || origin === 'null') throw otherOrigin
  const { scopes, user, authExpiresAt } = record
  const auth = new AuthCredentials(scopes as Scope[], authExpiresAt === null ? {} : { expiresAt: authExpiresAt })
  return { auth, user: new TicketUser(user) }
}

function parsed (value: unknown): TicketRecord {
  let record: Partial<TicketRecord> | undefined
  try {
    record = JSON.parse(value as string)
  } catch {}
  const { scopes, user, origin, expiresAt, authExpiresAt } = record ?? {}
  const valid = typeof value === 'string' &&
    Array.isArray(scopes) && typeof user === 'object' && user !== null &&
    (origin === null || typeof origin === 'string') && Number.isFinite(expiresAt) &&
    (authExpiresAt === null || Number.isFinite(authExpiresAt))
  if (!valid) {
    throw new Error(`${MODULE}: the ticket store gave back a value this backend did not store (take(id) must return the string set(id, value) was given)`)
  }
  return record as TicketRecord
}

/** `ws`'s handleProtocols: the client's own protocol, never the ticket; `false` selects none. */
function selectProtocol (protocols: ReadonlySet<string>): string | false {
  for (const protocol of protocols) {
    if (!protocol.startsWith(PREFIX)) return protocol
  }
  return false
}

/** The options, checked, with their defaults. */
interface Settings {
  ttl: number
  maxPerIdentity: number
  store: TicketStore
}

function checkOptions (options: WebSocketTicketsOptions): Settings {
  checkOptionNames(options, ['ttl', 'maxPerIdentity', 'store'], MODULE, '{ ttl: 30000, maxPerIdentity: 16, store }')
  const { ttl = DEFAULT_TTL, maxPerIdentity = DEFAULT_MAX_PER_IDENTITY, store = new MemoryTicketStore() } = options
  if (!Number.isSafeInteger(ttl) || ttl < 1) {
    throw new TypeError(`${MODULE}: the ttl option must be a positive integer of milliseconds, like 30000`)
  }
  if (!Number.isSafeInteger(maxPerIdentity) || maxPerIdentity < 1) {
    throw new TypeError(`${MODULE}: the maxPerIdentity option must be a positive integer, like 16`)
  }
  if (typeof store !== 'object' || store === null || typeof store.set !== 'function' || typeof store.take !== 'function') {
    throw new TypeError(`${MODULE}: the store option must be an object with set(id, value, ttlMs, owner) and take(id) methods`)
  }
  return { ttl, maxPerIdentity, store }
}
