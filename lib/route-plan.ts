import type { FastifyRequest, RouteOptions } from 'fastify'
import { registrationOf, type Registration } from './registration'
import { compileRouteGuard, type Guard } from './requires'
import { routeConfig, type RouteConfig } from './route-config'

/** What the plugin does for one route, worked out once. */
export interface RoutePlan {
  /** The nearest registration, which alone authenticates the route's requests; `undefined` if none covers it. */
  readonly registration: Registration | undefined
  /** `config.requires` and the route's `requires()` hooks, all checked before the body is read. */
  readonly guards: readonly Guard[]
  /** `false` for `config.authenticate: false`: the backends are skipped and the caller is anonymous. */
  readonly authenticate: boolean
  /** Whether the plugin prepared the route at startup: it then gives its verdict in the route's own hook. */
  readonly prepared: boolean
}

type CompiledRoute = Pick<RoutePlan, 'guards' | 'authenticate'>
/** What prepareRoute keeps on the route's config: the compiled route, and the registration nearest to where it was declared. */
export type PreparedRoute = CompiledRoute & { readonly declaredIn: Registration | undefined }

const kCompiled = Symbol('fastify-authentication.compiled')
const kPlan = Symbol('fastify-authentication.plan')
type Config = RouteConfig & { [kCompiled]?: PreparedRoute, [kPlan]?: RoutePlan }

export function compileRoute (config: RouteConfig, where: string, hoisted: readonly Guard[]): CompiledRoute {
  const { requires, authenticate } = config
  if (authenticate !== undefined && typeof authenticate !== 'boolean') {
    throw new TypeError(`fastify-authentication: config.authenticate of ${where} must be true or false`)
  }
  const guards = requires === undefined ? hoisted : [compileRouteGuard(requires, `config.requires of ${where}`), ...hoisted]
  return { guards: Object.freeze(guards), authenticate: authenticate !== false }
}

/** Keeps the prepared route on a copy of its config: Fastify's HEAD route shares the original. */
export function storePrepared (route: RouteOptions, prepared: PreparedRoute): void {
  route.config = { ...route.config, [kCompiled]: prepared } as Config
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
  const prepared = config[kCompiled]
  // A route declared before the plugin never met prepareRoute: its config is checked now.
  const { guards, authenticate } = prepared ?? compileRoute(config, `${config.method} ${config.url}`, [])
  return (config[kPlan] = { registration: registrationOf(request.server), guards, authenticate, prepared: prepared !== undefined })
}
