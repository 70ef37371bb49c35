import type { FastifyInstance, RouteOptions } from 'fastify'
import { registrationOf } from '../registration'
import { guardOf, type Guard } from './guard'
import { planRoute, preparedPlan, storePlan } from './plan'

// Hooks that run before the handler: a guard there is taken out and checked in the route's verdict.
const guardedPositions = ['onRequest', 'preParsing', 'preValidation', 'preHandler'] as const
// Hooks that run once the handler has: a guard there could never refuse in time.
const latePositions = ['preSerialization', 'onSend', 'onResponse', 'onError', 'onTimeout', 'onRequestAbort'] as const

/**
 * The `onRoute` hook: checks the route's `config` at startup and makes its plan, moves its
 * `requires()` hooks into the verdict the plugin gives once every `onRequest` hook has run (so
 * no body is read, parsed or validated for a caller who will be refused), refuses a `requires()`
 * hook placed after the handler, and warns about a WebSocket route whose guard asks for another
 * answer than 403.
 */
export function prepareRoute (this: FastifyInstance, route: RouteOptions): void {
  // Nested registrations each have this hook: the first prepares the route.
  if (preparedPlan(route) !== undefined) return
  const where = `${route.method} ${route.url}`
  const hoisted: Guard[] = []
  for (const position of guardedPositions) {
    const hooks = hooksAt(route, position)
    if (hooks.length === 0) continue
    const others = hooks.filter((hook) => {
      const guard = guardOf(hook)
      if (guard !== undefined) hoisted.push(guard)
      return guard === undefined
    })
    // A new array (or none): Fastify's HEAD route shares the GET route's original one.
    if (others.length < hooks.length) route[position] = (others.length === 0 ? undefined : others) as never
  }
  for (const position of latePositions) {
    if (hooksAt(route, position).some((hook) => guardOf(hook) !== undefined)) {
      throw new TypeError(`fastify-authentication: ${where} has requires() in ${position}, which runs after the handler; put it in preHandler (or onRequest), or use config.requires`)
    }
  }
  const plan = planRoute(route.config ?? {}, where, hoisted, registrationOf(this))
  storePlan(route, plan)
  // Fastify copies a GET route to HEAD, websocket flag included; handshakes are GETs.
  const isWebSocket = (route as { websocket?: boolean }).websocket === true || typeof (route as { wsHandler?: unknown }).wsHandler === 'function'
  if (isWebSocket && route.method !== 'HEAD' && plan.guards.some((guard) => (guard.statusCode ?? 403) !== 403 || guard.redirect !== undefined)) {
    this.log.warn(`fastify-authentication: ${where} is a WebSocket route and its requires() asks for another answer than 403; WebSocket handshakes are always refused with 403`)
  }
}

const NO_HOOKS: readonly unknown[] = Object.freeze([])

/** A route's hooks in one position, as a list; most routes have none, and then nothing is allocated (this runs per route). */
function hooksAt (route: RouteOptions, position: typeof guardedPositions[number] | typeof latePositions[number]): readonly unknown[] {
  const hooks: unknown = route[position]
  return hooks === undefined ? NO_HOOKS : Array.isArray(hooks) ? hooks : [hooks]
}
