import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { isThenable, type AuthenticationResult } from '../backends/contract'
import { AuthCredentials } from '../model/credentials'
import { UnauthenticatedUser } from '../model/users'
import type { Registration } from '../registration'
import { planOf, type RoutePlan } from '../routes/plan'
import { closeWhenExpired } from '../websocket/expiry'
import { closeAfterAnswer, isWebSocketRequest } from '../websocket/handshake'
import { answer } from './answer'
import { runBackends } from './chain'
import { decide, failureOf } from './decision'
import { publishAuthenticated } from './events'
import { kLockedOut } from './lockout'
import { FOREIGN_ORIGIN, kFailure, kPlan, type Failure } from './state'

// The per-request path, in two root hooks that every route of the app meets:
// authenticate (onRequest) → chain → [every other onRequest hook] → judge (preParsing) → decision → answer.

/**
 * The root `onRequest` hook: finds out who is calling, through the registration nearest to the
 * route, and sets `request.auth` and `request.user`. Whatever it finds wrong is kept for `judge`.
 */
export function authenticate (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const handshake = isWebSocketRequest(request)
  if (handshake) closeAfterAnswer(request, reply)
  let plan: RoutePlan
  try {
    plan = request[kPlan] = planOf(request)
  } catch (error) {
    // A bad config.authenticate on a route declared before the plugin: checked on its first request.
    return done(failureOf(error))
  }
  const { registration } = plan
  // A route no registration covers: `decide` refuses it if it is guarded.
  if (registration === undefined) return done()
  if (handshake && !registration.allowsOrigin(request)) return keep(FOREIGN_ORIGIN, request, done)
  if (!plan.authenticate) return admit(null, request, done)
  const { lockout } = registration
  if (lockout === undefined) return identify(registration, request, reply, done)
  // A locked-out caller is refused before any backend runs.
  lockout.check(request).then(
    (lockedFor) => {
      if (lockedFor === undefined) return identify(registration, request, reply, done)
      request[kLockedOut] = lockedFor
      done()
    },
    (error) => keep(failureOf(error), request, done)
  ).then(undefined, escaped(reply, done))
}

/** Runs the registration's backends, and admits the caller they recognise or keeps what they found wrong. */
function identify (registration: Registration, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  let caller: AuthenticationResult | null | Promise<AuthenticationResult | null>
  try {
    caller = runBackends(registration.backends, request, registration.deadlines)
  } catch (error) {
    return refuse(failureOf(error), registration, request, done)
  }
  if (!isThenable(caller)) return admit(caller, request, done)
  caller.then(
    (settled) => admit(settled, request, done),
    (error) => refuse(failureOf(error), registration, request, done)
  ).then(undefined, escaped(reply, done))
}

/* c8 ignore start -- Fastify 5 catches what the hooks, handler and reply that follow done() throw; this is for what may still escape */
function escaped (reply: FastifyReply, done: HookHandlerDoneFunction): (error: unknown) => void {
  // Nothing that throws after the first await may become an unhandled rejection.
  return (error) => { if (!reply.sent) done(failureOf(error)) }
}
/* c8 ignore stop */

/**
 * The root `preParsing` hook: the decision on what `authenticate` found and on the route's
 * guards. It comes after every `onRequest` hook, those neighbour plugins add to each route or to
 * a scope (@fastify/rate-limit counts refusals, @fastify/cors adds its headers), and before the
 * body is read.
 */
export function judge (request: FastifyRequest, reply: FastifyReply, _payload: unknown, done: HookHandlerDoneFunction): void {
  // Set by `authenticate`, which every request meets first (one whose plan failed never gets here).
  const plan = request[kPlan] as RoutePlan
  const refusal = decide(request, plan)
  if (refusal === null) return done()
  answer(refusal, plan.registration, request, reply, done)
}

function admit (caller: AuthenticationResult | null, request: FastifyRequest, done: HookHandlerDoneFunction): void {
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
  done()
}

/** Keeps what the chain found wrong, once the lockout, if any, has counted it. */
function refuse (failure: Error, { lockout }: Registration, request: FastifyRequest, done: HookHandlerDoneFunction): void {
  if (lockout === undefined) return keep(failure, request, done)
  // Counted before the answer, so that the caller's next request, on any instance, finds the count.
  lockout.count(failure, request).then(() => keep(failure, request, done))
}

function keep (failure: Failure, request: FastifyRequest, done: HookHandlerDoneFunction): void {
  request[kFailure] = failure
  done()
}
