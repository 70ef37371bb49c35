// The benchmarked apps, by name. Each pair compared does one job two ways: the plugin, and the
// same job written by hand (an onRequest hook) or done by a peer plugin.
//
// Every server process loads this module whole, so every server holds the same data, whichever
// app it serves: the core callers, and the callers holding 10,000 scopes (with their Sets, and
// their credentials' own lookup Set already built). Data held but unused moved the side-by-side
// ratio by about 20% (docs/performance.md, "Why two measures disagreed").
import { hash } from 'node:crypto'
import type { FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify'
import fastifyAuth from '@fastify/auth'
import basicAuth from '@fastify/basic-auth'
import bearerAuth from '@fastify/bearer-auth'
import fastifyJwt from '@fastify/jwt'
import fastifyGuard from 'fastify-guard'
import authentication, { AuthCredentials, SimpleUser, hasRequiredScope, requires } from 'fastify-authentication'
import { basic, safeEqual } from 'fastify-authentication/basic'
import { bearer as bearerBackend } from 'fastify-authentication/bearer'
import { jwt } from 'fastify-authentication/jwt'
import {
  ACCEPTED_TOKEN, answersOf, BASIC_PASSWORD, BASIC_USER, hello, inlineCheck, JWT_SECRET, lookUp, REALM, refuse, SCOPE, sendHello,
  tableBackend, tokenOf, tokenTable, type App, type Check
} from './fixtures'

const table = tokenTable()
const answers = answersOf(table)

/** The scope guard: five scopes, all needed. */
export const GUARD = ['guard-0', 'guard-1', 'guard-2', 'guard-3', 'guard-4'] as const
export const HELD = 10_000
/** Two callers holding HELD scopes, the guard's last (a scan's worst case): all five, or the first four. */
export const SCOPE_TOKENS = { accepted: 'scopes-accepted', denied: 'scopes-denied' } as const
const others = Array.from({ length: HELD - GUARD.length }, (_, i) => `scope-${i}`)
const scopeTable = new Map<string, readonly string[]>([
  [SCOPE_TOKENS.accepted, [...others, ...GUARD]],
  [SCOPE_TOKENS.denied, [...others, 'scope-last', ...GUARD.slice(0, -1)]]
])
const scopeAnswers = answersOf(scopeTable)
const scopeSets = new Map([...scopeTable].map(([token, scopes]) => [token, new Set(scopes)]))
// Builds each credentials' own Set (built on its first check), through the public helper, in every process.
for (const { auth } of scopeAnswers.values()) hasRequiredScope({ auth } as unknown as FastifyRequest, GUARD[0])

/** The hand-written scope guard: each caller's scopes in a Set, built once. */
const setCheck: Check = function setCheck (request, reply, done) {
  const held = lookUp(scopeSets, request)
  if (held !== undefined) {
    let all = true
    for (let i = 0; i < GUARD.length && all; i++) all = held.has(GUARD[i])
    if (all) return done()
  }
  refuse(reply, 403)
}

export const ROUTES = 10_000
export const routePaths = Array.from({ length: ROUTES }, (_, i) => `/r/${i}`)

/** ROUTES routes `GET /r/<n>`, each guarded by one scope: by hand, by the plugin (half each form), or not at all. */
function manyRoutes (guard: 'bare' | 'inline' | 'plugin'): App {
  return async (app) => {
    if (guard === 'plugin') await app.register(authentication, { backend: tableBackend(answers) })
    const check = inlineCheck(table)
    const options = (i: number): RouteShorthandOptions => guard === 'bare'
      ? {}
      : guard === 'inline' ? { onRequest: check } : i % 2 === 0 ? { config: { requires: SCOPE } } : { preHandler: requires(SCOPE) }
    routePaths.forEach((path, i) => app.get(path, options(i), sendHello))
  }
}

const caller = { auth: new AuthCredentials(['authenticated']), user: new SimpleUser(BASIC_USER) }
const authenticated = { config: { requires: 'authenticated' } }
const BEARER_CHALLENGE = `Bearer realm="${REALM}"`
const keyDigests = new Set([hash('sha256', ACCEPTED_TOKEN)])

/** Both halves compared in constant time, whichever differs, as all three Basic apps do. */
function checkPassword (username: string, password: string): boolean {
  const user = safeEqual(username, BASIC_USER)
  const secret = safeEqual(password, BASIC_PASSWORD)
  return user && secret
}

function basicAccepts (header: string | undefined): boolean {
  if (header === undefined || !header.startsWith('Basic ')) return false
  const pair = Buffer.from(header.slice(6), 'base64').toString()
  const colon = pair.indexOf(':')
  return colon !== -1 && checkPassword(pair.slice(0, colon), pair.slice(colon + 1))
}

export const apps = {
  // The core job: a bearer token looked up in a Map, one scope needed.
  inline: hello(async (app) => {
    app.addHook('onRequest', inlineCheck(table))
    return {}
  }),
  'plugin-config': hello(async (app) => {
    await app.register(authentication, { backend: tableBackend(answers) })
    return { config: { requires: SCOPE } }
  }),
  'plugin-requires': hello(async (app) => {
    await app.register(authentication, { backend: tableBackend(answers) })
    return { preHandler: requires(SCOPE) }
  }),
  'fastify-auth': hello(async (app) => {
    await app.register(fastifyAuth)
    const verify = (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
      if (lookUp(table, request)?.includes(SCOPE) !== true) throw Object.assign(new Error('Missing required scope'), { statusCode: 403 })
      done()
    }
    return { onRequest: app.auth([verify]) }
  }),
  'fastify-guard': hello(async (app) => {
    await app.register(fastifyGuard)
    // fastify-guard reads request.user.scope (the cast: this project's types make request.user the plugin's user).
    app.decorateRequest('user', null as never)
    app.addHook('onRequest', (request, _reply, done) => {
      (request as { user: unknown }).user = { scope: lookUp(table, request) ?? [] }
      done()
    })
    return { preHandler: app.guard.scope(SCOPE) }
  }),
  // The ready-made backends; the route asks for `authenticated`, so that a refusal is a 401 as from the peers.
  'bearer-inline': hello(async () => ({
    onRequest (request, reply, done) {
      const token = tokenOf(request.headers.authorization)
      if (token !== undefined && keyDigests.has(hash('sha256', token))) return done()
      refuse(reply, 401, BEARER_CHALLENGE)
    }
  })),
  'bearer-plugin': hello(async (app) => {
    await app.register(authentication, { backend: bearerBackend({ tokens: { [ACCEPTED_TOKEN]: caller }, realm: REALM }) })
    return authenticated
  }),
  // One key: @fastify/bearer-auth compares the key sent with each key it holds, so one is its best case.
  'bearer-peer': hello(async (app) => {
    await app.register(bearerAuth, { keys: [ACCEPTED_TOKEN] })
    return {}
  }),
  'basic-inline': hello(async () => ({
    onRequest (request, reply, done) {
      if (basicAccepts(request.headers.authorization)) return done()
      refuse(reply, 401, `Basic realm="${REALM}", charset="UTF-8"`)
    }
  })),
  'basic-plugin': hello(async (app) => {
    await app.register(authentication, { backend: basic({ verify: (username, password) => checkPassword(username, password) ? caller : null, realm: REALM }) })
    return authenticated
  }),
  'basic-peer': hello(async (app) => {
    await app.register(basicAuth, {
      validate (username, password, _request, _reply, done) {
        done(checkPassword(username, password) ? undefined : new Error('Invalid username or password'))
      },
      authenticate: { realm: REALM }
    })
    return { onRequest: app.basicAuth }
  }),
  'jwt-inline': hello(async () => {
    const { jwtVerify } = await import('jose')
    const key = new TextEncoder().encode(JWT_SECRET)
    return {
      async onRequest (request: FastifyRequest, reply: FastifyReply) {
        const token = tokenOf(request.headers.authorization)
        const valid = token !== undefined && await jwtVerify(token, key, { algorithms: ['HS256'] }).then(() => true, () => false)
        if (!valid) return refuse(reply, 401, BEARER_CHALLENGE)
      }
    }
  }),
  'jwt-plugin': hello(async (app) => {
    await app.register(authentication, { backend: jwt({ secret: JWT_SECRET, algorithms: ['HS256'], realm: REALM }) })
    return authenticated
  }),
  // @fastify/jwt in its default configuration, verified as its README does.
  'jwt-peer': hello(async (app) => {
    await app.register(fastifyJwt, { secret: JWT_SECRET })
    return {
      async onRequest (request: FastifyRequest, reply: FastifyReply) {
        try {
          await request.jwtVerify()
        } catch (error) {
          return reply.send(error)
        }
      }
    }
  }),
  // Scale: a caller holding HELD scopes before the five-scope guard, and apps of ROUTES routes.
  'scopes-inline': hello(async () => ({ onRequest: setCheck })),
  'scopes-plugin': hello(async (app) => {
    await app.register(authentication, { backend: tableBackend(scopeAnswers) })
    return { config: { requires: GUARD } }
  }),
  'routes-bare': manyRoutes('bare'),
  'routes-inline': manyRoutes('inline'),
  'routes-plugin': manyRoutes('plugin')
} satisfies Record<string, App>

export type AppName = keyof typeof apps
