import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { asPluginError, isThenable, runBackends, type AuthenticationResult } from './backend'
import { AuthCredentials } from './credentials'
import { AuthenticationError, isTimeoutError, notCoveredError } from './errors'
import { publishAuthenticated, publishRefusal } from './events'
import { routeContext, scopeInternals, type Hook, type RouteContext } from './internals'
import { runOnError } from './on-error'
import type { Registration } from './registration'
import { enforce, refuseWebSocket } from './requires'
import { planOf, type RoutePlan } from './route-plan'
import { UnauthenticatedUser } from './users'
import { closeWhenExpired } from './websocket/expiry'
import { closeAfterAnswer, isWebSocketRequest } from './websocket/handshake'

/** Why a request is refused before its guards are asked: an error, or a handshake's foreign Origin. */
const ORIGIN_REFUSED = Symbol('fastify-authentication.originRefused')
type Failure = Error | typeof ORIGIN_REFUSED

/** A failure `authenticate` found, kept for the verdict `judge` gives; absent when there was none. */
const kFailure = Symbol('fastify-authentication.failure')

declare module 'fastify' {
  interface FastifyRequest {
    [kFailure]: Failure | undefined
  }
}

/**
 * The root `onRequest` hook, which every route of the app meets: finds out who is calling,
 * through the registration nearest to the route. A route the plugin prepared gets its verdict
 * once every `onRequest` hook has run: here when this hook is its last, else in `judge`. Any
 * other route gets it at once.
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
  if (handshake && !registration.allowsOrigin(request)) return settle(ORIGIN_REFUSED, plan, request, reply, done)
  let answer: AuthenticationResult | null | Promise<AuthenticationResult | null>
  try {
    answer = plan.authenticate ? runBackends(registration.backends, request, registration.deadlines) : null
  } catch (error) {
    return settle(failureOf(error), plan, request, reply, done)
  }
  if (!isThenable(answer)) return admit(answer, plan, request, reply, done)
  answer.then(
    (settled) => admit(settled, plan, request, reply, done),
    (error) => settle(failureOf(error), plan, request, reply, done)
  ).then(undefined, (error) => {
    // Nothing that throws after the first await may become an unhandled rejection.
    if (!reply.sent) done(asPluginError(error))
  })
}

/**
 * The root `preParsing` hook: the verdict on what `authenticate` found for a prepared route
 * where another `onRequest` hook follows the plugin's (elsewhere `judgedAtOnce` takes it out).
 * It comes after every `onRequest` hook, those neighbour plugins add to each route or to a scope
 * (@fastify/rate-limit counts refusals, @fastify/cors adds its headers), and before the body is read.
 */
export function judge (request: FastifyRequest, reply: FastifyReply, _payload: unknown, done: HookHandlerDoneFunction): void {
  const plan = planOf(request)
  if (!plan.prepared) return done()
  verdict(request[kFailure] ?? null, plan, request, reply, done)
}

function admit (
  caller: AuthenticationResult | null, plan: RoutePlan, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction
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
  settle(null, plan, request, reply, done)
}

/** What `authenticate` found: judged now, or kept for `judge`. */
function settle (failure: Failure | null, plan: RoutePlan, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (!plan.prepared || judgedAtOnce(request)) return verdict(failure, plan, request, reply, done)
  if (failure !== null) request[kFailure] = failure
  done()
}

const kJudgedAtOnce = Symbol('fastify-authentication.judgedAtOnce')
type JudgedContext = RouteContext & { [kJudgedAtOnce]?: boolean }

/**
 * Whether the route's verdict is given in `authenticate`: when no other `onRequest` hook follows
 * it, none can come between the two, and the route's `preParsing` phase then loses `judge` (with
 * no other hook there, Fastify skips the phase). Worked out on the route's first request: its
 * hooks are final once the app is ready. Without Fastify's internals, `judge` keeps the verdict.
 */
function judgedAtOnce (request: FastifyRequest): boolean {
  const context = routeContext(request) as JudgedContext | undefined
  /* c8 ignore next -- only a Fastify without the route context takes this branch */
  if (context === undefined) return false
  return (context[kJudgedAtOnce] ??= moveVerdict(context, request.server))
}

function moveVerdict (context: RouteContext, scope: FastifyInstance): boolean {
  const hooks = scopeInternals(scope)?.hooks
  /* c8 ignore next -- only a Fastify without these internals takes this branch */
  if (hooks === undefined) return false
  // A route runs its scope's hooks, then its own (route options, and what onRoute hooks added),
  // each bound to the scope: the counts and the bound names must tell the same.
  const onRequest = context.onRequest as readonly Hook[]
  const preParsing = context.preParsing as readonly Hook[]
  const at = hooks.preParsing.indexOf(judge)
  if (hooks.onRequest.at(-1) !== authenticate || onRequest.length !== hooks.onRequest.length ||
    onRequest[onRequest.length - 1].name !== `bound ${authenticate.name}` || preParsing[at].name !== `bound ${judge.name}`) return false
  const others = preParsing.filter((_, i) => i !== at)
  context.preParsing = others.length === 0 ? null : others
  return true
}

function verdict (failure: Failure | null, plan: RoutePlan, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  // Only a request whose route a registration covers gets here: authenticate answers the others.
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
