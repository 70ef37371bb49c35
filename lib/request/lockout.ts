// The lockout option: failed logins limited. Each rejected credential counts against the client's
// IP and, where the scheme names one (Basic's user-id), against that identity; once either has had
// `max` within a window, its requests are refused with 429 before any backend runs, until the
// window ends.
import { createHash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { AuthenticationBackend } from '../backends/contract'
import { AuthenticationError, AuthenticationPluginError } from '../model/errors'
import { Outage } from '../model/outage'
import type { AuthenticationStore } from '../store/memory'

export interface LockoutOptions {
  /** Rejected credentials allowed within a window; the next request is refused. Default: 10. */
  max?: number
  /** How long a window, and so a lock, lasts, in milliseconds. Default: 15 minutes. */
  windowMs?: number
}

// OWASP ASVS 5.0 §6.3.1 asks for controls against credential stuffing and brute force that a
// caller cannot turn against a user: 10 failures per 15 minutes slows a guesser to 960 passwords
// a day per IP and per user-id, while a user who mistypes a few times is never locked out, and a
// lock another caller provokes lasts no longer than the window.
const DEFAULTS = { max: 10, windowMs: 15 * 60_000 }
const KEY = 'fastify-authentication:lockout:'

/** The keys a request counts against: its IP's and its identity's, kept by `check` for `count`. */
const kKeys = Symbol('fastify-authentication.lockoutKeys')
/** Seconds left of the lock that refuses the request, kept for the decision. */
export const kLockedOut = Symbol('fastify-authentication.lockedOut')

declare module 'fastify' {
  interface FastifyRequest {
    [kKeys]: string[] | undefined
    [kLockedOut]: number | undefined
  }
}

export class Lockout {
  readonly #max: number
  readonly #windowMs: number
  readonly #store: AuthenticationStore
  readonly #backends: readonly AuthenticationBackend[]
  readonly #outage = new Outage('fastify-authentication: the store (the store option) cannot be reached; every request the lockout checks gets 503 until it can')

  constructor ({ max, windowMs }: Required<LockoutOptions>, store: AuthenticationStore, backends: readonly AuthenticationBackend[]) {
    this.#max = max
    this.#windowMs = windowMs
    this.#store = store
    this.#backends = backends
  }

  /** Seconds left of the longest lock on the request's IP or identity, or `undefined` when neither is locked. */
  async check (request: FastifyRequest): Promise<number | undefined> {
    const keys = [KEY + 'ip:' + request.ip]
    const identity = claimedIdentity(this.#backends, request)
    // Hashed: a user-id is the caller's to choose, of any length, and no store should hold it as sent.
    if (identity !== undefined) keys.push(KEY + 'identity:' + createHash('sha256').update(identity).digest('base64url'))
    request[kKeys] = keys
    let counts
    try {
      counts = await Promise.all(keys.map((key) => this.#store.get(key)))
    } catch (error) {
      this.#outage.failed(error, request.log)
      throw storeFailed(error)
    }
    this.#outage.answered(request.log, 'fastify-authentication: the store (the store option) answers the lockout again')
    const now = Date.now()
    let resetAt = now
    for (const entry of counts) {
      if (entry != null && entry.count >= this.#max) resetAt = Math.max(resetAt, entry.resetAt)
    }
    return resetAt > now ? Math.ceil((resetAt - now) / 1000) : undefined
  }

  /**
   * Counts a refusal if it rejected credentials: a 4xx `AuthenticationError`, never an outage
   * (5xx), a timeout or a backend's failure. A store that fails is logged; the request is refused anyway.
   */
  async count (failure: Error, request: FastifyRequest): Promise<void> {
    if (!(failure instanceof AuthenticationError) || failure.statusCode >= 500) return
    try {
      await Promise.all((request[kKeys] as string[]).map(async (key) => {
        const { count } = await this.#store.increment(key, this.#windowMs)
        if (count === this.#max) request.log.warn(`fastify-authentication: ${key.includes(':ip:') ? 'the IP' : 'the identity'} of this request is locked out for ${this.#windowMs} ms after ${count} rejected credentials (the lockout option)`)
      }))
    } catch (error) {
      request.log.error({ err: error }, 'fastify-authentication: the store did not count a rejected credential (the lockout option)')
    }
  }
}

/** The identity the request's credentials name, unverified: the first a backend reads from them. */
function claimedIdentity (backends: readonly AuthenticationBackend[], request: FastifyRequest): string | undefined {
  for (const backend of backends) {
    const identity = backend.claimedIdentity?.(request)
    if (identity !== undefined) return identity
  }
  return undefined
}

function storeFailed (cause: unknown): AuthenticationPluginError {
  return new AuthenticationPluginError('FST_AUTHENTICATION_STORE_UNAVAILABLE', 503,
    'fastify-authentication: the store did not answer, so the lockout cannot tell whether the caller is locked out (its error is logged as the cause)', { cause, reason: 'unavailable' })
}

/** The lockout option, checked, with the defaults: `true` takes them all. */
export function checkLockout (lockout: unknown): Required<LockoutOptions> | undefined {
  if (lockout === undefined || lockout === false) return undefined
  if (lockout !== true && (typeof lockout !== 'object' || lockout === null)) {
    throw new TypeError('fastify-authentication: the lockout option must be true or an object like { max: 10, windowMs: 900000 }')
  }
  const { max, windowMs, ...others } = (lockout === true ? {} : lockout) as LockoutOptions
  const unknown = Object.keys(others)
  if (unknown.length > 0) {
    throw new TypeError(`fastify-authentication: unknown lockout option "${unknown[0]}"; the lockout options are max and windowMs`)
  }
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) {
    throw new RangeError('fastify-authentication: lockout.max must be a whole number of rejected credentials, 1 or more')
  }
  if (windowMs !== undefined && (!Number.isSafeInteger(windowMs) || windowMs < 1)) {
    throw new RangeError('fastify-authentication: lockout.windowMs must be a whole number of milliseconds greater than 0')
  }
  return { max: max ?? DEFAULTS.max, windowMs: windowMs ?? DEFAULTS.windowMs }
}
