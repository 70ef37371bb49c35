// Where WebSocket tickets wait to be redeemed: the TicketStore contract, and the default store,
// a bounded Map in this process. A store holds digests of tickets, never tickets.
import { checkOptionNames } from './shared'

const MODULE = 'fastify-authentication/websocket'

/** Whose ticket an entry is, and how many live tickets that identity may hold (the `maxPerIdentity` option). */
export interface TicketOwner {
  identity: string
  maxPerIdentity: number
}

/**
 * Where tickets wait to be redeemed. `id` is the SHA-256 digest of the ticket (base64url), never
 * the ticket itself; `value` is an opaque string (JSON) to give back as it was. `take` must get and
 * delete in one step (Redis `GETDEL`), so that two servers can never redeem the same ticket. A
 * store may forget an entry after `ttlMs`; the backend checks the expiry itself anyway.
 *
 * Under pressure a store never forgets another identity's live ticket: it keeps at most
 * `owner.maxPerIdentity` tickets of `owner.identity`, forgetting that identity's oldest first (a
 * Redis store keeps a sorted set of each identity's tickets), and when it has no room left, `set`
 * returns (or resolves to) `false`, and `issue()` refuses with 503.
 */
export interface TicketStore {
  set (id: string, value: string, ttlMs: number, owner: TicketOwner): boolean | void | PromiseLike<unknown>
  take (id: string): string | null | undefined | PromiseLike<string | null | undefined>
}

export interface MemoryTicketStoreOptions {
  /** Tickets held at most (10 000 unless given); when that many are live, `issue()` refuses with 503. */
  maxEntries?: number
}

interface Entry { value: string, expiresAt: number, identity: string }

/**
 * The default store: a `Map` in this process, bounded, with no timer. An entry is checked for
 * expiry when it is taken; expired entries at the old end are dropped whenever a ticket is stored,
 * and all of them when the store is full. Each identity's tickets are listed oldest first, for
 * its quota. A full store refuses (`set` returns `false`) rather than forget a live ticket.
 */
export class MemoryTicketStore implements TicketStore {
  readonly #entries = new Map<string, Entry>()
  /** The ids of each identity's tickets, oldest first. */
  readonly #owned = new Map<string, string[]>()
  readonly #maxEntries: number

  constructor (options: MemoryTicketStoreOptions = {}) {
    this.#maxEntries = checkOptions(options).maxEntries
  }

  /** How many tickets are held, expired ones not dropped yet included. */
  get size (): number {
    return this.#entries.size
  }

  set (id: string, value: string, ttlMs: number, { identity, maxPerIdentity }: TicketOwner): boolean {
    const now = Date.now()
    const entries = this.#entries
    // Oldest first: the expired ones at the old end; past the first live one only when full.
    for (const [oldest, entry] of entries) {
      if (entry.expiresAt <= now) this.#delete(oldest, entry)
      else if (entries.size < this.#maxEntries) break
    }
    // The identity makes room among its own tickets: never at another's expense.
    const owned = this.#owned.get(identity) ?? []
    while (owned.length >= maxPerIdentity) this.#delete(owned[0], entries.get(owned[0]) as Entry)
    if (entries.size >= this.#maxEntries) return false
    entries.set(id, { value, expiresAt: now + ttlMs, identity })
    owned.push(id)
    this.#owned.set(identity, owned)
    return true
  }

  take (id: string): string | undefined {
    const entry = this.#entries.get(id)
    if (entry === undefined) return undefined
    this.#delete(id, entry)
    return entry.expiresAt > Date.now() ? entry.value : undefined
  }

  #delete (id: string, { identity }: Entry): void {
    this.#entries.delete(id)
    const owned = this.#owned.get(identity) as string[]
    owned.splice(owned.indexOf(id), 1)
    if (owned.length === 0) this.#owned.delete(identity)
  }
}

function checkOptions (options: MemoryTicketStoreOptions): Required<MemoryTicketStoreOptions> {
  checkOptionNames(options, ['maxEntries'], `${MODULE}: new MemoryTicketStore(options)`, '{ maxEntries: 10000 }')
  const { maxEntries = 10_000 } = options
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError(`${MODULE}: new MemoryTicketStore(options): maxEntries must be a positive integer`)
  }
  return { maxEntries }
}
