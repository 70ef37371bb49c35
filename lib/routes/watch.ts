import { subscribe } from 'node:diagnostics_channel'
import type { FastifyContextConfig, FastifyInstance, RouteOptions } from 'fastify'
import { isCovered } from '../registration'
import { guardOf, type Guard } from './guard'
import { preparedPlan } from './plan'

// What the plugin must see of a whole app: its routes, for the startup check that a registration
// covers each guarded one, and the requires() hooks its scopes add with addHook, which Fastify
// does not list (docs/proposals/fastify-hook-introspection.md). Fastify publishes each new app on
// this channel, as `{ fastify }`, before any plugin or route is added to it; importing the
// package subscribes (lib/index.ts), so each app created after that is watched.
//
// An app created before the package is imported is not. The plugin's root hooks still
// authenticate and guard its requests, and a guard no registration covers answers 500 (the last
// line of defence). What it loses: such a guard, or a requires() added with addHook where it
// cannot guard, does not fail at startup; and fastify-authentication/openapi refuses to document
// its routes, as it cannot see the guards their scopes add.
subscribe('fastify.initialization', (message) => { watch((message as { fastify: FastifyInstance }).fastify) })

/** Where a requires() added with addHook can guard: before the handler, with `done` as its third argument. */
const SCOPE_GUARD_POSITIONS = new Set(['onRequest', 'preValidation', 'preHandler'])

const kScope = Symbol('fastify-authentication.scope')
/** A route as the `onRoute` hook gets it, with the scope it was declared in. */
type WatchedRoute = RouteOptions & { [kScope]?: FastifyInstance }
type AddHook = (this: FastifyInstance, name: string, hook: unknown) => FastifyInstance

/** The requires() hooks each scope added with addHook, in order. */
const addedGuards = new WeakMap<FastifyInstance, Guard[]>()

function watch (app: FastifyInstance): void {
  const addHook = app.addHook as AddHook
  // Every scope of the app is made from its parent with Object.create: its addHook is this one,
  // called with the scope as `this`.
  const watchedAddHook: AddHook = function (name, hook) {
    const guard = guardOf(hook)
    if (guard !== undefined && !SCOPE_GUARD_POSITIONS.has(name)) {
      throw new TypeError(`fastify-authentication: requires() was added with addHook('${name}'), where it cannot guard; add it with addHook('onRequest') or addHook('preHandler'), or use config.requires`)
    }
    const scope = addHook.call(this, name, hook)
    if (guard !== undefined) {
      const guards = addedGuards.get(this)
      if (guards === undefined) addedGuards.set(this, [guard])
      else guards.push(guard)
    }
    return scope
  }
  app.addHook = watchedAddHook as FastifyInstance['addHook']
  const routes: WatchedRoute[] = []
  app.addHook('onRoute', function (this: FastifyInstance, route: WatchedRoute) {
    route[kScope] = this
    routes.push(route)
  })
  // At ready, every hook and registration is in: a hook added after a route still applies to it.
  app.addHook('onReady', async () => {
    for (const route of routes.splice(0)) {
      refuseUncovered(route)
      refuseUnpreparedPreParsing(route)
    }
  })
}

function refuseUncovered (route: WatchedRoute): void {
  const guarded = routeGuardedBy(route) ?? ((scopeGuardsOf(route) as Guard[]).length > 0 ? 'requires() added with addHook in its scope' : undefined)
  if (guarded === undefined || isCovered(route[kScope] as FastifyInstance)) return
  throw new Error(`fastify-authentication: ${route.method} ${route.url} has ${guarded}, but fastify-authentication does not cover it: register it with \`await app.register(authentication, { backend })\` in this scope or a parent scope (not a sibling one)`)
}

/**
 * A route declared before the plugin was registered is never prepared, so its own requires()
 * hooks run as the hooks they are; in `preParsing` a hook gets the body where a guard expects
 * `done`, and could not answer as a guard.
 */
function refuseUnpreparedPreParsing (route: WatchedRoute): void {
  if (preparedPlan(route) !== undefined || ![route.preParsing].flat().some((hook) => guardOf(hook) !== undefined)) return
  throw new TypeError(`fastify-authentication: ${route.method} ${route.url} has requires() in preParsing but was declared before fastify-authentication was registered; declare it after the registration, or put requires() in preHandler (or onRequest), or use config.requires`)
}

/** What guards a route itself: `'config.requires'`, or `'requires() in <hook>'`; `undefined` for neither. */
export function routeGuardedBy (route: RouteOptions): string | undefined {
  if ((route.config as FastifyContextConfig | undefined)?.requires !== undefined) return 'config.requires'
  const hook = Object.entries(route).find(([, value]) => [value].flat().some((candidate) => guardOf(candidate) !== undefined))
  return hook === undefined ? undefined : `requires() in ${hook[0]}`
}

/**
 * The requires() hooks that the route's scope and its parents added with addHook, the parents'
 * first; `undefined` for a route of an app that is not watched. Read once the app is ready.
 */
export function scopeGuardsOf (route: RouteOptions): Guard[] | undefined {
  let scope: FastifyInstance | null | undefined = (route as WatchedRoute)[kScope]
  if (scope === undefined) return undefined
  const levels: Guard[][] = []
  for (; scope !== null; scope = Object.getPrototypeOf(scope) as FastifyInstance | null) levels.unshift(addedGuards.get(scope) ?? [])
  return levels.flat()
}
