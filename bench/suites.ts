// What is measured: suites of servers started together each round, each loaded with each of its
// cases in turn; and how the results are tabled and judged, one section per dimension.
import type { Request } from 'autocannon'
import type { Server } from './child'
import { cycle, runHttp, type Cycle, type HttpLoad } from './http'
import { routePaths, holders, holderToken, type Holder, type RouteApp } from './scale'
import { coreVariantNames, type VariantName } from './servers'
import { ACCEPTED_TOKEN, BASIC_PASSWORD, BASIC_USER, basicCredentials, bearer, DENIED_TOKEN, FOREIGN_JWT_SECRET, jwtTokens } from './tokens'
import type { Mode } from './variant'
import { runHandshakes, type HandshakeClient } from './websocket'

export const suiteNames = ['core', 'ws', 'bearer', 'basic', 'jwt', 'scopes', 'routes', 'timeout'] as const
export type SuiteName = typeof suiteNames[number]

/** A load: requests (or handshakes) per second, and how many were made. */
export interface Result {
  rps: number
  total: number
}

export interface Case {
  readonly name: string
  /** The variants it is measured on; by default all of the suite's. */
  readonly only?: readonly VariantName[]
  /** Loads a server of `variant` for `duration` seconds, or with `amount` requests (handshakes). */
  readonly run: (server: Server, variant: VariantName, duration?: number, amount?: number) => Promise<Result>
  /** The requests a fresh server of `variant` gets on this case before it is measured, at least; the suite's warm-up if more. */
  readonly warmup?: (variant: VariantName) => number
}

export interface Suite {
  readonly name: SuiteName
  readonly mode: Mode
  /** The servers each round starts, measured in this order, then the reverse. */
  readonly variants: readonly VariantName[]
  readonly cases: readonly Case[]
  /** Whether each app's startup time and the heap it takes are recorded, in starts of their own (with --expose-gc) before the load. */
  readonly startup?: boolean
  /**
   * Whether the servers compared are loaded side by side rather than in turn: each variant gets a
   * server per case, and each pair of series a section compares is loaded at once, the two
   * servers sharing core 1 (run.ts).
   */
  readonly sideBySide?: boolean
}

/** A measured series: `case` on `variant`, one value per slot. The startup suites also record 'startup' (ms) and 'heap' (bytes), one per start. */
export interface Series {
  variant: VariantName
  case: string
}

/** A table's cell: text, a series' median and range, or the median and range of one series' slot-by-slot ratios to another. */
export type Cell = string | { of: Series } | { ratio: [Series, Series] }

export interface Target {
  what: string
  ratio: [Series, Series]
  /** The median ratio must be at least `min`, or at most `max`. */
  min?: number
  max?: number
}

export interface Section {
  title: string
  text: string[]
  head: string[]
  rows: Cell[][]
  targets: Target[]
}

/** How many times a startup suite's apps start each round, in turn: one startup varies by ±20% on this machine. */
export const STARTS = 3
/** No handshake loop goes past this many, whatever the duration. */
const WS_LIMIT = 100_000
const WS_CONCURRENCY = 50
/** More tokens than the jwt backend's cache holds (10,000): cycling through them, each request misses it. */
const FRESH_TOKENS = 30_000

const ACCEPTED = bearer(ACCEPTED_TOKEN)
const DENIED = bearer(DENIED_TOKEN)
/** Every request with this Authorization header. */
const headers = (authorization: string): Request[] => [{ headers: { authorization } }]
const accepted = headers(ACCEPTED)
const denied = headers(DENIED)

/**
 * The same request over and over, from the cycle client (http.ts): side by side, the one load
 * core feeds several servers at once, and autocannon would cost it more than the servers spend.
 */
function repeated (path: string, authorization: string): () => Cycle {
  const requests = cycle([{ path, headers: { authorization } }])
  return () => requests
}

function httpCase (name: string, path: string, expect: readonly number[], requests: (variant: VariantName) => HttpLoad['requests'] | Promise<HttpLoad['requests']>, only?: readonly VariantName[], warmup?: Case['warmup']): Case {
  return {
    name,
    only,
    warmup,
    run: async (server, variant, duration, amount) => await runHttp({ url: server.url + path, requests: await requests(variant), expect, duration, amount })
  }
}

function wsCase (name: string, authorization: string, expect: number, client: HandshakeClient, only?: readonly VariantName[]): Case {
  const load = { headers: { authorization }, expect, concurrency: WS_CONCURRENCY, client }
  return { name, only, run: async (server, _variant, duration, amount) => await runHandshakes({ ...load, url: server.url + '/ws', duration: duration ?? 60, limit: amount ?? WS_LIMIT }) }
}

/** Made on first use, once per run: signing is not measured. */
function once<T> (make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined
  return () => (made ??= make())
}

/** Made once per variant: a cycle keeps its turn from one load on that variant's servers to the next. */
function perVariant<T> (make: (variant: VariantName) => T): (variant: VariantName) => T {
  const made = new Map<VariantName, T>()
  return (variant) => {
    if (!made.has(variant)) made.set(variant, make(variant))
    return made.get(variant) as T
  }
}

const freshTokens = once(() => jwtTokens(FRESH_TOKENS))
const oneToken = once(async () => repeated('/hello', bearer((await freshTokens())[0]))())
const foreignToken = once(async () => repeated('/hello', bearer((await jwtTokens(1, FOREIGN_JWT_SECRET))[0]))())
/** Each variant goes through the tokens in turn: no server sees a token twice in FRESH_TOKENS requests. */
const fresh = perVariant(async () => cycle((await freshTokens()).map((token) => ({ path: '/hello', headers: { authorization: bearer(token) } }))))

/**
 * A route's first request is not measured: the measurements compare apps of 10 and 10,000
 * routes at work, and an app of 10 routes has had each of its routes hundreds of times in the
 * suite's warm-up, where one of 10,000 would have had half of them never. Each route is requested
 * this many times first.
 */
const REQUESTS_PER_ROUTE_BEFORE_MEASURING = 3
const everyRouteWarmedUp = (variant: VariantName): number => REQUESTS_PER_ROUTE_BEFORE_MEASURING * routePaths(variant as RouteApp).length

/** Every request goes to the next of the app's routes: the load goes through all of them. */
function everyRoute (authorization: string): (variant: VariantName) => Cycle {
  return perVariant((variant) => cycle(routePaths(variant as RouteApp).map((path) => ({ path, headers: { authorization } }))))
}

function holderCase (holder: Holder): string {
  return `${holder.count} ${holder.match} ${holder.present ? 'present' : 'absent'}`
}

/** The same check by a caller holding one scope; none for `all` present, which needs five. */
function oneScope (holder: Holder): Holder | undefined {
  return holders.find(({ count, match, present }) => count === 1 && match === holder.match && present === holder.present)
}

const backends = ['bearer', 'basic', 'jwt'] as const
type Role = 'inline' | 'plugin' | 'peer'
const backendVariant = (backend: typeof backends[number], role: Role): VariantName => `${backend}-${role}`

export function suites (client: HandshakeClient): Suite[] {
  const routes: RouteApp[] = ['routes-bare-10000', 'routes-inline-10', 'routes-plugin-10', 'routes-inline-10000', 'routes-plugin-10000']
  const guardedRoutes = routes.filter((app) => app !== 'routes-bare-10000')
  return [
    {
      name: 'core',
      mode: 'http',
      variants: coreVariantNames,
      cases: [
        httpCase('accepted', '/hello', [200], () => accepted),
        httpCase('denied', '/hello', [401, 403], () => denied, coreVariantNames.filter((name) => name !== 'bare'))
      ]
    },
    {
      name: 'ws',
      mode: 'ws',
      variants: ['bare', 'inline', 'plugin-requires', 'plugin-config'],
      cases: [
        wsCase('wsOpen', ACCEPTED, 101, client),
        wsCase('wsRefused', DENIED, 403, client, ['inline', 'plugin-requires', 'plugin-config'])
      ]
    },
    {
      name: 'bearer',
      mode: 'http',
      sideBySide: true,
      variants: ['bearer-inline', 'bearer-plugin', 'bearer-peer'],
      cases: [httpCase('accepted', '', [200], repeated('/hello', ACCEPTED)), httpCase('denied', '', [401], repeated('/hello', DENIED))]
    },
    {
      name: 'basic',
      mode: 'http',
      sideBySide: true,
      variants: ['basic-inline', 'basic-plugin', 'basic-peer'],
      cases: [
        httpCase('accepted', '', [200], repeated('/hello', basicCredentials(BASIC_USER, BASIC_PASSWORD))),
        httpCase('denied', '', [401], repeated('/hello', basicCredentials(BASIC_USER, 'wrong password')))
      ]
    },
    {
      name: 'jwt',
      mode: 'http',
      sideBySide: true,
      variants: ['jwt-inline', 'jwt-plugin', 'jwt-peer'],
      cases: [
        httpCase('reused', '', [200], oneToken),
        httpCase('fresh', '', [200], fresh),
        httpCase('denied', '', [401], foreignToken)
      ]
    },
    {
      name: 'scopes',
      mode: 'http',
      sideBySide: true,
      variants: ['scopes-inline', 'scopes-plugin'],
      cases: holders.map((holder) => httpCase(holderCase(holder), '', [holder.present ? 200 : 403], repeated(`/${holder.match}`, bearer(holderToken(holder)))))
    },
    {
      name: 'routes',
      mode: 'http',
      variants: routes,
      startup: true,
      sideBySide: true,
      // The app without auth is there for its startup only.
      cases: [
        httpCase('accepted', '', [200], everyRoute(ACCEPTED), guardedRoutes, everyRouteWarmedUp),
        httpCase('denied', '', [403], everyRoute(DENIED), guardedRoutes, everyRouteWarmedUp)
      ]
    },
    {
      name: 'timeout',
      mode: 'http',
      sideBySide: true,
      variants: ['async-inline', 'async-plugin', 'async-plugin-timeout'],
      cases: [httpCase('accepted', '', [200], repeated('/hello', ACCEPTED)), httpCase('denied', '', [403], repeated('/hello', DENIED))]
    }
  ]
}

const backendTitles = { bearer: '@fastify/bearer-auth', basic: '@fastify/basic-auth', jwt: '@fastify/jwt' }
const backendCases: Record<typeof backends[number], Array<[string, string]>> = {
  bearer: [['accepted', 'accepted'], ['denied', 'denied (unknown token)']],
  basic: [['accepted', 'accepted'], ['denied', 'denied (wrong password)']],
  jwt: [['reused', 'accepted, one token reused'], ['fresh', 'accepted, a new token each request'], ['denied', 'denied (signed with another secret)']]
}

function ratio (variant: VariantName, to: VariantName, name: string, toCase = name): Cell {
  return { ratio: [{ variant, case: name }, { variant: to, case: toCase }] }
}

function measured (variant: VariantName, name: string): Cell {
  return { of: { variant, case: name } }
}

function target (what: string, variant: VariantName, to: VariantName, name: string, bound: { min: number } | { max: number }, toCase = name): Target {
  return { what, ratio: [{ variant, case: name }, { variant: to, case: toCase }], ...bound }
}

export const sections: Section[] = [
  {
    title: 'Ready-made backends against their peers',
    text: [
      'Each backend on a `GET /hello` whose route asks for `authenticated`, next to its peer and to the same job written by hand in an onRequest hook',
      '(a SHA-256 digest lookup of the bearer key; base64 decoding and a constant-time compare of user-id and password, with the plugin\'s `safeEqual`,',
      'as in the peer\'s `validate`; `jose.jwtVerify` on every request). Every refusal is a 401: @fastify/basic-auth with `authenticate: { realm }`,',
      'so that it sends a challenge as `basic()` does; @fastify/jwt in its default configuration, `request.jwtVerify()` in an onRequest hook.',
      `New tokens come from a pool of ${FRESH_TOKENS.toLocaleString('en-US')} signed before the run, more than the jwt backend's cache keeps.`
    ],
    head: ['backend', 'traffic', 'hand-written req/s', 'plugin req/s', 'peer req/s', 'plugin ×hand-written', 'plugin ×peer'],
    rows: backends.flatMap((backend) => backendCases[backend].map(([name, title]) => [
      `${backend}() vs ${backendTitles[backend]}`,
      title,
      ...(['inline', 'plugin', 'peer'] as const).map((role) => measured(backendVariant(backend, role), name)),
      ratio(backendVariant(backend, 'plugin'), backendVariant(backend, 'inline'), name),
      ratio(backendVariant(backend, 'plugin'), backendVariant(backend, 'peer'), name)
    ])),
    targets: backends.flatMap((backend) => backendCases[backend].map(([name, title]) => {
      const [what, min] = name === 'denied' ? ['denied', 1.1] : backend === 'jwt' && name === 'reused' ? [title, 1.5] : [title, 0.97]
      return target(`${backend}() ${what} ≥ ${min}× ${backendTitles[backend]}`, backendVariant(backend, 'plugin'), backendVariant(backend, 'peer'), name, { min })
    }))
  },
  {
    title: 'Scopes held',
    text: [
      'A route guarded by five scopes (`config.requires: { scopes, match }`), and callers holding 1, 100 or 10,000 scopes, the guard\'s last in',
      'their list: with `all`, present holds the five and absent the first four; with `any`, present holds only the last and absent none, so that every',
      'check goes as far as it can. (With one scope, a caller cannot hold all five.) The hand-written check keeps each caller\'s scopes in a Set, built once.'
    ],
    head: ['scopes held', 'match', 'guard scopes', 'Set-based inline req/s', 'plugin req/s', 'plugin ×inline', 'plugin ×itself with 1 scope', 'inline ×itself with 1 scope'],
    rows: holders.map((holder) => [
      holder.count.toLocaleString('en-US'),
      holder.match,
      holder.present ? 'present' : 'absent',
      measured('scopes-inline', holderCase(holder)),
      measured('scopes-plugin', holderCase(holder)),
      ratio('scopes-plugin', 'scopes-inline', holderCase(holder)),
      ...(['scopes-plugin', 'scopes-inline'] as const).map((variant) => {
        const one = oneScope(holder)
        return holder.count === 1 || one === undefined ? '–' : ratio(variant, variant, holderCase(holder), holderCase(one))
      })
    ]),
    targets: holders.filter((holder) => holder.count === 10_000).flatMap((holder) => {
      const what = `${holder.count.toLocaleString('en-US')} scopes held, ${holder.match}, ${holder.present ? 'present' : 'absent'}`
      const one = oneScope(holder)
      return [
        target(`${what}: ≥ 0.95× Set-based inline`, 'scopes-plugin', 'scopes-inline', holderCase(holder), { min: 0.95 }),
        // The "within 5% of one with 1 scope": the plugin against itself, where one scope can do the same check.
        ...(one === undefined ? [] : [target(`${what}: ≥ 0.95× the plugin with 1 scope held`, 'scopes-plugin', 'scopes-plugin', holderCase(holder), { min: 0.95 }, holderCase(one))])
      ]
    })
  },
  {
    title: 'Routes',
    text: [
      'Apps of 10 and 10,000 routes `GET /r/<n>`, every one guarded by one scope, requested in turn (every request goes to the next route):',
      'half with `config.requires`, half with a `requires()` of their own in `preHandler`, against the inline check as each route\'s own onRequest hook.'
    ],
    head: ['routes', 'traffic', 'hand-written req/s', 'plugin req/s', 'plugin ×hand-written', 'plugin ×itself at 10 routes', 'hand-written ×itself at 10 routes'],
    rows: (['10', '10000'] as const).flatMap((count) => (['accepted', 'denied'] as const).map((name) => [
      Number(count).toLocaleString('en-US'),
      name,
      measured(`routes-inline-${count}`, name),
      measured(`routes-plugin-${count}`, name),
      ratio(`routes-plugin-${count}`, `routes-inline-${count}`, name),
      count === '10' ? '–' : ratio('routes-plugin-10000', 'routes-plugin-10', name),
      count === '10' ? '–' : ratio('routes-inline-10000', 'routes-inline-10', name)
    ])),
    targets: (['accepted', 'denied'] as const).map((name) => target(`10,000 routes, ${name}: ≥ 0.97× hand-written`, 'routes-plugin-10000', 'routes-inline-10000', name, { min: 0.97 }))
  },
  {
    title: 'Startup and heap with 10,000 routes',
    text: [
      `The same apps, each started ${STARTS} times a round, the apps in turn: from building the app to listening, and the heap the app took`,
      '(after a full GC, less the heap before it was built). Ratios pair the starts made one after the other.'
    ],
    head: ['app of 10,000 routes', 'startup', '×without auth', 'app heap', '×without auth'],
    rows: ([['routes-bare-10000', 'without auth'], ['routes-inline-10000', 'hand-written check on every route'], ['routes-plugin-10000', 'plugin, half config.requires, half requires()']] as const)
      .map(([app, title]) => [title, measured(app, 'startup'), ratio(app, 'routes-bare-10000', 'startup'), measured(app, 'heap'), ratio(app, 'routes-bare-10000', 'heap')]),
    targets: (['startup', 'heap'] as const).map((name) => target(`plugin ${name === 'heap' ? 'app heap' : 'startup time'} with 10,000 routes ≤ 1.5× without auth`, 'routes-plugin-10000', 'routes-bare-10000', name, { max: 1.5 }))
  },
  {
    title: 'Timeout',
    text: ['An async backend (the core one\'s Map lookup, a microtask later) with the plugin\'s `timeout` option off and on, against a hand-written async check.'],
    head: ['traffic', 'hand-written req/s', 'plugin req/s', 'plugin with timeout req/s', 'plugin ×hand-written', 'with timeout ×hand-written', 'timeout on ×off'],
    rows: (['accepted', 'denied'] as const).map((name) => [
      name,
      measured('async-inline', name),
      measured('async-plugin', name),
      measured('async-plugin-timeout', name),
      ratio('async-plugin', 'async-inline', name),
      ratio('async-plugin-timeout', 'async-inline', name),
      ratio('async-plugin-timeout', 'async-plugin', name)
    ]),
    targets: []
  }
]

/**
 * The pairs of series a side-by-side suite loads at once, each pass: every pair the sections
 * compare (in a cell or a target) whose two series the suite measures, once each.
 */
export function comparedPairs (suite: Suite): Array<[Series, Series]> {
  const measures = ({ variant, case: name }: Series): boolean => suite.variants.includes(variant) &&
    suite.cases.some((kase) => kase.name === name && (kase.only === undefined || kase.only.includes(variant)))
  const pairs = new Map<string, [Series, Series]>()
  for (const pair of sections.flatMap(sectionPairs)) {
    if (pair.every(measures)) pairs.set(pairKey(pair), pair)
  }
  return [...pairs.values()]
}

/** The pairs of series a section compares, in its cells and its targets. */
export function sectionPairs (section: Section): Array<[Series, Series]> {
  return [...section.rows.flat().flatMap((cell) => typeof cell !== 'string' && 'ratio' in cell ? [cell.ratio] : []), ...section.targets.map(({ ratio }) => ratio)]
}

/** A pair's key in `Run.pairs` (report.ts). */
export function pairKey ([of, to]: readonly [Series, Series]): string {
  return `${of.variant} ${of.case} / ${to.variant} ${to.case}`
}
