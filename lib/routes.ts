import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import { registrationOf, type Registration } from './registration'
import { compileRouteGuard, guardOf, type Guard } from './requires'
import { routeConfig, type RouteConfig } from './route-config'

/** What the plugin does for one route, worked out once. */
export interface RoutePlan {
  /** The nearest registration, which alone authenticates the route's requests; `undefined` if none covers it. */
  readonly registration: Registration | undefined
  /** `config.requires` and the route's `requires()` hooks, all checked before the body is read. */
  readonly guards: readonly Guard[]
  /** `false` for `config.authenticate: false`: the backends are skipped and the caller is anonymous. */
  readonly authenticate: boolean
}

type CompiledRoute = Omit<RoutePlan, 'registration'>
/** What prepareRoute keeps on the route's config: the compiled route, and the registration nearest to where it was declared. */
type PreparedRoute = CompiledRoute & { readonly declaredIn: Registration | undefined }

const kCompiled = Symbol('fastify-authentication.compiled')
const kPlan = Symbol('fastify-authentication.plan')
type Config = RouteConfig & { [kCompiled]?: PreparedRoute, [kPlan]?: RoutePlan }

// Hooks that run before the handler: a guard there is taken out and checked in the plugin's onRequest hook.
const guardedPositions = ['onRequest', 'preParsing', 'preValidation', 'preHandler'] as const
// Hooks that run once the handler has: a guard there could never refuse in time.
const latePositions = ['preSerialization', 'onSend', 'onResponse', 'onError', 'onTimeout', 'onRequestAbort'] as const

/**
 * The `onRoute` hook: checks the route's `config` at startup, moves its `requires()` hooks into
 * the plugin's `onRequest` check (so no body is read, parsed or validated for a caller who will
 * be refused), refuses a `requires()` hook placed after the handler, and warns about a
 * WebSocket route whose guard asks for another answer than 403.
 */
export function prepareRoute (this: FastifyInstance, route: RouteOptions): void {
  const config = (route.config ?? {}) as Config
  // Nested registrations each have this hook: the first prepares the route.
  if (config[kCompiled] !== undefined) return
  const where = `${route.method} ${route.url}`
  const hoisted: Guard[] = []
  for (const position of guardedPositions) {
    const hooks = [route[position] ?? []].flat()
    const guards = hooks.map(guardOf).filter((guard) => guard !== undefined)
    if (guards.length === 0) continue
    hoisted.push(...guards)
    // A new array: Fastify's HEAD route shares the GET route's original one.
    route[position] = hooks.filter((hook) => guardOf(hook) === undefined) as never
  }
  for (const position of latePositions) {
    if ([route[position] ?? []].flat().some((hook) => guardOf(hook) !== undefined)) {
      throw new TypeError(`fastify-authentication: ${where} has requires() in ${position}, which runs after the handler; put it in preHandler (or onRequest), or use config.requires`)
    }
  }
  const compiled = compileRoute(config, where, hoisted)
  route.config = { ...config, [kCompiled]: { ...compiled, declaredIn: registrationOf(this) } } as Config
  // Fastify copies a GET route to HEAD, websocket flag included; handshakes are GETs.
  const isWebSocket = (route as { websocket?: boolean }).websocket === true || typeof (route as { wsHandler?: unknown }).wsHandler === 'function'
  if (isWebSocket && route.method !== 'HEAD' && compiled.guards.some((guard) => (guard.statusCode ?? 403) !== 403 || guard.redirect !== undefined)) {
    this.log.warn(`fastify-authentication: ${where} is a WebSocket route and its requires() asks for another answer than 403; WebSocket handshakes are always refused with 403`)
  }
}

/**
 * The `onReady` hook: refuses a `requires()` added with `addHook` where it cannot guard, after
 * the handler or in `preParsing` (whose hooks get a payload where a guard expects `done`).
 * Fastify keeps each scope's hooks and children under symbols, found by their description;
 * without them (a future Fastify), such a guard still fails its requests closed: it throws there.
 */
export async function refuseMisplacedScopeGuards (this: FastifyInstance): Promise<void> {
  const kHooks = symbolNamed(this, 'fastify.hooks')
  const kChildren = symbolNamed(this, 'fastify.children')
  /* c8 ignore next -- only a Fastify without these internals takes this branch */
  if (kHooks === undefined || kChildren === undefined) return
  type Internals = Record<symbol, unknown>
  const visit = (scope: Internals): void => {
    const hooks = scope[kHooks] as Record<string, unknown[]>
    for (const position of ['preParsing', ...latePositions]) {
      if (hooks[position]?.some((hook) => guardOf(hook) !== undefined)) {
        throw new TypeError(`fastify-authentication: requires() was added with addHook('${position}'), where it cannot guard; add it with addHook('onRequest') or addHook('preHandler'), or use config.requires`)
      }
    }
    for (const child of scope[kChildren] as Internals[]) visit(child)
  }
  visit(this as unknown as Internals)
}

function symbolNamed (object: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(object).find((symbol) => symbol.description === description)
}

function compileRoute (config: Config, where: string, hoisted: readonly Guard[]): CompiledRoute {
  const { requires, authenticate } = config
  if (authenticate !== undefined && typeof authenticate !== 'boolean') {
    throw new TypeError(`fastify-authentication: config.authenticate of ${where} must be true or false`)
  }
  const guards = requires === undefined ? hoisted : [compileRouteGuard(requires, `config.requires of ${where}`), ...hoisted]
  return { guards: Object.freeze(guards), authenticate: authenticate !== false }
}

/**
 * What the plugin knows of a route it prepared, for documentation (`fastify-authentication/openapi`):
 * its guards, whether it authenticates, and the registration nearest to where it was declared.
 * `undefined` for a route the plugin never saw.
 */
export function preparedRoute (route: { config?: unknown }): PreparedRoute | undefined {
  return (route.config as Config | undefined)?.[kCompiled]
}

/** The request's route plan, made on the route's first request and kept on its config. */
export function planOf (request: FastifyRequest): RoutePlan {
  const config = routeConfig(request) as Config
  if (config[kPlan] !== undefined) return config[kPlan]
  // A route declared before the plugin never met prepareRoute: its config is checked now.
  const { guards, authenticate } = config[kCompiled] ?? compileRoute(config, `${config.method} ${config.url}`, [])
  return (config[kPlan] = { registration: registrationOf(request.server), guards, authenticate })
}
