// The plugin at scale, each next to the same job written by hand: callers holding 1 to 10,000
// scopes before a 5-scope guard, apps of 10 and 10,000 guarded routes, and an async backend
// with the plugin's timeout on and off.
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteShorthandOptions } from 'fastify'
import authentication, { requires, type AuthenticationBackend, type ScopeMatch } from 'fastify-authentication'
import { SCOPE, tokenTable } from './tokens'
import { answersOf, hello, inlineCheck, lookUp, lookUpLater, refuse, sendHello, tableBackend, type Variant } from './variant'

/** The guard of the scope routes: five scopes, all of them (`GET /all`) or any one (`GET /any`). */
export const GUARD = ['guard-0', 'guard-1', 'guard-2', 'guard-3', 'guard-4'] as const
export const MATCHES = ['all', 'any'] as const satisfies readonly ScopeMatch[]
export const SCOPE_COUNTS = [1, 100, 10_000] as const

/** A caller holding `count` scopes, of which the guard's are `present` (the request passes) or not. */
export interface Holder {
  count: number
  match: ScopeMatch
  present: boolean
}

/**
 * The guard's scopes the holder has, last in its list (a scan's worst case), and each check as
 * long as it can be: 'all' present holds the five, absent the first four (the miss comes last);
 * 'any' present holds only the last one, absent none. Cut to `count`.
 */
function guardScopesHeld ({ match, present }: Holder): readonly string[] {
  if (match === 'all') return present ? GUARD : GUARD.slice(0, -1)
  return present ? GUARD.slice(-1) : []
}

/** Every holder there can be: with one scope, a caller cannot hold all five. */
export const holders: readonly Holder[] = SCOPE_COUNTS.flatMap((count) => MATCHES.flatMap((match) => [true, false].map((present) => ({ count, match, present }))))
  .filter((holder) => !holder.present || guardScopesHeld(holder).length <= holder.count)

export function holderToken ({ count, match, present }: Holder): string {
  return `scopes-${count}-${match}-${present ? 'present' : 'absent'}`
}

function scopeTable (): Map<string, readonly string[]> {
  const table = new Map<string, readonly string[]>()
  for (const holder of holders) {
    const held = guardScopesHeld(holder).slice(0, holder.count)
    const others = Array.from({ length: holder.count - held.length }, (_, i) => `scope-${i}`)
    table.set(holderToken(holder), [...others, ...held])
  }
  return table
}

/** The hand-written check for a guard of many scopes: each caller's scopes in a Set, built once. */
function setCheck (sets: ReadonlyMap<string, ReadonlySet<string>>, match: ScopeMatch): (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
  const wanted = match === 'all'
  return function setCheck (request, reply, done) {
    const held = lookUp(sets, request)
    if (held !== undefined) {
      let granted = wanted
      for (let i = 0; i < GUARD.length; i++) {
        if (held.has(GUARD[i]) !== wanted) {
          granted = !wanted
          break
        }
      }
      if (granted) return done()
    }
    refuse(reply, 403)
  }
}

type RouteGuard = 'bare' | 'inline' | 'plugin'

/** The apps of many routes, `GET /r/0` … : without auth, with the inline check on each, or with the plugin. */
const routeApps = {
  'routes-bare-10000': [10_000, 'bare'],
  'routes-inline-10': [10, 'inline'],
  'routes-plugin-10': [10, 'plugin'],
  'routes-inline-10000': [10_000, 'inline'],
  'routes-plugin-10000': [10_000, 'plugin']
} as const satisfies Record<string, readonly [number, RouteGuard]>

export type RouteApp = keyof typeof routeApps

export function routePaths (app: RouteApp): string[] {
  return Array.from({ length: routeApps[app][0] }, (_, i) => `/r/${i}`)
}

function manyRoutes (app: RouteApp): Variant {
  const [, guard] = routeApps[app]
  return {
    async build (fastify) {
      const table = tokenTable()
      if (guard === 'plugin') await fastify.register(authentication, { backend: tableBackend(table) })
      const check = inlineCheck(table)
      // The plugin's routes alternate between its two forms, each route with a requires() of its own.
      const guardOf = (i: number): RouteShorthandOptions => guard === 'bare'
        ? {}
        : guard === 'inline' ? { onRequest: check } : i % 2 === 0 ? { config: { requires: SCOPE } } : { preHandler: requires(SCOPE) }
      routePaths(app).forEach((path, i) => fastify.get(path, guardOf(i), sendHello))
    }
  }
}

const table = tokenTable()
const answers = answersOf(table)
/** The core's backend, a microtask later. */
const asyncBackend: AuthenticationBackend = { authenticate: (request) => lookUpLater(answers, request) }
/** Far more than the backend takes: the timer is set and cleared on every request, never fires. */
const TIMEOUT = 10_000

export const scaleVariants = {
  'scopes-inline': {
    async build (app) {
      const sets = new Map([...scopeTable()].map(([token, scopes]) => [token, new Set(scopes)]))
      for (const match of MATCHES) app.get(`/${match}`, { onRequest: setCheck(sets, match) }, sendHello)
    }
  },
  'scopes-plugin': {
    async build (app) {
      await app.register(authentication, { backend: tableBackend(scopeTable()) })
      for (const match of MATCHES) app.get(`/${match}`, { config: { requires: { scopes: GUARD, match } } }, sendHello)
    }
  },
  ...Object.fromEntries(Object.keys(routeApps).map((app) => [app, manyRoutes(app as RouteApp)])) as Record<RouteApp, Variant>,
  'async-inline': hello(async () => ({
    async onRequest (request: FastifyRequest, reply: FastifyReply) {
      if ((await lookUpLater(table, request))?.includes(SCOPE) !== true) return refuse(reply, 403)
    }
  })),
  'async-plugin': hello(async (app) => {
    await app.register(authentication, { backend: asyncBackend })
    return { config: { requires: SCOPE } }
  }),
  'async-plugin-timeout': hello(async (app) => {
    await app.register(authentication, { backend: asyncBackend, timeout: TIMEOUT })
    return { config: { requires: SCOPE } }
  })
} satisfies Record<string, Variant>
