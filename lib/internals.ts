import type { FastifyContextConfig, FastifyInstance, FastifyRequest } from 'fastify'

// What the plugin reads of Fastify's internals: each is found by its symbol's description, and
// without it (a future Fastify) the plugin takes the public getter, or its slower path.

export type RouteConfig = FastifyContextConfig & { url?: string, method?: string | string[] }

export type Hook = (...args: never[]) => unknown

/** A route's context: its config, and the hooks its requests run (its scope's, then its own, each bound to the scope). */
export interface RouteContext {
  readonly config?: RouteConfig
  readonly onRequest?: readonly Hook[] | null
  preParsing?: readonly Hook[] | null
}

/** A scope's hooks by name, in the order they were added (a child scope's begin with its parent's). */
export type ScopeHooks = Readonly<Record<string, readonly Hook[]>>

type Internals = Record<symbol, unknown>

// Each symbol found is kept: a route's first request finds its scope's hooks (authenticate.ts),
// and listing the instance's symbols for them made that request about 50 µs slower, once per
// route of the app.
const found = new Map<string, symbol>()

export function symbolNamed (object: object, description: string): symbol | undefined {
  const known = found.get(description)
  // Another copy of Fastify has symbols of its own: the one kept counts only where it is found.
  if (known !== undefined && known in object) return known
  const symbol = Object.getOwnPropertySymbols(object).find((symbol) => symbol.description === description)
  if (symbol !== undefined) found.set(description, symbol)
  return symbol
}

/** Reads the public getter, which builds a 12-field object on every read to hand out one field. */
const publicConfig = (request: FastifyRequest): RouteConfig => request.routeOptions.config
let kContext: symbol | null | undefined

/**
 * The context of the request's route. Fastify keeps it on the request under a symbol; on the
 * first request that symbol is looked up, and kept only if its config is the very object the
 * public getter gives. `undefined` without it.
 */
export function routeContext (request: FastifyRequest): RouteContext | undefined {
  if (kContext === undefined) {
    const symbol = symbolNamed(request, 'fastify.context')
    const context = symbol === undefined ? undefined : (request as unknown as Internals)[symbol] as RouteContext | undefined
    kContext = context !== undefined && context.config === publicConfig(request) ? symbol as symbol : null
  }
  return kContext === null ? undefined : (request as unknown as Internals)[kContext] as RouteContext
}

/** The config of the request's route: from its context, or else the public getter. */
export function routeConfig (request: FastifyRequest): RouteConfig {
  return routeContext(request)?.config ?? publicConfig(request)
}

/** A scope's hooks and its child scopes, or `undefined` if Fastify keeps them elsewhere. */
export function scopeInternals (scope: FastifyInstance): { hooks: ScopeHooks, children: readonly FastifyInstance[] } | undefined {
  const kHooks = symbolNamed(scope, 'fastify.hooks')
  const kChildren = symbolNamed(scope, 'fastify.children')
  if (kHooks === undefined || kChildren === undefined) return undefined
  const internals = scope as unknown as Internals
  return { hooks: internals[kHooks] as ScopeHooks, children: internals[kChildren] as FastifyInstance[] }
}
