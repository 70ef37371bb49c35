import t from 'tap'
import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify'
import cookie from '@fastify/cookie'
import secureSession from '@fastify/secure-session'
import swagger from '@fastify/swagger'
import SwaggerParser from '@apidevtools/swagger-parser'
import authentication, { AuthCredentials, SimpleUser, requires, type AuthenticationBackend } from '../lib/index'
import { openapi } from '../lib/openapi'
import { prepareRoute } from '../lib/routes/prepare'
import { apiKey } from '../lib/backends/api-key'
import { basic } from '../lib/backends/basic'
import { bearer } from '../lib/backends/bearer'
import { jwt } from '../lib/backends/jwt'
import { session } from '../lib/backends/session'

type Document = {
  openapi: string
  components: { securitySchemes?: Record<string, unknown> }
  paths: Record<string, Record<string, { security?: unknown, responses: Record<string, { description: string, headers?: unknown, content?: unknown }>, parameters?: Array<{ name: string }> }>>
}

const caller = { auth: new AuthCredentials(['read', 'write']), user: new SimpleUser('reader') }
const tokens = { 'tok-read': caller }
const verify = (): null => null
const SECRET = 'a secret of at least thirty-two bytes for HS256'
const info = { title: 'api', version: '1.0.0' }

/** A custom backend declaring an oauth2 scheme, whose requirements keep their scopes in OpenAPI 3.0 too. */
const oauth: AuthenticationBackend = {
  authenticate: () => null,
  challenge: 'Bearer realm="oauth"',
  securityScheme: {
    name: 'oauth',
    definition: { type: 'oauth2', flows: { clientCredentials: { tokenUrl: 'https://issuer.example/token', scopes: { reports: 'Read the reports' } } } }
  }
}
/** A custom backend that declares no scheme, and no challenge: its guards answer 403. */
const undeclared: AuthenticationBackend = { authenticate: () => null }

/** Every ready-made backend (api-key twice), every kind of guard, and child scopes with registrations of their own. */
async function buildApp (version: string, order: 'authentication first' | 'swagger first'): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(cookie)
  const withAuthentication = async (): Promise<void> => {
    await app.register(authentication, {
      backend: [
        bearer({ tokens, realm: 'api' }),
        jwt({ secret: SECRET, algorithms: ['HS256'] }),
        basic({ verify }),
        apiKey({ header: 'x-api-key', verify }),
        apiKey({ cookie: 'api_key', verify })
      ]
    })
  }
  if (order === 'authentication first') await withAuthentication()
  await app.register(swagger, { openapi: { openapi: version, info }, ...openapi() })
  if (order === 'swagger first') await withAuthentication()

  app.get('/string', { config: { requires: 'read' } }, async () => 'ok')
  app.get('/array', { config: { requires: ['read', 'write'] } }, async () => 'ok')
  app.get('/any', { config: { requires: { scopes: ['read', 'write'], match: 'any', statusCode: 404 } } }, async () => 'ok')
  app.get('/pre-handler', {
    preHandler: requires('read'),
    schema: { headers: { type: 'object', properties: { 'x-api-key': { type: 'string' }, 'x-trace': { type: 'string' } } } }
  }, async () => 'ok')
  app.get('/on-request', { onRequest: requires('admin', { statusCode: 401 }) }, async () => 'ok')
  app.get('/several', {
    config: { requires: 'read' },
    preHandler: [requires(['a', 'b'], { match: 'any' }), requires('read')]
  }, async () => 'ok')
  app.get('/redirect', { config: { requires: { scopes: 'read', redirect: '/login#form' } } }, async () => 'ok')
  app.get('/health', { config: { authenticate: false } }, async () => 'ok')
  app.get('/open', async () => 'ok')
  app.get('/own', {
    config: { requires: 'read' },
    schema: {
      security: [{ jwt: [] }],
      response: {
        200: { type: 'string' },
        401: { description: 'Its own 401', type: 'object', properties: { reason: { type: 'string' } } }
      }
    }
  }, async () => 'ok')
  app.post('/body', {
    config: { requires: 'write' },
    schema: {
      body: { type: 'object', properties: { name: { type: 'string' } } },
      response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } }
    }
  }, async () => ({ ok: true, secret: 'not serialized' }))

  await app.register(async (admin) => {
    await admin.register(authentication, { backend: [bearer({ tokens, realm: 'admin' }), oauth] })
    admin.get('/reports', { config: { requires: 'reports' } }, async () => 'ok')
  }, { prefix: '/admin' })
  await app.register(async (pages) => {
    await pages.register(secureSession, { key: Buffer.alloc(32, 7), cookie: { path: '/' } })
    await pages.register(authentication, { backend: session({ load: () => null }) })
    pages.get('/home', { config: { requires: { scopes: 'authenticated', redirect: '/login' } } }, async () => 'ok')
  }, { prefix: '/pages' })
  await app.register(async (custom) => {
    await custom.register(authentication, { backend: undeclared })
    custom.get('/guarded', { config: { requires: 'read' } }, async () => 'ok')
  }, { prefix: '/custom' })
  // Guarded scope-wide, the README's pattern; a guard added after a route applies to it all the same.
  await app.register(async (staff) => {
    staff.addHook('onRequest', requires('staff'))
    staff.get('/list', async () => 'ok')
    await staff.register(async (managers) => {
      managers.get('/payroll', { config: { requires: 'read' } }, async () => 'ok')
      managers.addHook('preHandler', requires(['manager', 'owner'], { match: 'any', statusCode: 404 }))
    })
  }, { prefix: '/staff' })
  await app.ready()
  return app
}

/** Each key with each scope list: one requirement per backend and alternative, backends first. */
function eachOf (keys: readonly string[], ...alternatives: string[][]): unknown[] {
  return keys.flatMap((key) => alternatives.map((scopes) => ({ [key]: scopes })))
}
const ROOT = ['bearer', 'jwt', 'basic', 'apiKey', 'apiKey-2']
const SCHEMES = {
  bearer: { type: 'http', scheme: 'bearer' },
  jwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
  basic: { type: 'http', scheme: 'basic' },
  apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
  'apiKey-2': { type: 'apiKey', in: 'cookie', name: 'api_key' },
  'bearer-2': { type: 'http', scheme: 'bearer' },
  oauth: oauth.securityScheme!.definition,
  session: { type: 'apiKey', in: 'cookie', name: 'session' }
}

/** The `security` of every operation: `undefined` where the document has none. */
function securityByOperation (document: Document): Record<string, unknown> {
  const found: Record<string, unknown> = {}
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) found[`${method.toUpperCase()} ${path}`] = operation.security
  }
  return found
}

function responseCodes (document: Document, path: string, method = 'get'): string[] {
  return Object.keys(document.paths[path][method].responses)
}

t.test('every ready-made backend declares its security scheme', async (t) => {
  t.same(bearer({ tokens }).securityScheme, { name: 'bearer', definition: { type: 'http', scheme: 'bearer' } })
  t.same(jwt({ secret: SECRET, algorithms: ['HS256'] }).securityScheme, { name: 'jwt', definition: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } })
  t.same(basic({ verify }).securityScheme, { name: 'basic', definition: { type: 'http', scheme: 'basic' } })
  t.same(apiKey({ header: 'X-API-Key', verify }).securityScheme, { name: 'apiKey', definition: { type: 'apiKey', in: 'header', name: 'X-API-Key' } })
  t.same(apiKey({ cookie: 'api_key', verify }).securityScheme, { name: 'apiKey', definition: { type: 'apiKey', in: 'cookie', name: 'api_key' } })
  t.same(session({ load: () => null, cookieName: 'sid' }).securityScheme, { name: 'session', definition: { type: 'apiKey', in: 'cookie', name: 'sid' } },
    'and the session backend, written elsewhere')
})

for (const version of ['3.0.3', '3.1.0']) {
  t.test(`OpenAPI ${version}: a valid document, with the security of every operation`, async (t) => {
    const app = await buildApp(version, 'authentication first')
    t.teardown(() => app.close())
    const document = app.swagger() as unknown as Document
    await t.resolves(SwaggerParser.validate(structuredClone(document) as never), 'swagger-parser finds the document valid')

    // OpenAPI 3.0 lists scopes only for oauth2 and openIdConnect schemes: the others get [].
    const scopes = (...list: string[]): string[] => version === '3.0.3' ? [] : list
    const onRoot = (...alternatives: string[][]): unknown[] => eachOf(ROOT, ...alternatives)
    t.same(securityByOperation(document), {
      'GET /string': onRoot(scopes('read')),
      'GET /array': onRoot(scopes('read', 'write')),
      'GET /any': version === '3.0.3' ? onRoot([]) : onRoot(['read'], ['write']),
      'GET /pre-handler': onRoot(scopes('read')),
      'GET /on-request': onRoot(scopes('admin')),
      'GET /several': version === '3.0.3' ? onRoot([]) : onRoot(['read', 'a'], ['read', 'b']),
      'GET /redirect': onRoot(scopes('read')),
      'GET /health': [],
      'GET /open': undefined,
      'GET /own': [{ jwt: [] }],
      'POST /body': onRoot(scopes('write')),
      'GET /admin/reports': [{ 'bearer-2': scopes('reports') }, { oauth: ['reports'] }],
      'GET /pages/home': [{ session: scopes('authenticated') }],
      'GET /custom/guarded': undefined,
      'GET /staff/list': onRoot(scopes('staff')),
      'GET /staff/payroll': version === '3.0.3' ? onRoot([]) : onRoot(['staff', 'manager', 'read'], ['staff', 'owner', 'read'])
    })
    t.same(document.components.securitySchemes, SCHEMES, 'each backend has a scheme; the second bearer and api-key get a key of their own')
  })
}

t.test('guarded routes document their refusals, and keep the responses they declare', async (t) => {
  const app = await buildApp('3.1.0', 'authentication first')
  t.teardown(() => app.close())
  const document = app.swagger() as unknown as Document
  const { paths } = document
  t.same(responseCodes(document, '/string'), ['200', '400', '401', '403'], 'no response schema: the default 200 stays; bearer answers 400 too')
  t.same(paths['/string'].get.responses['200'], { description: 'Default Response' })
  // The body's fields and types are compared with what the server sends in openapi-statuses.test.ts.
  t.match(paths['/string'].get.responses['401'], {
    description: 'Authentication required: no credentials, or rejected ones',
    headers: { 'WWW-Authenticate': { schema: { type: 'string' }, description: 'The challenges (RFC 9110 §11.6.1), one header line each' } },
    content: { 'application/json': { schema: { type: 'object', required: ['statusCode', 'code', 'error', 'message', 'reason'] } } }
  })
  t.equal(paths['/string'].get.responses['403'].description, 'Missing required scope')
  t.ok(paths['/string'].get.responses['403'].headers?.['WWW-Authenticate' as never], 'bearer\'s insufficient_scope challenge')
  t.same(responseCodes(document, '/any'), ['200', '400', '401', '404'], 'the status the guard chose, and the backends\' rejections')
  t.same(responseCodes(document, '/on-request'), ['200', '400', '401'])
  t.ok(paths['/on-request'].get.responses['401'].headers, 'a 401 carries the challenges')
  t.same(responseCodes(document, '/several'), ['200', '400', '401', '403'])
  t.same(responseCodes(document, '/redirect'), ['200', '303', '400', '401', '403'], 'a logged-in caller without the scope gets 403')
  t.same(paths['/redirect'].get.responses['303'], {
    description: 'See Other: an anonymous caller without the required scopes is sent to log in',
    headers: { Location: { schema: { type: 'string' }, description: '/login?next={this request\'s path and query, URL-encoded}#form' } }
  })
  t.same(responseCodes(document, '/health'), ['200'], 'authenticate: false and no guard: no refusal')
  t.same(responseCodes(document, '/open'), ['200'])
  t.same(paths['/own'].get.responses['200'].content, { 'application/json': { schema: { type: 'string' } } })
  t.equal(paths['/own'].get.responses['401'].description, 'Its own 401', 'a declared response is never replaced')
  t.equal(paths['/own'].get.responses['403'].description, 'Missing required scope')
  t.same(responseCodes(document, '/body', 'post'), ['200', '400', '401', '403'])
  t.same(responseCodes(document, '/custom/guarded'), ['200', '403'], 'no challenge is known there, and no rejection declared: 403 only')
  t.notOk(paths['/custom/guarded'].get.responses['403'].headers, 'no backend there names missing scopes')
  t.same(responseCodes(document, '/pages/home'), ['200', '303', '403'], 'a session never rejects credentials')
  t.same(responseCodes(document, '/staff/list'), ['200', '400', '401', '403'], 'a guard its scope added')
  t.same(responseCodes(document, '/staff/payroll'), ['200', '400', '401', '403', '404'], 'its scopes\' guards and its own')
  t.same(paths['/pre-handler'].get.parameters?.map(({ name }) => name), ['x-trace'],
    '@fastify/swagger leaves out the header an api-key scheme of the route names')
})

t.test('the document only: validation and serialization stay Fastify\'s', async (t) => {
  const app = await buildApp('3.1.0', 'authentication first')
  t.teardown(() => app.close())
  const route = app.hasRoute({ method: 'POST', url: '/body' })
  t.ok(route)
  app.swagger()
  const ok = await app.inject({ method: 'POST', url: '/body', headers: { authorization: 'Bearer tok-read' }, payload: { name: 'x' } })
  t.equal(ok.statusCode, 200)
  t.equal(ok.body, '{"ok":true}', 'the response schema still serializes the answer')
  const refused = await app.inject({ method: 'POST', url: '/body', payload: { name: 'x' } })
  t.equal(refused.statusCode, 401)
  t.same(refused.json(), { statusCode: 401, code: 'FST_AUTHENTICATION_MISSING_CREDENTIALS', error: 'Unauthorized', message: 'Authentication required', reason: 'missing-credentials' })
  const validated = await app.inject({ method: 'POST', url: '/body', headers: { authorization: 'Bearer tok-read' }, payload: { name: { not: 'a string' } } })
  t.equal(validated.statusCode, 400, 'the body schema still validates')
  t.equal((await app.inject({ url: '/own', headers: { authorization: 'Bearer tok-read' } })).body, 'ok')
})

t.test('swagger before or after fastify-authentication: the same document', async (t) => {
  for (const version of ['3.0.3', '3.1.0']) {
    const first = await buildApp(version, 'authentication first')
    const second = await buildApp(version, 'swagger first')
    t.same(second.swagger(), first.swagger(), version)
    await first.close()
    await second.close()
  }
})

t.test('the YAML document has no aliases', async (t) => {
  const app = await buildApp('3.1.0', 'authentication first')
  t.teardown(() => app.close())
  const yaml = app.swagger({ yaml: true })
  t.match(yaml, /- bearer:\n {12}- read\n/)
  t.notMatch(yaml, /[&*]a\d/)
})

t.test('schemes the app declares itself: an identical one is shared, another name is left alone', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: [bearer({ tokens }), basic({ verify })] })
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info,
      components: { securitySchemes: { bearer: { scheme: 'bearer', type: 'http' }, basic: { type: 'apiKey', in: 'header', name: 'x-basic' } } },
      security: [{ bearer: [] }]
    },
    ...openapi()
  })
  app.get('/', { config: { requires: 'read' } }, async () => 'ok')
  app.get('/theirs', { schema: { security: [{ basic: [] }] } }, async () => 'ok')
  await app.ready()
  const document = app.swagger() as unknown as Document
  t.same(document.components.securitySchemes, {
    bearer: { type: 'http', scheme: 'bearer' },
    basic: { type: 'apiKey', in: 'header', name: 'x-basic' },
    'basic-2': { type: 'http', scheme: 'basic' }
  })
  t.same(securityByOperation(document), { 'GET /': [{ bearer: ['read'] }, { 'basic-2': ['read'] }], 'GET /theirs': [{ basic: [] }] })
  await t.resolves(SwaggerParser.validate(structuredClone(document) as never))
})

t.test('openapi({ transform }): the app\'s transform runs first', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: bearer({ tokens }) })
  const seen: string[] = []
  await app.register(swagger, {
    openapi: { openapi: '3.1.0', info },
    ...openapi({
      transform ({ schema, url, route, ...document }) {
        seen.push(`${route.method} ${url} ${'openapiObject' in document}`)
        if (url === '/url-only') return { url: '/renamed' } as never
        return { schema: { ...schema, tags: ['api'], ...(url === '/theirs' ? { security: [{ bearer: ['theirs'] }] } : {}) }, url: url.replace('/v1', '') }
      }
    })
  })
  app.get('/v1/items', { config: { requires: 'read' } }, async () => 'ok')
  app.get('/theirs', { config: { requires: 'read' } }, async () => 'ok')
  app.get('/url-only', { config: { requires: 'read' } }, async () => 'ok')
  await app.ready()
  const document = app.swagger() as unknown as Document & { paths: Record<string, Record<string, { tags?: string[] }>> }
  t.same(seen, ['GET /v1/items true', 'GET /theirs true', 'GET /url-only true'])
  t.same(document.paths['/items'].get.tags, ['api'])
  t.same(document.paths['/items'].get.security, [{ bearer: ['read'] }])
  t.same(document.paths['/theirs'].get.security, [{ bearer: ['theirs'] }], 'a security the app\'s transform gives is kept')
  t.same(document.paths['/renamed'].get.security, [{ bearer: ['read'] }], 'without a schema from it, the route\'s own is documented')
})

t.test('a route that uses fastify-authentication but was never prepared fails the document, naming the route', async (t) => {
  const message = (route: string): RegExp =>
    new RegExp(`^fastify-authentication/openapi: ${route} uses fastify-authentication, but no registration prepared it, so its security cannot be documented: register fastify-authentication before declaring the route`)
  const early: Array<[string, Partial<RouteOptions>]> = [
    ['/config', { config: { requires: 'read' } }],
    ['/hook', { preHandler: [requires('read')] }],
    ['/anonymous', { config: { authenticate: false } }]
  ]
  for (const [url, options] of early) {
    const app = Fastify()
    await app.register(swagger, { openapi: { info }, ...openapi() })
    app.route({ method: 'GET', url, handler: async () => 'ok', ...options })
    await app.register(authentication, { backend: bearer({ tokens }) })
    await app.ready()
    t.throws(() => app.swagger(), message(`GET ${url}`), `declared before the plugin: ${url}`)
    await app.close()
  }

  const app = Fastify()
  await app.register(swagger, { openapi: { info }, ...openapi() })
  app.get('/before', async () => 'ok')
  app.get('/before-with-config', { config: { other: true } as never }, async () => 'ok')
  await app.register(authentication, { backend: bearer({ tokens }) })
  await app.ready()
  const { paths } = app.swagger() as unknown as Document
  t.same(paths['/before'].get, { responses: { 200: { description: 'Default Response' } } }, 'an unguarded route the plugin never saw is left as it is')
  t.same(paths['/before-with-config'].get, { responses: { 200: { description: 'Default Response' } } })
  await app.close()

  // Guarded by its scope only, with a guard added after the plugin: the plugin never prepared it either.
  const scoped = Fastify()
  await scoped.register(swagger, { openapi: { info }, ...openapi() })
  scoped.get('/scoped', async () => 'ok')
  await scoped.register(authentication, { backend: bearer({ tokens }) })
  scoped.addHook('preHandler', requires('read'))
  await scoped.ready()
  t.throws(() => scoped.swagger(), message('GET /scoped'), 'a route guarded by its scope')
  await scoped.close()

  // With exposeHeadRoutes, @fastify/swagger copies a HEAD route with an operationId when it sees it:
  // registered first, it copies the route before the plugin prepares it.
  const head = Fastify()
  await head.register(swagger, { openapi: { info }, exposeHeadRoutes: true, ...openapi() })
  await head.register(authentication, { backend: bearer({ tokens }) })
  head.get('/item', { config: { requires: 'read' }, schema: { operationId: 'item' } }, async () => 'ok')
  await head.ready()
  t.throws(() => head.swagger(), message('HEAD /item'))
  await head.close()

  const headAfter = Fastify()
  await headAfter.register(authentication, { backend: bearer({ tokens }) })
  await headAfter.register(swagger, { openapi: { openapi: '3.1.0', info }, exposeHeadRoutes: true, ...openapi() })
  headAfter.get('/item', { config: { requires: 'read' }, schema: { operationId: 'item' } }, async () => 'ok')
  await headAfter.ready()
  const documented = headAfter.swagger() as unknown as Document
  t.same(documented.paths['/item'].head.security, [{ bearer: ['read'] }], 'registered after the plugin, it copies the prepared route')
  await headAfter.close()
})

t.test('a route prepared outside any registration is treated as never prepared', async (t) => {
  const route = { method: 'GET', url: '/x', config: { requires: 'read' }, handler: async () => 'ok' } as unknown as RouteOptions
  prepareRoute.call(Fastify(), route)
  const { transform } = openapi()
  t.throws(() => transform({ schema: {}, url: '/x', route, openapiObject: { openapi: '3.1.0', components: {} } }), /GET \/x uses fastify-authentication/)
})

t.test('Swagger 2.0 documents are refused, saying how to ask for OpenAPI', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: bearer({ tokens }) })
  await app.register(swagger, { swagger: { info }, ...openapi() })
  app.get('/', { config: { requires: 'read' } }, async () => 'ok')
  await app.ready()
  t.throws(() => app.swagger(), /^fastify-authentication\/openapi documents OpenAPI 3 only: give @fastify\/swagger the openapi option/)
  await app.close()
})

t.test('openapi() checks its options', async (t) => {
  t.type(openapi().transform, 'function')
  t.throws(() => openapi(null as never), { name: 'TypeError', message: 'fastify-authentication/openapi: options must be an object like { transform }' })
  t.throws(() => openapi({ transfrom: () => ({}) } as never), { name: 'TypeError', message: 'fastify-authentication/openapi: unknown option "transfrom"; the only option is transform' })
  t.throws(() => openapi({ transform: 'no' } as never), { name: 'TypeError', message: /the transform option must be a function/ })
})
