import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { asPluginError, isThenable, type AuthenticationResult } from '../backends/contract'
import { runBackends } from './chain'
import { AuthCredentials } from '../model/credentials'
import { AuthenticationError, isTimeoutError, notCoveredError } from '../model/errors'
import { publishAuthenticated, publishRefusal } from './events'
import { kFailure, ORIGIN_REFUSED, type Failure } from './failure'
import { runOnError } from './on-error'
import type { Registration } from '../registration'
import { enforce, refuseWebSocket } from '../routes/requires'
import { planOf, type RoutePlan } from '../routes/plan'
import { UnauthenticatedUser } from '../model/users'
import { closeWhenExpired } from '../websocket/expiry'
import { closeAfterAnswer, isWebSocketRequest } from '../websocket/handshake'

/**
 * The root `onRequest` hook, which every route of the app meets: finds out who is calling,
 * through the registration nearest to the route. The verdict comes in `judge`.
 */
export function authenticate (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const handshake = isWebSocketRequest(request)
  if (handshake) closeAfterAnswer(request, reply)
  let plan: RoutePlan
  try {
    plan = planOf(request)
  } catch (error) {
    return done(asPluginError(error))
  }
  const { registration } = plan
  // Not covered: a guarded route fails closed, as a requires() hook does (request.auth stays null).
  if (registration === undefined) {
    if (plan.guards.length === 0) return done()
    publishRefusal(request, reply, 'not-covered')
    return done(notCoveredError())
  }
  if (handshake && !registration.allowsOrigin(request)) return settle(ORIGIN_REFUSED, request, done)
  let answer: AuthenticationResult | null | Promise<AuthenticationResult | null>
  try {
    answer = plan.authenticate ? runBackends(registration.backends, request, registration.deadlines) : null
  } catch (error) {
    return settle(failureOf(error), request, done)
  }
  if (!isThenable(answer)) return admit(answer, request, done)
  answer.then(
    (settled) => admit(settled, request, done),
    (error) => settle(failureOf(error), request, done)
  /* c8 ignore start -- Fastify 5 catches what the hooks, handler and reply that follow done() throw; this is for what may still escape */
  ).then(undefined, (error) => {
    // Nothing that throws after the first await may become an unhandled rejection.
    if (!reply.sent) done(asPluginError(error))
  })
  /* c8 ignore stop */
}

/**
 * The root `preParsing` hook: the verdict on what `authenticate` found. It comes after every
 * `onRequest` hook, those neighbour plugins add to each route or to a scope (@fastify/rate-limit
 * counts refusals, @fastify/cors adds its headers), and before the body is read.
 */
export function judge (request: FastifyRequest, reply: FastifyReply, _payload: unknown, done: HookHandlerDoneFunction): void {
  const plan = planOf(request)
  // A route no registration covers: authenticate already failed it if it is guarded.
  if (plan.registration === undefined) return done()
  verdict(request[kFailure] ?? null, plan, request, reply, done)
}

function admit (
  caller: AuthenticationResult | null, request: FastifyRequest, done: HookHandlerDoneFunction
): void {
  if (caller === null) {
    // Anonymous callers get objects of their own: no request can change what another sees.
    request.auth = new AuthCredentials()
    request.user = new UnauthenticatedUser()
  } else {
    request.auth = caller.auth
    request.user = caller.user
    publishAuthenticated(request)
    // The chain let through no credentials that had expired: the socket closes when they do.
    const { expiresAt } = caller.auth
    if (expiresAt !== undefined && isWebSocketRequest(request)) closeWhenExpired(request, expiresAt)
  }
  settle(null, request, done)
}

/** What `authenticate` found, kept for `judge`. */
function settle (failure: Failure | null, request: FastifyRequest, done: HookHandlerDoneFunction): void {
  if (failure !== null) request[kFailure] = failure
  done()
}

function verdict (failure: Failure | null, plan: RoutePlan, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  // Only a request whose route a registration covers gets here (see judge).
  const registration = plan.registration as Registration
  if (failure === null) return enforce(plan.guards, registration, request, reply, done)
  if (failure === ORIGIN_REFUSED) {
    publishRefusal(request, reply, 'origin')
    return refuseWebSocket(reply)
  }
  fail(failure, registration, request, reply, done)
}

/**
 * A thrown value as a failure: an `AuthenticationError` as it is, anything else as the plugin's
 * own error, which tells the client nothing of it (and `throw null` is still a failure).
 */
function failureOf (thrown: unknown): Error {
  return thrown instanceof AuthenticationError ? thrown : asPluginError(thrown)
}

function fail (error: Error, registration: Registration, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  // Fastify's error handler logs the 500 at error level, with the backend's error as its cause.
  if (!(error instanceof AuthenticationError)) {
    publishRefusal(request, reply, isTimeoutError(error) ? 'timeout' : 'backend-error')
    return done(error)
  }
  request.log.debug('fastify-authentication: the backend refused the credentials')
  publishRefusal(request, reply, 'invalid-credentials')
  if (isWebSocketRequest(request)) return refuseWebSocket(reply)
  if (registration.onError !== undefined) return runOnError(registration.onError, error, request, reply, done)
  if (error.challenge !== undefined) reply.header('www-authenticate', error.challenge)
  if (error.retryAfter !== undefined) reply.header('retry-after', error.retryAfter)
  reply.code(error.statusCode).type('text/plain; charset=utf-8').send(error.message)
}
