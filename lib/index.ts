import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import * as backend from './backend'
import * as credentials from './credentials'
import * as errors from './errors'
import * as options from './options'
import * as guards from './requires'
import * as scopes from './scopes'
import * as types from './types'
import * as users from './users'
import { checkResult, isThenable, runBackends, type AuthenticationResult } from './backend'
import { AuthCredentials } from './credentials'
import { AuthenticationError, backendThrewNonError, backendTimeoutError, onErrorDidNotReply } from './errors'
import { checkOptions, type AuthenticationOptions } from './options'
import { compileRouteGuard, enforce, guardOf, refuseWebSocket, type Guard, type RouteRequires } from './requires'
import { storeSettings } from './settings'
import { UnauthenticatedUser } from './users'
import { isWebSocketRequest } from './websocket'

declare module 'fastify' {
  interface FastifyRequest {
    /** What the caller may do. Anonymous callers have no scopes. */
    auth: AuthCredentials
    /** Who the caller is: the backend's user, or an `UnauthenticatedUser`. */
    user: types.AuthenticatedUser | UnauthenticatedUser
  }
  interface FastifyContextConfig {
    /** Scopes this route needs, with the same options as `requires()`. */
    requires?: RouteRequires
    /** `false` skips the backend for this route (health checks): the request is anonymous. */
    authenticate?: boolean
  }
}

// Shared by every anonymous request: both are immutable, so no request can change what another sees.
const ANONYMOUS = Object.freeze({ auth: new AuthCredentials(), user: new UnauthenticatedUser() })

// Async so that a bad option rejects registration (avvio does not catch a synchronous throw).
async function fastifyAuthentication (fastify: FastifyInstance, options: AuthenticationOptions): Promise<void> {
  const { backends, onError, challenge, timeout } = checkOptions(options)
  const routeGuards = new WeakMap<object, Guard | null>()

  fastify.decorateRequest('auth', null, [])
  fastify.decorateRequest('user', null, [])
  storeSettings(fastify, { challenge })
  fastify.addHook('onRoute', checkRoute)
  fastify.addHook('onRequest', authenticate)

  /** Bad route config fails at startup; a WebSocket route asking for another answer than 403 is warned about. */
  function checkRoute (route: RouteOptions): void {
    const where = `${route.method} ${route.url}`
    const { requires, authenticate } = route.config ?? {}
    if (authenticate !== undefined && typeof authenticate !== 'boolean') {
      throw new TypeError(`fastify-authentication: config.authenticate of ${where} must be true or false`)
    }
    const guards = [requires === undefined ? undefined : compileRouteGuard(requires, `config.requires of ${where}`)]
    for (const hooks of [route.onRequest, route.preParsing, route.preValidation, route.preHandler]) {
      guards.push(...[hooks].flat().map(guardOf))
    }
    // Fastify copies a GET route to HEAD, websocket flag included; handshakes are GETs.
    if ((route as { websocket?: boolean }).websocket !== true || route.method === 'HEAD') return
    if (guards.some((guard) => guard !== undefined && (guard.statusCode !== 403 || guard.redirect !== undefined))) {
      fastify.log.warn(`fastify-authentication: ${where} is a WebSocket route and its requires() asks for another answer than 403; WebSocket handshakes are always refused with 403`)
    }
  }

  function routeGuard (config: { requires?: RouteRequires, url?: string, method?: unknown }): Guard | null {
    let guard = routeGuards.get(config)
    if (guard === undefined) {
      // Routes declared before the plugin never met checkRoute: compiled on their first request.
      guard = config.requires === undefined ? null : compileRouteGuard(config.requires, `config.requires of ${config.method} ${config.url}`)
      routeGuards.set(config, guard)
    }
    return guard
  }

  function authenticate (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    let guard: Guard | null
    let answer: ReturnType<typeof runBackends>
    try {
      const config = request.routeOptions.config
      guard = routeGuard(config)
      answer = config.authenticate === false ? null : runBackends(backends, request)
    } catch (error) {
      return fail(error, request, reply, done)
    }
    if (!isThenable(answer)) return admit(answer, guard, request, reply, done)
    const pending = timeout === undefined ? answer : withTimeout(answer, timeout)
    pending.then(
      (settled) => admit(settled, guard, request, reply, done),
      (error) => fail(error, request, reply, done)
    )
  }

  function admit (answer: unknown, guard: Guard | null, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    let result: AuthenticationResult | null
    try {
      result = checkResult(answer)
    } catch (error) {
      return done(error as Error)
    }
    const { auth, user } = result ?? ANONYMOUS
    request.auth = auth
    request.user = user
    if (guard === null) return done()
    enforce(guard, request, reply, done)
  }

  function fail (error: unknown, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    if (!(error instanceof Error)) return done(backendThrewNonError(error))
    if (!(error instanceof AuthenticationError)) return done(error)
    request.log.debug('fastify-authentication: the backend refused the credentials')
    if (isWebSocketRequest(request)) return refuseWebSocket(reply)
    if (onError === undefined) {
      reply.code(400).header('content-type', 'text/plain; charset=utf-8').send(error.message)
      return
    }
    let returned: unknown
    try {
      returned = onError(error, request, reply)
    } catch (thrown) {
      return done(thrown as Error)
    }
    // A reply is itself a thenable that settles only once sent: never wait on it.
    if (returned !== reply && isThenable(returned)) {
      returned.then((value) => sendReturned(value, reply, done), done)
    } else {
      sendReturned(returned, reply, done)
    }
  }
}

/** onError may send the reply itself or return a payload, as a Fastify handler may. */
function sendReturned (value: unknown, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (reply.sent) return
  if (value === undefined || value === reply) return done(onErrorDidNotReply())
  reply.send(value)
}

/** The backend's answer, or a 503 error once `ms` have passed; the timer never outlives the answer. */
function withTimeout<T> (pending: PromiseLike<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(backendTimeoutError(ms)), ms)
    pending.then(
      (value) => { clearTimeout(timer); resolve(value) },
      (error) => { clearTimeout(timer); reject(error) }
    )
  })
}

fp(fastifyAuthentication, { name: 'fastify-authentication', fastify: '5.x' })

// `require('fastify-authentication')` is the plugin itself, as with every Fastify plugin, with
// the rest of the API on it; index.mts gives ESM the same names.
/* c8 ignore start -- TypeScript emits `(fastifyAuthentication || (fastifyAuthentication = {}))` for a
   namespace; the function always exists here, so the `= {}` branch cannot run. */
namespace fastifyAuthentication {
  export import requires = guards.requires
  export import hasRequiredScope = scopes.hasRequiredScope
  export import AuthCredentials = credentials.AuthCredentials
  export import BaseUser = users.BaseUser
  export import SimpleUser = users.SimpleUser
  export import UnauthenticatedUser = users.UnauthenticatedUser
  export import AuthenticationError = errors.AuthenticationError
  export import AuthenticationTypes = types.AuthenticationTypes
  export import AuthenticatedUser = types.AuthenticatedUser
  export import Scope = types.Scope
  export import AuthenticationBackend = backend.AuthenticationBackend
  export import AuthenticationResult = backend.AuthenticationResult
  export import AuthenticationOptions = options.AuthenticationOptions
  export import RequiresOptions = guards.RequiresOptions
  export import RouteRequires = guards.RouteRequires
  export import ScopeMatch = scopes.ScopeMatch
}
// Types the two properties set just below.
declare namespace fastifyAuthentication {
  export { fastifyAuthentication as default, fastifyAuthentication }
}
/* c8 ignore stop */
Object.assign(fastifyAuthentication, { default: fastifyAuthentication, fastifyAuthentication })

export = fastifyAuthentication
