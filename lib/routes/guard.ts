import type { preHandlerHookHandler } from 'fastify'
import { scopeList, type ScopeMatch } from '../model/scopes'
import type { Scope } from '../model/types'
import { redirectPrefix } from '../request/redirect'

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

const optionNames = new Set(['statusCode', 'redirect', 'match'])

/** Marks a hook as the guard `guard`, so that routes and OpenAPI can find it among a route's hooks. */
export function markGuard (hook: preHandlerHookHandler, guard: Guard): preHandlerHookHandler {
  (hook as GuardHook)[kGuard] = guard
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

export function compileGuard (scopes: Scope | readonly Scope[], options: RequiresOptions, where: string): Guard {
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
