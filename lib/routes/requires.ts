import { STATUS_CODES } from 'node:http'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, preHandlerHookHandler } from 'fastify'
import { kRecognisedBy } from '../request/chain'
import { notCoveredError } from '../model/errors'
import { publishRefusal } from '../request/events'
import { awaitsVerdict } from '../request/failure'
import { redirectPrefix, safeNext } from '../request/redirect'
import { registrationOf, type Registration } from '../registration'
import { grants, scopeList, type ScopeMatch } from '../model/scopes'
import type { Scope } from '../model/types'
import { isWebSocketRequest } from '../websocket/handshake'

export interface RequiresOptions {
  /**
   * What an HTTP request without the scopes gets: 400-599. Default: 401 with the backends'
   * challenges for an anonymous caller when any backend has one, else 403.
   * WebSocket handshakes always get 403.
   */
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
  /** What each request is checked against: not frozen, as V8 reads a frozen array's elements through a generic, uninlined load. */
  readonly scopes: readonly Scope[]
  /** The same scopes, frozen: what subscribers and backends are handed, which must not change the guard. */
  readonly required: readonly Scope[]
  readonly match: ScopeMatch
  /** The status the route chose, or `undefined` for the default (401 or 403). */
  readonly statusCode: number | undefined
  readonly redirect: { before: string, after: string } | undefined
}

const kGuard = Symbol('fastify-authentication.guard')
type GuardHook = preHandlerHookHandler & { [kGuard]?: Guard }

const JSON_TYPE = 'application/json; charset=utf-8'
const optionNames = new Set(['statusCode', 'redirect', 'match'])
// The bodies are serialized once, by status: a refusal costs no JSON.stringify. An array, not a
// Map: the statuses (400-599) are small integers, and an element load is inlined where Map#get is a call.
const bodies: Array<string | undefined> = []
const WEBSOCKET_REFUSAL = JSON.stringify({ statusCode: 403, error: 'Forbidden', message: 'Forbidden' })

/**
 * A hook that lets the request through only if the caller holds `scopes`. Put it in
 * `preHandler` (or `onRequest`, `preParsing`, `preValidation`): on a route the plugin prepares,
 * it is checked in the plugin's verdict, once every `onRequest` hook has run and before the body
 * is read. Bad arguments throw here, at startup.
 */
export function requires (scopes: Scope | readonly Scope[], options: RequiresOptions = {}): preHandlerHookHandler {
  const guard = compileGuard(scopes, options, 'requires(scopes, options)')
  const hook: GuardHook = function requiresScopes (request, reply, done) {
    const registration = registrationOf(request.server)
    if (registration === undefined || request.auth == null) {
      // Rejected credentials (or a foreign Origin): the plugin's verdict, after the onRequest hooks, refuses them.
      if (registration !== undefined && awaitsVerdict(request)) return done()
      publishRefusal(request, reply, 'not-covered')
      return done(notCoveredError())
    }
    enforce([guard], registration, request, reply, done)
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
  const list = scopeList(scopes, where)
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${where}: options must be an object like { statusCode, redirect, match }`)
  }
  for (const name of Object.keys(options)) {
    if (!optionNames.has(name)) throw new TypeError(`${where}: unknown option "${name}"; use statusCode, redirect or match`)
  }
  const { statusCode, redirect, match = 'all' } = options
  if (statusCode !== undefined && (!Number.isInteger(statusCode) || statusCode < 400 || statusCode > 599)) {
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
    scopes: [...list],
    required: Object.freeze([...list]),
    match,
    statusCode,
    redirect: redirect === undefined ? undefined : redirectPrefix(redirect)
  }
}

/**
 * Lets the request on (`done()`) if the caller passes every guard, or answers it as the first
 * guard it fails asks: the one place where guards are applied.
 */
export function enforce (
  guards: readonly Guard[], registration: Registration, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction
): void {
  for (let i = 0; i < guards.length; i++) {
    const guard = guards[i]
    if (!grants(request.auth, guard.scopes, guard.match)) return refuse(guard, registration, request, reply)
  }
  done()
}

function refuse (guard: Guard, registration: Registration, request: FastifyRequest, reply: FastifyReply): void {
  publishRefusal(request, reply, 'missing-scopes', guard.required)
  if (isWebSocketRequest(request)) return refuseWebSocket(reply)
  if (guard.redirect !== undefined) {
    const { before, after } = guard.redirect
    reply.code(303).header('location', before + encodeURIComponent(safeNext(request.originalUrl)) + after).send()
    return
  }
  const recognisedBy = request[kRecognisedBy]
  const { challenges } = registration
  // RFC 9110 §15.5.2: a 401 carries a challenge; without one, an anonymous caller gets 403 (Starlette's default).
  const statusCode = guard.statusCode ?? (recognisedBy == null && challenges !== undefined ? 401 : 403)
  if (statusCode === 401 && challenges !== undefined) {
    reply.header('www-authenticate', challenges)
  } else if (statusCode === 403 && recognisedBy?.insufficientScope !== undefined) {
    reply.header('www-authenticate', recognisedBy.insufficientScope(guard.required))
  }
  reply.code(statusCode).type(JSON_TYPE).send(errorBody(statusCode))
}

/** A WebSocket handshake is always refused with 403, whatever the route asked for (as in Starlette). */
export function refuseWebSocket (reply: FastifyReply): void {
  reply.code(403).type(JSON_TYPE).send(WEBSOCKET_REFUSAL)
}

/** Fastify's error shape: `{ statusCode, error, message }`. */
function errorBody (statusCode: number): string {
  let body = bodies[statusCode]
  if (body === undefined) {
    const message = statusCode === 401 ? 'Authentication required' : 'Missing required scope'
    body = bodies[statusCode] = JSON.stringify({ statusCode, error: STATUS_CODES[statusCode], message })
  }
  return body
}
