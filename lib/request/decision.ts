import { STATUS_CODES } from 'node:http'
import type { FastifyRequest } from 'fastify'
import {
  AuthenticationError, AuthenticationPluginError, backendFailed, backendThrewNonError, codeOf, notCoveredError, type RefusalReason
} from '../model/errors'
import type { AuthenticationBackend } from '../backends/contract'
import { grants } from '../model/scopes'
import type { Scope } from '../model/types'
import { registrationOf, type Registration } from '../registration'
import type { Guard } from '../routes/guard'
import type { RoutePlan } from '../routes/plan'
import { isWebSocketRequest } from '../websocket/handshake'
import { kLockedOut } from './lockout'
import { safeNext } from './redirect'
import { FOREIGN_ORIGIN, kFailure, kRecognisedBy } from './state'

/**
 * Every refusal the plugin makes is decided here, and sent by `answer` (answer.ts): a route no
 * registration covers, a handshake from a foreign Origin, a backend that failed or took too long,
 * rejected credentials, and missing scopes. (Credentials that have expired count as none: the
 * chain drops them, and the caller is refused as an anonymous one.)
 */
export interface Refusal {
  readonly reason: RefusalReason
  /** The plugin's own failure (500, or 503 for a timeout), logged at error level with its cause. */
  readonly failure?: Error
  /** Credentials a backend rejected: the registration's `onError` answers them when it has one. */
  readonly rejected?: AuthenticationError
  readonly statusCode: number
  /** `WWW-Authenticate`: one value, or one header line for each. */
  readonly challenge?: string | readonly string[]
  readonly retryAfter?: number
  readonly location?: string
  /** JSON, Fastify's error shape plus the reason (see `errorBody`); none for a redirect. */
  readonly body?: string
  /** The scopes of the guard that refused (`missing-scopes`), for the refusal's event. */
  readonly required?: readonly Scope[]
}

// A WebSocket handshake is always refused with 403, whatever the route or the backend asked for (as in Starlette).
const FOREIGN_ORIGIN_REFUSAL: Refusal = handshakeRefusal('foreign-origin', 'The page\'s origin may not open a WebSocket here')
const LOCKED_OUT_MESSAGE = 'Too many rejected credentials: try again once Retry-After has passed'
const LOCKED_OUT_HANDSHAKE: Refusal = handshakeRefusal('locked-out', LOCKED_OUT_MESSAGE)
const LOCKED_OUT_BODY = errorBody(429, LOCKED_OUT_MESSAGE, 'locked-out')
// Seconds a client is asked to wait when the store is out of reach, as a ticket store's outage asks.
const STORE_RETRY_AFTER = 5
// Bodies serialized once, by status and reason, or by the backend's refusal (built once too): a refusal costs no JSON.stringify.
const guardBodies = new Map<string, string>()
const rejections = new WeakMap<AuthenticationError, Refusal>()
const guardRefusals = new WeakMap<Registration, WeakMap<Guard, Map<AuthenticationBackend | undefined, Refusal>>>()
const rejectedHandshakes = new WeakMap<AuthenticationError, Refusal>()

/** The refusal for what the request's `onRequest` hook found, or for its route's guards; `null` lets it on. */
export function decide (request: FastifyRequest, plan: RoutePlan): Refusal | null {
  const { registration, guards } = plan
  if (registration === undefined) return guards.length === 0 ? null : notCovered()
  const lockedFor = request[kLockedOut]
  if (lockedFor !== undefined) return lockedOut(lockedFor, request)
  const failure = request[kFailure]
  if (failure === undefined) return decideGuards(guards, registration, request)
  if (failure === FOREIGN_ORIGIN) return FOREIGN_ORIGIN_REFUSAL
  // failureOf made every other failure the plugin's own error, which names its reason.
  if (!(failure instanceof AuthenticationError)) return pluginFailure(failure as AuthenticationPluginError)
  return isWebSocketRequest(request) ? rejectedHandshake(failure) : rejected(failure)
}

/** The answer to credentials a backend rejected: its status, challenge, Retry-After and message. */
function rejected (error: AuthenticationError): Refusal {
  let refusal = rejections.get(error)
  if (refusal === undefined) {
    const { reason, statusCode, challenge, retryAfter, message } = error
    refusal = { reason, rejected: error, statusCode, challenge, retryAfter, body: errorBody(statusCode, message, reason) }
    rejections.set(error, refusal)
  }
  return refusal
}

function rejectedHandshake (error: AuthenticationError): Refusal {
  let refusal = rejectedHandshakes.get(error)
  if (refusal === undefined) {
    refusal = handshakeRefusal(error.reason, error.message)
    rejectedHandshakes.set(error, refusal)
  }
  return refusal
}

/**
 * The refusal of a `requires()` that a scope added with `addHook`: it runs as the hook it is,
 * after the plugin's `onRequest` hook. A request the plugin found something wrong with is left
 * to the plugin's decision, which comes once every `onRequest` hook has run.
 */
export function decideScopeGuard (guards: readonly Guard[], request: FastifyRequest): Refusal | null {
  const registration = registrationOf(request.server)
  if (registration !== undefined && request.auth != null) return decideGuards(guards, registration, request)
  return registration !== undefined && request[kFailure] !== undefined ? null : notCovered()
}

/** Lets the request on (`null`) if the caller passes every guard, or refuses it as the first guard it fails asks. */
function decideGuards (guards: readonly Guard[], registration: Registration, request: FastifyRequest): Refusal | null {
  for (let i = 0; i < guards.length; i++) {
    const guard = guards[i]
    if (!grants(request.auth, guard.scopes, guard.match)) return missingScopes(guard, registration, request)
  }
  return null
}

function missingScopes (guard: Guard, registration: Registration, request: FastifyRequest): Refusal {
  const required = guard.required
  if (isWebSocketRequest(request)) return { ...handshakeRefusal('missing-scopes', 'Missing required scope'), required }
  const recognisedBy = request[kRecognisedBy]
  // Only an anonymous caller is sent to log in: a caller who is logged in would come back from
  // the login page without the scopes (Starlette's requires(redirect=) sends every caller).
  if (recognisedBy == null && guard.redirect !== undefined) {
    const { before, after } = guard.redirect
    return { reason: 'missing-scopes', statusCode: 303, location: before + encodeURIComponent(safeNext(request.originalUrl)) + after, required }
  }
  // Built once for each registration, guard and recognising backend: a refusal allocates nothing.
  let byGuard = guardRefusals.get(registration)
  if (byGuard === undefined) guardRefusals.set(registration, (byGuard = new WeakMap()))
  let byBackend = byGuard.get(guard)
  if (byBackend === undefined) byGuard.set(guard, (byBackend = new Map()))
  let refusal = byBackend.get(recognisedBy)
  if (refusal === undefined) byBackend.set(recognisedBy, (refusal = guardRefusal(guard, registration, recognisedBy)))
  return refusal
}

function guardRefusal (guard: Guard, { challenges }: Registration, recognisedBy: AuthenticationBackend | undefined): Refusal {
  const required = guard.required
  // RFC 9110 §15.5.2: a 401 carries a challenge; without one, an anonymous caller gets 403 (Starlette's default).
  const statusCode = guard.statusCode ?? (recognisedBy == null && challenges !== undefined ? 401 : 403)
  // A 401 asks for credentials: the caller sent none the route accepts.
  const reason = statusCode === 401 ? 'missing-credentials' : 'missing-scopes'
  const challenge = statusCode === 401
    ? challenges
    // RFC 6750 §3.1: the recognising backend names the scopes the caller lacks.
    : statusCode === 403 ? recognisedBy?.insufficientScope?.(required, guard.match) : undefined
  return { reason, statusCode, challenge, body: guardBody(statusCode, reason), required }
}

/**
 * A caller the lockout option locked out: 429 with the seconds left of its lock (RFC 6585 §4),
 * sent as it is, never to `onError`: no backend judged its credentials.
 */
function lockedOut (retryAfter: number, request: FastifyRequest): Refusal {
  if (isWebSocketRequest(request)) return LOCKED_OUT_HANDSHAKE
  return { reason: 'locked-out', statusCode: 429, retryAfter, body: LOCKED_OUT_BODY }
}

function notCovered (): Refusal {
  return pluginFailure(notCoveredError())
}

/** The plugin's own failure: its status and message (which name no backend's error), and the failure itself for the log. */
function pluginFailure (failure: AuthenticationPluginError): Refusal {
  const { reason } = failure
  const retryAfter = reason === 'unavailable' ? STORE_RETRY_AFTER : undefined
  return { reason, failure, statusCode: failure.statusCode, retryAfter, body: errorBody(failure.statusCode, failure.message, reason) }
}

function handshakeRefusal (reason: RefusalReason, message: string): Refusal {
  return { reason, statusCode: 403, body: errorBody(403, message, reason) }
}

/**
 * A thrown value as a failure of the chain: an `AuthenticationError` as it is, anything else as
 * the plugin's own error, which tells the client nothing of it (and `throw null` is still a failure).
 */
export function failureOf (thrown: unknown): Error {
  if (thrown instanceof AuthenticationError || thrown instanceof AuthenticationPluginError) return thrown
  return thrown instanceof Error ? backendFailed(thrown) : backendThrewNonError(thrown)
}

function guardBody (statusCode: number, reason: RefusalReason): string {
  const key = `${statusCode} ${reason}`
  let body = guardBodies.get(key)
  if (body === undefined) {
    body = errorBody(statusCode, statusCode === 401 ? 'Authentication required' : 'Missing required scope', reason)
    guardBodies.set(key, body)
  }
  return body
}

/** Fastify's error shape plus the reason: `{ statusCode, code, error, message, reason }`. */
function errorBody (statusCode: number, message: string, reason: RefusalReason): string {
  return JSON.stringify({ statusCode, code: codeOf(reason), error: STATUS_CODES[statusCode], message, reason })
}
