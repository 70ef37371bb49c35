import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { asPluginError, checkResult, isThenable, kRecognisedBy, runBackends, type BackendAnswer } from './backend'
import { AuthCredentials } from './credentials'
import { AuthenticationError, isTimeoutError, notCoveredError } from './errors'
import { runOnError } from './on-error'
import { checkOptions, type AuthenticationOptions } from './options'
import { rootOf, storeRegistration, type Registration } from './registration'
import { enforce, refuseWebSocket, type Guard } from './requires'
import { planOf, prepareRoute, refuseMisplacedScopeGuards, type RoutePlan } from './routes'
import { UnauthenticatedUser } from './users'
import { closeAfterAnswer, isWebSocketRequest } from './websocket/handshake'
import { closeWhenExpired } from './websocket/expiry'
import { publishAuthenticated, publishRefusal } from './events'

const kInstalled = Symbol('fastify-authentication.installed')

/**
 * Registers one scope's authentication. The per-request hook is installed once, at the root,
 * so that it runs for every route of the app: each request is then authenticated by the
 * registration nearest to its route, and a route that none covers cannot slip through.
 */
export async function registerAuthentication (fastify: FastifyInstance, options: AuthenticationOptions): Promise<void> {
  const registration = checkOptions(options)
  storeRegistration(fastify, registration)
  for (const backend of registration.backends) await backend.setup?.(fastify)
  fastify.addHook('onRoute', prepareRoute)
  const root = rootOf(fastify) as FastifyInstance & { [kInstalled]?: true }
  if (root[kInstalled] === true) return
  root[kInstalled] = true
  root.decorateRequest('auth', null as never)
  root.decorateRequest('user', null as never)
  root.decorateRequest(kRecognisedBy, null)
  // addHook on the root reaches every scope, those created before this registration too.
  root.addHook('onRequest', authenticate)
  root.addHook('onReady', refuseMisplacedScopeGuards)
}

function authenticate (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
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
  if (handshake && !registration.allowsOrigin(request)) {
    publishRefusal(request, reply, 'origin')
    return refuseWebSocket(reply)
  }
  let answer: BackendAnswer | Promise<BackendAnswer>
  try {
    answer = plan.authenticate ? runBackends(registration.backends, request, registration.timeout) : null
  } catch (error) {
    return fail(error, registration, request, reply, done)
  }
  if (!isThenable(answer)) return admit(answer, plan.guards, registration, request, reply, done)
  answer.then(
    (settled) => admit(settled, plan.guards, registration, request, reply, done),
    (error) => fail(error, registration, request, reply, done)
  ).then(undefined, (error) => {
    // Nothing that throws after the first await may become an unhandled rejection.
    if (!reply.sent) done(asPluginError(error))
  })
}

function admit (
  answer: BackendAnswer, guards: readonly Guard[], registration: Registration, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction
): void {
  let result
  try {
    result = checkResult(answer)
  } catch (error) {
    publishRefusal(request, reply, 'backend-error')
    return done(asPluginError(error))
  }
  if (result === null) {
    // Anonymous callers get objects of their own: no request can change what another sees.
    request.auth = new AuthCredentials()
    request.user = new UnauthenticatedUser()
  } else {
    request.auth = result.auth
    request.user = result.user
    publishAuthenticated(request)
    if (result.auth.expiresAt !== undefined && isWebSocketRequest(request)) closeWhenExpired(request, result.auth.expiresAt)
  }
  enforce(guards, registration, request, reply, done)
}

function fail (error: unknown, registration: Registration, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  // Fastify's error handler logs the 500 at error level, with the backend's error as its cause.
  if (!(error instanceof AuthenticationError)) {
    publishRefusal(request, reply, isTimeoutError(error) ? 'timeout' : 'backend-error')
    return done(asPluginError(error))
  }
  request.log.debug('fastify-authentication: the backend refused the credentials')
  publishRefusal(request, reply, 'invalid-credentials')
  if (isWebSocketRequest(request)) return refuseWebSocket(reply)
  if (registration.onError !== undefined) return runOnError(registration.onError, error, request, reply, done)
  if (error.challenge !== undefined) reply.header('www-authenticate', error.challenge)
  reply.code(error.statusCode).header('content-type', 'text/plain; charset=utf-8').send(error.message)
}
