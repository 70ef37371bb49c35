import { STATUS_CODES } from 'node:http'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, preHandlerHookHandler } from 'fastify'
import { notCoveredError } from './errors'
import { redirectPrefix, safeNext } from './redirect'
import { settingsOf } from './settings'
import { grants, type ScopeMatch } from './scopes'
import type { Scope } from './types'
import { isWebSocketRequest } from './websocket'

export interface RequiresOptions {
  /** What an HTTP request without the scopes gets: 400-599, default 403. WebSocket handshakes always get 403. */
  statusCode?: number
  /** Send HTTP requests without the scopes here (303, with `next`) instead. Not for WebSocket handshakes: they get 403. */
  redirect?: string
  /** `'all'` (default, Starlette's rule): every scope is needed; `'any'`: one of them is enough. */
  match?: ScopeMatch
}

/** The route-level form: `config: { requires: 'scope' | ['a', 'b'] | { scopes, statusCode?, redirect?, match? } }`. */
export type RouteRequires = Scope | readonly Scope[] | (RequiresOptions & { scopes: Scope | readonly Scope[] })

/** A compiled `requires`: everything a refusal needs is worked out once, at startup. */
export interface Guard {
  readonly scopes: readonly Scope[]
  readonly match: ScopeMatch
  readonly statusCode: number
  readonly redirect: { before: string, after: string } | undefined
  readonly body: string
}

const kGuard = Symbol('fastify-authentication.guard')
type GuardHook = preHandlerHookHandler & { [kGuard]?: Guard }

const JSON_TYPE = 'application/json; charset=utf-8'
const WEBSOCKET_REFUSAL = errorBody(403, 'Forbidden')
const optionNames = new Set(['statusCode', 'redirect', 'match'])

/**
 * A `preHandler` hook that lets the request through only if the caller holds `scopes`.
 * Bad arguments throw here, at startup.
 */
export function requires (scopes: Scope | readonly Scope[], options: RequiresOptions = {}): preHandlerHookHandler {
  const guard = compileGuard(scopes, options, 'requires(scopes, options)')
  const hook: GuardHook = function requiresScopes (request, reply, done) {
    enforce(guard, request, reply, done)
  }
  hook[kGuard] = guard
  return hook
}

/** The guard a hook was built with, if `requires` built it. */
export function guardOf (hook: unknown): Guard | undefined {
  return (hook as GuardHook | undefined)?.[kGuard]
}

export function compileRouteGuard (spec: RouteRequires, where: string): Guard {
  if (typeof spec === 'object' && spec !== null && !Array.isArray(spec)) {
    const { scopes, ...options } = spec as RequiresOptions & { scopes: Scope | readonly Scope[] }
    return compileGuard(scopes, options, where)
  }
  return compileGuard(spec as Scope | readonly Scope[], {}, where)
}

function compileGuard (scopes: Scope | readonly Scope[], options: RequiresOptions, where: string): Guard {
  const list = typeof scopes === 'string' ? [scopes] : scopes
  if (!Array.isArray(list) || list.length === 0 || !list.every((scope) => typeof scope === 'string' && scope !== '')) {
    throw new TypeError(`${where}: scopes must be a non-empty scope name or a non-empty array of them`)
  }
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${where}: options must be an object like { statusCode, redirect, match }`)
  }
  for (const name of Object.keys(options)) {
    if (!optionNames.has(name)) throw new TypeError(`${where}: unknown option "${name}"; use statusCode, redirect or match`)
  }
  const { statusCode = 403, redirect, match = 'all' } = options
  if (!Number.isInteger(statusCode) || statusCode < 400 || statusCode > 599) {
    throw new RangeError(`${where}: statusCode must be an integer from 400 to 599`)
  }
  // Node refuses anything else in a Location header (a control character, or '€', at request time).
  if (redirect !== undefined && (typeof redirect !== 'string' || !/^[\x21-\x7e]+$/.test(redirect))) {
    throw new TypeError(`${where}: redirect must be a URL or path of printable ASCII characters (percent-encode the others), like '/login'`)
  }
  if (match !== 'all' && match !== 'any') {
    throw new TypeError(`${where}: match must be 'all' or 'any'`)
  }
  return {
    scopes: Object.freeze([...list]),
    match,
    statusCode,
    redirect: redirect === undefined ? undefined : redirectPrefix(redirect),
    body: errorBody(statusCode, statusCode === 401 ? 'Authentication required' : 'Missing required scope')
  }
}

/** Lets the request on (`done()`), or answers it: the one place where a guard's rule is applied. */
export function enforce (guard: Guard, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const auth = request.auth
  if (auth == null) return done(notCoveredError())
  if (grants(auth, guard.scopes, guard.match)) return done()

  if (isWebSocketRequest(request)) {
    refuseWebSocket(reply)
  } else if (guard.redirect !== undefined) {
    const { before, after } = guard.redirect
    reply.code(303).header('location', before + encodeURIComponent(safeNext(request.originalUrl)) + after).send()
  } else {
    if (guard.statusCode === 401) {
      const challenge = settingsOf(request).challenge
      if (challenge !== undefined) reply.header('www-authenticate', challenge)
    }
    reply.code(guard.statusCode).header('content-type', JSON_TYPE).send(guard.body)
  }
}

/** A WebSocket handshake is always refused with 403, whatever the route asked for (as in Starlette). */
export function refuseWebSocket (reply: FastifyReply): void {
  reply.code(403).header('content-type', JSON_TYPE).send(WEBSOCKET_REFUSAL)
}

function errorBody (statusCode: number, message: string): string {
  return JSON.stringify({ statusCode, error: STATUS_CODES[statusCode], message })
}
