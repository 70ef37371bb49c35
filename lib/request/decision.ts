import { STATUS_CODES } from 'node:http'
import type { FastifyRequest } from 'fastify'
import { AuthenticationError, AuthenticationPluginError, backendFailed, backendThrewNonError, isTimeoutError, notCoveredError } from '../model/errors'
import { grants } from '../model/scopes'
import type { Scope } from '../model/types'
import { registrationOf, type Registration } from '../registration'
import type { Guard } from '../routes/guard'
import type { RoutePlan } from '../routes/plan'
import { isWebSocketRequest } from '../websocket/handshake'
import type { RefusalReason } from './events'
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
  /** The plugin's own failure (500, or 503 for a timeout): Fastify's error handler answers and logs it. */
  readonly failure?: Error
  /** Credentials a backend rejected: the registration's `onError` answers them when it has one. */
  readonly rejected?: AuthenticationError
  readonly statusCode: number
  /** `WWW-Authenticate`: one value, or one header line for each. */
  readonly challenge?: string | readonly string[]
  readonly retryAfter?: number
  readonly location?: string
  readonly contentType?: string
  readonly body?: string
  /** The scopes of the guard that refused (`missing-scopes`), for the refusal's event. */
  readonly required?: readonly Scope[]
}

const JSON_TYPE = 'application/json; charset=utf-8'
const TEXT_TYPE = 'text/plain; charset=utf-8'
// A WebSocket handshake is always refused with 403, whatever the route or the backend asked for (as in Starlette).
const HANDSHAKE_BODY = errorBody(403, 'Forbidden')
const FOREIGN_ORIGIN_REFUSAL: Refusal = handshakeRefusal('origin')
const REJECTED_HANDSHAKE: Refusal = handshakeRefusal('invalid-credentials')
const LOCKED_OUT_HANDSHAKE: Refusal = handshakeRefusal('locked-out')
const LOCKED_OUT_BODY = JSON.stringify({
  statusCode: 429,
  code: 'FST_AUTHENTICATION_LOCKED_OUT',
  error: STATUS_CODES[429],
  message: 'Too many rejected credentials: try again once Retry-After has passed',
  reason: 'locked-out'
})
// The guards' bodies, serialized once by status: a refusal costs no JSON.stringify.
const guardBodies: Array<string | undefined> = []

/** The refusal for what the request's `onRequest` hook found, or for its route's guards; `null` lets it on. */
export function decide (request: FastifyRequest, plan: RoutePlan): Refusal | null {
  const { registration, guards } = plan
  if (registration === undefined) return guards.length === 0 ? null : notCovered()
  const lockedFor = request[kLockedOut]
  if (lockedFor !== undefined) return lockedOut(lockedFor, request)
  const failure = request[kFailure]
  if (failure === undefined) return decideGuards(guards, registration, request)
  if (failure === FOREIGN_ORIGIN) return FOREIGN_ORIGIN_REFUSAL
  if (!(failure instanceof AuthenticationError)) {
    return { reason: isTimeoutError(failure) ? 'timeout' : 'backend-error', failure, statusCode: (failure as AuthenticationPluginError).statusCode }
  }
  if (isWebSocketRequest(request)) return REJECTED_HANDSHAKE
  const { statusCode, challenge, retryAfter, message } = failure
  return { reason: 'invalid-credentials', rejected: failure, statusCode, challenge, retryAfter, contentType: TEXT_TYPE, body: message }
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

function missingScopes (guard: Guard, { challenges }: Registration, request: FastifyRequest): Refusal {
  const required = guard.required
  if (isWebSocketRequest(request)) return { ...handshakeRefusal('missing-scopes'), required }
  const recognisedBy = request[kRecognisedBy]
  // Only an anonymous caller is sent to log in: a caller who is logged in would come back from
  // the login page without the scopes (Starlette's requires(redirect=) sends every caller).
  if (recognisedBy == null && guard.redirect !== undefined) {
    const { before, after } = guard.redirect
    return { reason: 'missing-scopes', statusCode: 303, location: before + encodeURIComponent(safeNext(request.originalUrl)) + after, required }
  }
  // RFC 9110 §15.5.2: a 401 carries a challenge; without one, an anonymous caller gets 403 (Starlette's default).
  const statusCode = guard.statusCode ?? (recognisedBy == null && challenges !== undefined ? 401 : 403)
  const challenge = statusCode === 401
    ? challenges
    // RFC 6750 §3.1: the recognising backend names the scopes the caller lacks.
    : statusCode === 403 ? recognisedBy?.insufficientScope?.(required, guard.match) : undefined
  return { reason: 'missing-scopes', statusCode, challenge, contentType: JSON_TYPE, body: guardBody(statusCode), required }
}

/**
 * A caller the lockout option locked out: 429 with the seconds left of its lock (RFC 6585 §4),
 * sent as it is, never to `onError`: no backend judged its credentials.
 */
function lockedOut (retryAfter: number, request: FastifyRequest): Refusal {
  if (isWebSocketRequest(request)) return LOCKED_OUT_HANDSHAKE
  return { reason: 'locked-out', statusCode: 429, retryAfter, contentType: JSON_TYPE, body: LOCKED_OUT_BODY }
}

function notCovered (): Refusal {
  return { reason: 'not-covered', failure: notCoveredError(), statusCode: 500 }
}

function handshakeRefusal (reason: RefusalReason): Refusal {
  return { reason, statusCode: 403, contentType: JSON_TYPE, body: HANDSHAKE_BODY }
}

/**
 * A thrown value as a failure of the chain: an `AuthenticationError` as it is, anything else as
 * the plugin's own error, which tells the client nothing of it (and `throw null` is still a failure).
 */
export function failureOf (thrown: unknown): Error {
  if (thrown instanceof AuthenticationError || thrown instanceof AuthenticationPluginError) return thrown
  return thrown instanceof Error ? backendFailed(thrown) : backendThrewNonError(thrown)
}

function guardBody (statusCode: number): string {
  return (guardBodies[statusCode] ??= errorBody(statusCode, statusCode === 401 ? 'Authentication required' : 'Missing required scope'))
}

/** Fastify's error shape: `{ statusCode, error, message }`. */
function errorBody (statusCode: number, message: string): string {
  return JSON.stringify({ statusCode, error: STATUS_CODES[statusCode], message })
}
