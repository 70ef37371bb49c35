import type { FastifyContextConfig, FastifyRequest, RouteOptions } from 'fastify'
import { registrationOf, type Registration } from '../registration'
import { compileRouteGuard, type Guard } from './guard'

/** What the plugin does for one route, worked out once. */
export interface RoutePlan {
  /** The registration nearest to where the route was declared, which alone authenticates its requests; `undefined` if none covers it. */
  readonly registration: Registration | undefined
  /** `config.requires` and the route's `requires()` hooks, all checked before the body is read. */
  readonly guards: readonly Guard[]
  /** `false` for `config.authenticate: false`: the backends are skipped and the caller is anonymous. */
  readonly authenticate: boolean
}

/** A route's config, as `request.routeOptions.config` gives it: Fastify adds the route's url and method. */
type RouteConfig = FastifyContextConfig & { url?: string, method?: string | string[] }

const kPlan = Symbol('fastify-authentication.plan')
type Config = RouteConfig & { [kPlan]?: RoutePlan }

// Most routes have no guard, or only config.requires: they share this, and allocate no list of their own.
// No list of guards is frozen: V8 reads a frozen array's elements through a generic, uninlined load.
const NO_GUARDS: readonly Guard[] = []

/** Checks a route's `config` and makes its plan, with the guards taken out of its hooks (`hoisted`). */
export function planRoute (config: RouteConfig, where: string, hoisted: readonly Guard[], registration: Registration | undefined): RoutePlan {
  const { requires, authenticate } = config
  if (authenticate !== undefined && typeof authenticate !== 'boolean') {
    throw new TypeError(`fastify-authentication: config.authenticate of ${where} must be true or false`)
  }
  const guards = requires === undefined ? hoisted : [compileRouteGuard(requires, `config.requires of ${where}`), ...hoisted]
  return shared({ registration, guards: guards.length === 0 ? NO_GUARDS : guards, authenticate: authenticate !== false })
}

// Each registration's plans, one for each set of guards.
const plansOf = new WeakMap<Registration, Map<string, RoutePlan>>()

/**
 * The plan an earlier route of the registration has, if it is the same: routes that ask for the
 * same guards share one, so that a request reads a plan the other routes keep in the CPU's cache,
 * however many routes the app has.
 */
function shared (plan: RoutePlan): RoutePlan {
  const { registration } = plan
  if (registration === undefined) return plan
  // A guard is plain data (its scopes, match, statusCode and redirect): its JSON names it.
  const key = JSON.stringify([plan.authenticate, plan.guards])
  let plans = plansOf.get(registration)
  if (plans === undefined) plansOf.set(registration, (plans = new Map()))
  const known = plans.get(key)
  if (known !== undefined) return known
  plans.set(key, plan)
  return plan
}

/** Keeps the plan on a copy of the route's config: Fastify's HEAD route shares the original, and its hooks are prepared apart. */
export function storePlan (route: RouteOptions, plan: RoutePlan): void {
  route.config = { ...route.config, [kPlan]: plan } as Config
}

/**
 * The plan the plugin made for a route at startup: its guards, whether it authenticates, and the
 * registration nearest to where it was declared (for `fastify-authentication/openapi` too).
 * `undefined` for a route the plugin never saw.
 */
export function preparedPlan (route: { config?: unknown }): RoutePlan | undefined {
  return (route.config as Config | undefined)?.[kPlan]
}

/** The request's route plan: made at startup, or, for a route declared before the plugin, on its first request. */
export function planOf (request: FastifyRequest): RoutePlan {
  const config = request.routeOptions.config as Config
  // A route declared before the plugin never met prepareRoute: its config is checked now.
  return config[kPlan] ?? (config[kPlan] = planRoute(config, `${config.method} ${config.url}`, NO_GUARDS, registrationOf(request.server)))
}
