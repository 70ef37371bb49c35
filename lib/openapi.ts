import { isDeepStrictEqual } from 'node:util'
import type { FastifyContextConfig, FastifySchema, RouteOptions } from 'fastify'
import type { SwaggerTransform } from '@fastify/swagger'
import type { AuthenticationBackend } from './backends/contract'
import type { Registration } from './registration'
import type { Guard } from './routes/guard'
import { preparedPlan } from './routes/plan'
import type { Scope } from './model/types'
import { routeGuardedBy, scopeGuardsOf } from './routes/watch'

export interface OpenapiOptions {
  /**
   * The app's own `transform` (a type provider's, say): it runs first, and the security and
   * refusals are added to the schema it returns.
   */
  transform?: SwaggerTransform
}

/** What `openapi()` gives `@fastify/swagger`: spread it into its options. */
export interface OpenapiSwaggerOptions {
  transform: SwaggerTransform
}

/** The part of the document under construction that the transform reads and fills. */
interface Document { openapi: string, components: { securitySchemes?: Record<string, unknown> } }
type SecurityRequirement = Record<string, readonly string[]>
interface Scheme { key: string, type: unknown }

// OpenAPI 3.0.3 §4.7.30: the scopes of a requirement are for these types; for any other, "the array MUST be empty".
const SCOPED_IN_3_0 = new Set(['oauth2', 'openIdConnect'])
// What @fastify/swagger documents for a route without response schemas; `type: 'null'` leaves the content out.
const DEFAULT_RESPONSE = { type: 'null', description: 'Default Response' }
// The body of a refusal: Fastify's error shape, plus the reason code.
const ERROR_BODY = {
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message', 'reason'],
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string', description: 'FST_AUTHENTICATION_ and the reason in upper snake case' },
    error: { type: 'string' },
    message: { type: 'string' },
    reason: { type: 'string', description: 'Why the request was refused, like missing-scopes or expired' }
  }
}
// What each status of a refusal means; a status a guard chose is a missing scope.
const DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed credentials',
  401: 'Authentication required: no credentials, or rejected ones',
  403: 'Missing required scope',
  429: 'Too many rejected credentials from this client: try again after Retry-After',
  503: 'Authentication is unavailable right now: try again after Retry-After'
}
const WWW_AUTHENTICATE = { type: 'string', description: 'The challenges (RFC 9110 §11.6.1), one header line each' }
const RETRY_AFTER = { type: 'integer', description: 'Seconds to wait before trying again (RFC 9110 §10.2.3)' }

// Each document's key for each backend, in components.securitySchemes: one per backend, kept for the whole document.
const keysByDocument = new WeakMap<object, Map<AuthenticationBackend, string>>()

/**
 * `@fastify/swagger` options that document what fastify-authentication guards:
 * `await app.register(swagger, { openapi: { … }, ...openapi() })`. Each guarded route gets
 * `security` (the backends of its registration are alternatives; the scopes of all its guards
 * are needed together) and its refusals (401/403, or the status or redirect its guards chose);
 * `authenticate: false` routes get `security: []`; the backends' schemes fill
 * `components.securitySchemes`. A route's own `schema.security` and responses are kept.
 */
export function openapi (options: OpenapiOptions = {}): OpenapiSwaggerOptions {
  const own = checkOptions(options)
  return {
    transform (args) {
      if (!('openapiObject' in args)) {
        throw new Error('fastify-authentication/openapi documents OpenAPI 3 only: give @fastify/swagger the openapi option, like { openapi: { openapi: \'3.1.0\' } }')
      }
      const result = own?.(args) ?? { schema: args.schema, url: args.url }
      // A route without a schema has none here either, whatever the types say.
      const schema = documented(result.schema ?? args.schema as FastifySchema | undefined, args.route, args.openapiObject as Document)
      return { ...result, schema: schema as FastifySchema }
    }
  }
}

function checkOptions (options: OpenapiOptions): SwaggerTransform | undefined {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('fastify-authentication/openapi: options must be an object like { transform }')
  }
  for (const name of Object.keys(options)) {
    if (name !== 'transform') throw new TypeError(`fastify-authentication/openapi: unknown option "${name}"; the only option is transform`)
  }
  if (options.transform !== undefined && typeof options.transform !== 'function') {
    throw new TypeError('fastify-authentication/openapi: the transform option must be a function ({ schema, url, route, openapiObject })')
  }
  return options.transform
}

/** The route's schema as the document shows it: a copy, so that Fastify's own validation and serialization never change. */
function documented (schema: FastifySchema | undefined, route: RouteOptions, document: Document): FastifySchema | undefined {
  const plan = preparedPlan(route)
  const registration = plan?.registration
  if (plan === undefined || registration === undefined) {
    if (!usesAuthentication(route)) return schema
    throw new Error(`fastify-authentication/openapi: ${route.method} ${route.url} uses fastify-authentication, but no registration prepared it, so its security cannot be documented: register fastify-authentication before declaring the route, in its scope or a parent scope (and, with exposeHeadRoutes, before @fastify/swagger)`)
  }
  // The guards its scopes added with addHook are checked where they sit, the route's own in the plugin's verdict.
  const guards = [...scopeGuards(route), ...plan.guards]
  const { authenticate } = plan
  // Every scheme of the registration is declared, so that the route's own schema.security may name them.
  const schemes = schemesOf(registration.backends, document)
  const scopesEverywhere = !document.openapi.startsWith('3.0')
  return {
    ...schema,
    security: schema?.security ?? (authenticate ? requirements(guards, schemes, scopesEverywhere) : []),
    ...(guards.length === 0 ? {} : { response: { ...refusals(guards, registration, authenticate), ...(schema?.response ?? { 200: DEFAULT_RESPONSE }) } })
  }
}

/** Whether a route the plugin never prepared has `config.authenticate`, `config.requires`, or a `requires()` hook of its own or of its scopes. */
function usesAuthentication (route: RouteOptions): boolean {
  return (route.config as FastifyContextConfig | undefined)?.authenticate !== undefined ||
    routeGuardedBy(route) !== undefined || scopeGuards(route).length > 0
}

function scopeGuards (route: RouteOptions): readonly Guard[] {
  const guards = scopeGuardsOf(route)
  if (guards === undefined) {
    throw new Error(`fastify-authentication/openapi: ${route.method} ${route.url} belongs to an app created before fastify-authentication was imported, so the requires() hooks its scopes add with addHook cannot be seen, nor documented: import fastify-authentication before calling Fastify()`)
  }
  return guards
}

/** The key and type of each backend's scheme, added to `components.securitySchemes` on first use. */
function schemesOf (backends: readonly AuthenticationBackend[], document: Document): Scheme[] {
  let keys = keysByDocument.get(document)
  if (keys === undefined) keysByDocument.set(document, (keys = new Map()))
  const schemes: Scheme[] = []
  for (const backend of backends) {
    if (backend.securityScheme === undefined) continue
    const { name, definition } = backend.securityScheme
    let key = keys.get(backend)
    if (key === undefined) {
      key = freeKey(name, definition, document.components.securitySchemes ?? {}, new Set(keys.values()))
      // A new object: the one in components may be the app's own options.
      document.components.securitySchemes = { ...document.components.securitySchemes, [key]: structuredClone(definition) }
      keys.set(backend, key)
    }
    schemes.push({ key, type: definition.type })
  }
  return schemes
}

/**
 * `name`, else `name-2`, `name-3`…: the first key that is free, or that holds this very
 * definition, declared by the app rather than for another backend.
 */
function freeKey (name: string, definition: unknown, declared: Record<string, unknown>, ours: ReadonlySet<string>): string {
  let key = name
  for (let n = 2; Object.hasOwn(declared, key) && (ours.has(key) || !isDeepStrictEqual(declared[key], definition)); n++) key = `${name}-${n}`
  return key
}

/**
 * The route's security: each backend with a scheme is an alternative, and each needs the scopes
 * of every guard. A `match: 'any'` guard cannot be one requirement: it makes one per scope it
 * accepts. In OpenAPI 3.0 only oauth2 and openIdConnect requirements list scopes; the others
 * have an empty list, and requirements that end up alike are given once.
 * `undefined` for an unguarded route, or one whose backends declare no scheme.
 */
function requirements (guards: readonly Guard[], schemes: readonly Scheme[], scopesEverywhere: boolean): SecurityRequirement[] | undefined {
  if (guards.length === 0 || schemes.length === 0) return undefined
  const sets = scopeSets(guards)
  const unique = new Map<string, SecurityRequirement>()
  for (const { key, type } of schemes) {
    for (const scopes of sets) {
      const listed = scopesEverywhere || SCOPED_IN_3_0.has(type as string) ? scopes : []
      const id = JSON.stringify([key, [...listed].sort()])
      if (!unique.has(id)) unique.set(id, { [key]: [...listed] })
    }
  }
  return [...unique.values()]
}

/** The sets of scopes that pass every guard: `match: 'all'` adds its scopes to each set, `match: 'any'` splits each set into one per scope. */
function scopeSets (guards: readonly Guard[]): Scope[][] {
  let sets: Scope[][] = [[]]
  for (const { scopes, match } of guards) {
    const choices = match === 'all' ? [scopes] : scopes.map((scope) => [scope])
    sets = sets.flatMap((set) => choices.map((choice) => [...new Set([...set, ...choice])]))
  }
  return sets
}

/**
 * Every refusal the route can answer, by status, as `decide` makes them (the first guard's word
 * for a status wins). An anonymous caller without the scopes: 303 to the redirect, the guard's
 * status, or 401 when a challenge is known, else 403. A recognised one: the guard's status, or
 * 403 with the backend's insufficient_scope challenge. When the route authenticates, also what
 * the backends refuse credentials with (their `refusalStatuses`), 503 for the timeout option,
 * and 429 for the lockout option.
 */
function refusals (guards: readonly Guard[], registration: Registration, authenticate: boolean): Record<string, unknown> {
  const { backends, challenges, deadlines } = registration
  const statuses = new Set<number>()
  const responses: Record<string, unknown> = {}
  for (const { statusCode, redirect } of guards) {
    if (redirect !== undefined) responses[303] ??= seeOther(redirect)
    else statuses.add(statusCode ?? (challenges === undefined ? 403 : 401))
    if (authenticate) statuses.add(statusCode ?? 403)
  }
  if (authenticate) {
    for (const backend of backends) for (const status of backend.refusalStatuses ?? []) statuses.add(status)
    if (deadlines !== undefined) statuses.add(503)
    if (registration.lockout !== undefined) statuses.add(429)
  }
  const scopeChallenge = authenticate && backends.some((backend) => backend.insufficientScope !== undefined)
  for (const status of [...statuses].sort((a, b) => a - b)) {
    const headers = status === 429 || status === 503
      ? { 'Retry-After': RETRY_AFTER }
      : (status === 401 && challenges !== undefined) || status === 400 || (status === 403 && scopeChallenge)
          ? { 'WWW-Authenticate': WWW_AUTHENTICATE }
          : undefined
    responses[status] = refused(DESCRIPTIONS[status] ?? DESCRIPTIONS[403], headers)
  }
  return responses
}

function seeOther ({ before, after }: NonNullable<Guard['redirect']>): unknown {
  return {
    ...DEFAULT_RESPONSE,
    description: 'See Other: an anonymous caller without the required scopes is sent to log in',
    headers: { Location: { type: 'string', description: `${before}{this request's path and query, URL-encoded}${after}` } }
  }
}

function refused (description: string, headers: Record<string, unknown> | undefined): unknown {
  return {
    description,
    ...(headers === undefined ? {} : { headers }),
    content: { 'application/json': { schema: ERROR_BODY } }
  }
}
