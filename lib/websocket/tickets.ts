import { hash, randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyRequest } from 'fastify'
import { isThenable, type AuthenticationBackend, type AuthenticationResult } from '../backend'
import { checkOptionNames } from '../backends/recognised'
import { AuthCredentials, areCredentials } from '../credentials'
import { AuthenticationError } from '../errors'
import type { Scope } from '../types'
import { BaseUser } from '../users'
import { isWebSocketRequest } from './handshake'

const MODULE = 'fastify-authentication/websocket'
const PREFIX = 'ticket.'
// 256 bits in base64url, unpadded.
const TICKET = /^[A-Za-z0-9_-]{43}$/
const DEFAULT_TTL = 30_000

/**
 * Where tickets wait to be redeemed. `id` is the SHA-256 digest of the ticket (base64url), never
 * the ticket itself; `value` is an opaque string (JSON) to give back as it was. `take` must get and
 * delete in one step (Redis `GETDEL`), so that two servers can never redeem the same ticket. A
 * store may forget an entry after `ttlMs`; the backend checks the expiry itself anyway.
 */
export interface TicketStore {
  set (id: string, value: string, ttlMs: number): void | PromiseLike<unknown>
  take (id: string): string | null | undefined | PromiseLike<string | null | undefined>
}

export interface WebSocketTicketsOptions {
  /** How long a ticket lives, in milliseconds: 30 000 unless given. Less if the credentials expire first. */
  ttl?: number
  /** Where tickets wait: one bounded `MemoryTicketStore` per backend unless given. Share one (Redis) between processes. */
  store?: TicketStore
}

/** A backend for WebSocket handshakes that carries the caller of an HTTP request over, with a single-use ticket. */
export interface WebSocketTickets extends AuthenticationBackend {
  /**
   * A ticket for the caller of `request`, an authenticated HTTP request: 43 base64url characters
   * (256 random bits), bound to the request's `Origin`. Rejects with a 401 `AuthenticationError`
   * for an anonymous caller or expired credentials.
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

export interface MemoryTicketStoreOptions {
  /** Tickets held at most (10 000 unless given); past it the oldest is forgotten. */
  maxEntries?: number
}

/**
 * The default store: a `Map` in this process, bounded (the oldest entry goes first), with no
 * timer: an entry is checked for expiry when it is taken, and expired entries at the old end are
 * dropped whenever a ticket is stored.
 */
export class MemoryTicketStore implements TicketStore {
  readonly #entries = new Map<string, { value: string, expiresAt: number }>()
  readonly #maxEntries: number

  constructor (options: MemoryTicketStoreOptions = {}) {
    checkOptionNames(options, ['maxEntries'], `${MODULE}: new MemoryTicketStore(options)`, '{ maxEntries: 10000 }')
    const { maxEntries = 10_000 } = options
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError(`${MODULE}: new MemoryTicketStore(options): maxEntries must be a positive integer`)
    }
    this.#maxEntries = maxEntries
  }

  /** How many tickets are held, expired ones not dropped yet included. */
  get size (): number {
    return this.#entries.size
  }

  set (id: string, value: string, ttlMs: number): void {
    const now = Date.now()
    const entries = this.#entries
    // Oldest first: drop the expired ones at the old end, then the oldest while full.
    for (const [oldest, { expiresAt }] of entries) {
      if (expiresAt > now && entries.size < this.#maxEntries) break
      entries.delete(oldest)
    }
    entries.set(id, { value, expiresAt: now + ttlMs })
  }

  take (id: string): string | undefined {
    const entry = this.#entries.get(id)
    if (entry === undefined) return undefined
    this.#entries.delete(id)
    return entry.expiresAt > Date.now() ? entry.value : undefined
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
 * Single-use tickets that carry an HTTP caller over to a WebSocket handshake, offered as the
 * subprotocol `ticket.<ticket>`: `await tickets.issue(request)` in an authenticated route, then
 * `new WebSocket(url, ['chat', 'ticket.' + ticket])` on the client, with `tickets` in the plugin's
 * backends and `tickets.handleProtocols` in `@fastify/websocket`'s options.
 */
export function webSocketTickets (options: WebSocketTicketsOptions = {}): WebSocketTickets {
  checkOptionNames(options, ['ttl', 'store'], MODULE, '{ ttl: 30000, store }')
  const { ttl = DEFAULT_TTL, store = new MemoryTicketStore() } = options
  if (!Number.isSafeInteger(ttl) || ttl < 1) {
    throw new TypeError(`${MODULE}: the ttl option must be a positive integer of milliseconds, like 30000`)
  }
  if (typeof store !== 'object' || store === null || typeof store.set !== 'function' || typeof store.take !== 'function') {
    throw new TypeError(`${MODULE}: the store option must be an object with set(id, value, ttlMs) and take(id) methods`)
  }

  return {
    authenticate (request) {
      if (!isWebSocketRequest(request)) return null
      const ticket = offeredTicket(request.headers['sec-websocket-protocol'])
      if (ticket === undefined) return null
      const origin = request.headers.origin ?? null
      const taken = store.take(idOf(ticket))
      return isThenable(taken) ? taken.then((value) => redeemed(value, origin)) : redeemed(taken, origin)
    },

    async issue (request) {
      const { auth, user } = callerOf(request)
      const now = Date.now()
      if (auth.expiresAt !== undefined && auth.expiresAt <= now) {
        throw new AuthenticationError('The credentials have expired: sign in again before asking for a WebSocket ticket', { statusCode: 401 })
      }
      const expiresAt = Math.min(now + ttl, auth.expiresAt ?? Infinity)
      const record: TicketRecord = {
        scopes: [...auth.scopes],
        user,
        origin: request.headers.origin ?? null,
        expiresAt,
        authExpiresAt: auth.expiresAt ?? null
      }
      const ticket = randomBytes(32).toString('base64url')
      await store.set(idOf(ticket), JSON.stringify(record), Math.ceil(expiresAt - now))
      return ticket
    },

    handleProtocols: selectProtocol
  }
}

/** The issuing request's credentials and user, checked: only an authenticated caller gets a ticket. */
function callerOf (request: FastifyRequest): { auth: AuthCredentials, user: TicketRecord['user'] } {
  const { auth, user } = (request ?? {}) as Partial<FastifyRequest>
  if (!areCredentials(auth)) {
    throw new TypeError(`${MODULE}: tickets.issue(request) takes a request the plugin authenticated: register fastify-authentication in the route's scope or a parent scope`)
  }
  if (user?.isAuthenticated !== true) {
    throw new AuthenticationError('Authentication required for a WebSocket ticket', { statusCode: 401 })
  }
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
  if (offered.length > 1) throw refusal('Several WebSocket tickets offered')
  const ticket = offered[0].slice(PREFIX.length)
  if (!TICKET.test(ticket)) throw refusal('Malformed WebSocket ticket')
  return ticket
}

/** The caller a taken ticket stands for, or a refusal: gone (unknown, used), expired, or from another Origin. */
function redeemed (value: string | null | undefined, origin: string | null): AuthenticationResult {
  if (value == null) throw refusal('Unknown or already used WebSocket ticket')
  const record = parsed(value)
  if (record.expiresAt <= Date.now()) throw refusal('Expired WebSocket ticket')
  // An opaque origin (a sandboxed frame, a file: page) is `null` on the wire whoever sends it: it matches nothing.
  if (record.origin !== origin || origin === 'null') throw refusal('WebSocket ticket issued to another Origin')
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

/** Refuses the handshake (always a 403): the message says why, never what the ticket was. */
function refusal (message: string): AuthenticationError {
  return new AuthenticationError(message, { statusCode: 403 })
}

/** `ws`'s handleProtocols: the client's own protocol, never the ticket; `false` selects none. */
function selectProtocol (protocols: ReadonlySet<string>): string | false {
  for (const protocol of protocols) {
    if (!protocol.startsWith(PREFIX)) return protocol
  }
  return false
}
