// OpenAPI tells the whole story (issue 23): each guarded route documents every status it
// answers, and answers no status it does not document, over real sockets.
import { createServer } from 'node:http'
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import swagger from '@fastify/swagger'
import SwaggerParser from '@apidevtools/swagger-parser'
import authentication, { AuthCredentials, AuthenticationError, SimpleUser, type AuthenticationBackend } from '../lib/index'
import { basic } from '../lib/backends/basic'
import { bearer } from '../lib/backends/bearer'
import { jwt } from '../lib/backends/jwt'
import { openapi } from '../lib/openapi'
import { basic as basicHeader, basicAuth, listen } from './helpers'

type Jose = typeof import('jose', { with: { 'resolution-mode': 'import' } })
interface Response { description: string, headers?: Record<string, unknown>, content?: Record<string, { schema: { required: string[], properties: Record<string, { type: string }> } }> }
interface Document { paths: Record<string, { get: { responses: Record<string, Response> } }> }

const nobody = { auth: new AuthCredentials([]), user: new SimpleUser('nobody') }
const reader = { auth: new AuthCredentials(['read']), user: new SimpleUser('reader') }

/** A key set server: /up.json serves the key set, /down.json fails as an outage does. */
async function keySet (t: Test, jose: Jose) {
  const { publicKey, privateKey } = await jose.generateKeyPair('ES256')
  const jwks = JSON.stringify({ keys: [{ ...await jose.exportJWK(publicKey), kid: 'k1', alg: 'ES256' }] })
  const server = createServer((request, response) => {
    if (request.url === '/up.json') response.setHeader('content-type', 'application/json').end(jwks)
    else response.writeHead(500).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const { port } = server.address() as { port: number }
  const token = await new jose.SignJWT({ sub: 'nobody' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setExpirationTime('1h').sign(privateKey)
  return { url: (name: string) => `http://127.0.0.1:${port}/${name}.json`, token }
}

/** A backend that answers slowly with x-mode: slow, so that the timeout option answers 503. */
const slow: AuthenticationBackend = {
  challenge: 'Custom realm="slow"',
  refusalStatuses: [401],
  authenticate (request) {
    const mode = request.headers['x-mode']
    if (mode === 'slow') return new Promise((resolve) => setTimeout(resolve, 500, null).unref())
    if (mode === 'bad') throw new AuthenticationError('Bad custom credentials', { statusCode: 401, challenge: 'Custom error="bad"' })
    return mode === 'nobody' ? nobody : null
  }
}

async function buildApp (t: Test) {
  const jose = await import('jose')
  const keys = await keySet(t, jose)
  const app = Fastify()
  await app.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 'statuses', version: '1.0.0' } }, ...openapi() })
  await app.register(async (api) => {
    await api.register(authentication, { backend: [bearer({ tokens: { 'tok-nobody': nobody, 'tok-reader': reader } }), basic({ verify: basicAuth.authenticate as never })] })
    api.get('/read', { config: { requires: 'read' } }, async () => 'ok')
    api.get('/page', { config: { requires: { scopes: 'read', redirect: '/login' } } }, async () => 'ok')
  }, { prefix: '/api' })
  for (const name of ['up', 'down']) {
    await app.register(async (scope) => {
      await scope.register(authentication, { backend: jwt({ jwks: keys.url(name), algorithms: ['ES256'], issuer: null, audience: null }) })
      scope.get('/read', { config: { requires: 'read' } }, async () => 'ok')
    }, { prefix: `/jwt-${name}` })
  }
  await app.register(async (scope) => {
    await scope.register(authentication, { backend: slow, timeout: 100 })
    scope.get('/read', { config: { requires: 'read' } }, async () => 'ok')
  }, { prefix: '/slow' })
  await app.register(async (scope) => {
    // The first rejected password locks the caller out.
    const verify = (username: string) => username === 'nobody' ? nobody : null
    await scope.register(authentication, { backend: basic({ verify }), lockout: { max: 1, windowMs: 60_000 } })
    scope.get('/read', { config: { requires: 'read' } }, async () => 'ok')
  }, { prefix: '/locked' })
  const { http } = await listen(app, t)
  return { app, http, token: keys.token }
}

t.test('each guarded route documents exactly the statuses it answers, as it answers them', async (t) => {
  const { app, http, token } = await buildApp(t)
  const document = app.swagger() as unknown as Document
  await t.resolves(SwaggerParser.validate(structuredClone(document) as never), 'swagger-parser finds the document valid')

  const bearerOf = (value: string) => ({ authorization: `Bearer ${value}` })
  // Requests that between them make each route answer every status it can.
  const requests: Record<string, Array<Record<string, string>>> = {
    '/api/read': [{}, bearerOf('tok-nobody'), bearerOf('a b'), bearerOf('unknown'), { authorization: 'Basic !!' }, bearerOf('tok-reader')],
    '/api/page': [{}, bearerOf('tok-nobody'), bearerOf('a b'), bearerOf('unknown'), bearerOf('tok-reader')],
    '/jwt-up/read': [{}, bearerOf(token), bearerOf('a b'), bearerOf('not-a-jwt')],
    '/jwt-down/read': [{}, bearerOf(token), bearerOf('a b'), bearerOf('not-a-jwt')],
    '/slow/read': [{}, { 'x-mode': 'nobody' }, { 'x-mode': 'bad' }, { 'x-mode': 'slow' }],
    '/locked/read': [{}, { authorization: basicHeader('nobody') }, { authorization: basicHeader('mallory') }, { authorization: basicHeader('mallory') }]
  }
  const documented = (path: string) => Object.keys(document.paths[path].get.responses).map(Number).filter((status) => status !== 200)
  const answered = new Map<string, Set<number>>()
  for (const [path, list] of Object.entries(requests)) {
    const responses = document.paths[path].get.responses
    const seen = new Set<number>()
    for (const headers of list) {
      const response = await fetch(http + path, { headers, redirect: 'manual' })
      const what = `${path} ${JSON.stringify(headers).slice(0, 40)} → ${response.status}`
      const body = await response.text()
      if (response.status === 200) continue
      seen.add(response.status)
      const declared = responses[response.status]
      if (!t.ok(declared, `${what}: documented`)) continue
      for (const header of ['www-authenticate', 'retry-after', 'location']) {
        if (response.headers.has(header)) {
          t.ok(Object.keys(declared.headers ?? {}).some((name) => name.toLowerCase() === header), `${what}: ${header} documented`)
        }
      }
      if (response.status === 303) {
        t.equal(body, '', `${what}: no body`)
        t.notOk(declared.content, `${what}: documented without content`)
        continue
      }
      const schema = declared.content?.['application/json'].schema
      t.ok(schema, `${what}: documented as application/json`)
      t.match(response.headers.get('content-type'), /^application\/json; charset=utf-8$/, `${what}: JSON`)
      // Every field sent is one the schema documents, with its type, and every field documented is sent.
      const sent = JSON.parse(body) as Record<string, unknown>
      for (const [key, value] of Object.entries(sent)) {
        const type = schema?.properties[key]?.type
        t.equal(type === 'integer' ? 'number' : type, typeof value, `${what}: ${key} documented as what is sent`)
      }
      t.same(Object.keys(sent).sort(), Object.keys(schema?.properties ?? {}).sort(), `${what}: the fields documented`)
    }
    answered.set(path, seen)
  }
  for (const path of ['/api/read', '/api/page', '/slow/read', '/locked/read']) {
    t.same(documented(path), [...answered.get(path)!].sort(), `${path}: the statuses documented are the statuses answered`)
  }
  // One jwt backend cannot answer both 403 (its key set is up) and 503 (down): two registrations, documented alike.
  t.same(documented('/jwt-up/read'), documented('/jwt-down/read'))
  t.same(documented('/jwt-up/read'), [...new Set([...answered.get('/jwt-up/read')!, ...answered.get('/jwt-down/read')!])].sort(),
    'jwt with jwks: 400, 401, 403 and 503')
  t.same(documented('/api/read'), [400, 401, 403])
  t.same(documented('/api/page'), [303, 400, 401, 403])
  t.same(documented('/slow/read'), [401, 403, 503])
  t.same(documented('/locked/read'), [401, 403, 429])
})
