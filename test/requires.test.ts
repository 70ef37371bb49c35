import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import authentication, { AuthCredentials, AuthenticationError, SimpleUser, hasRequiredScope, requires, type AuthenticationOptions } from '../lib/index'
import { listen, logLines } from './helpers'

// Grants the scopes listed in the x-scopes header, comma-separated.
const headerScopes = {
  authenticate (request: { headers: Record<string, unknown> }) {
    const header = request.headers['x-scopes']
    if (typeof header !== 'string') return null
    return { auth: new AuthCredentials(header.split(',')), user: new SimpleUser('scoped') }
  }
}

async function build (options: Partial<AuthenticationOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(authentication, { backend: headerScopes, ...options })
  return app
}

t.test('denial: the status the route chose, with Fastify\'s JSON error body', async (t) => {
  const app = await build()
  app.get('/default', { preHandler: requires('read') }, async () => 'ok')
  app.get('/402', { preHandler: requires('read', { statusCode: 402 }) }, async () => 'ok')
  app.get('/404', { preHandler: requires('read', { statusCode: 404 }) }, async () => 'ok')
  const { http } = await listen(app, t)

  let response = await fetch(http + '/default')
  t.equal(response.status, 403)
  t.match(response.headers.get('content-type'), /^application\/json/)
  t.same(await response.json(), { statusCode: 403, code: 'FST_AUTHENTICATION_MISSING_SCOPES', error: 'Forbidden', message: 'Missing required scope', reason: 'missing-scopes' })
  response = await fetch(http + '/402')
  t.same(await response.json(), { statusCode: 402, code: 'FST_AUTHENTICATION_MISSING_SCOPES', error: 'Payment Required', message: 'Missing required scope', reason: 'missing-scopes' })
  t.equal((await fetch(http + '/404')).status, 404)
  t.equal(await (await fetch(http + '/default', { headers: { 'x-scopes': 'read' } })).text(), 'ok')
})

t.test('401 carries the challenge; other statuses do not', async (t) => {
  const app = await build({ challenge: 'Bearer realm="api"' })
  app.get('/401', { preHandler: requires('read', { statusCode: 401 }) }, async () => 'ok')
  app.get('/403', { preHandler: requires('read', { statusCode: 403 }) }, async () => 'ok')
  const { http } = await listen(app, t)

  const response = await fetch(http + '/401')
  t.equal(response.status, 401)
  t.equal(response.headers.get('www-authenticate'), 'Bearer realm="api"')
  t.same(await response.json(), { statusCode: 401, code: 'FST_AUTHENTICATION_MISSING_CREDENTIALS', error: 'Unauthorized', message: 'Authentication required', reason: 'missing-credentials' })
  const forbidden = await fetch(http + '/403')
  t.equal(forbidden.status, 403)
  t.equal(forbidden.headers.get('www-authenticate'), null)
})

t.test('401 without a challenge option has no WWW-Authenticate', async (t) => {
  const app = await build()
  app.get('/401', { preHandler: requires('read', { statusCode: 401 }) }, async () => 'ok')
  const { http } = await listen(app, t)
  const response = await fetch(http + '/401')
  t.equal(response.status, 401)
  t.equal(response.headers.get('www-authenticate'), null)
})

t.test('redirect: 303 to the target with next = the original path and query', async (t) => {
  const app = await build()
  app.get('/plain', { preHandler: requires('read', { redirect: '/login' }) }, async () => 'ok')
  app.get('/query', { preHandler: requires('read', { redirect: '/login?lang=en' }) }, async () => 'ok')
  app.get('/hash', { preHandler: requires('read', { redirect: 'https://id.example/login?a=1#top' }) }, async () => 'ok')
  app.get('/status', { preHandler: requires('read', { redirect: '/login', statusCode: 401 }) }, async () => 'ok')
  const { http } = await listen(app, t)

  const get = (path: string, headers = {}) => fetch(http + path, { redirect: 'manual', headers })
  let response = await get('/plain?a=1&b=two%20words')
  t.equal(response.status, 303)
  t.equal(response.headers.get('location'), '/login?next=' + encodeURIComponent('/plain?a=1&b=two%20words'))
  response = await get('/query')
  t.equal(response.headers.get('location'), '/login?lang=en&next=%2Fquery')
  response = await get('/hash')
  t.equal(response.headers.get('location'), 'https://id.example/login?a=1&next=%2Fhash#top')
  response = await get('/status')
  t.equal(response.status, 303, 'redirect wins over statusCode over HTTP')
  response = await get('/plain', { 'x-scopes': 'read' })
  t.equal(response.status, 200)
})

t.test('next never leaves the origin', async (t) => {
  const app = await build()
  app.get('/*', { preHandler: requires('read', { redirect: '/login' }) }, async () => 'ok')
  await app.ready()
  for (const url of ['//evil.example/x', '/\\evil.example', '/%5C%5Cevil.example', '/\\/\\evil.example/']) {
    const response = await app.inject({ url })
    const next = new URL(response.headers.location as string, 'http://app.test').searchParams.get('next') as string
    t.equal(new URL(next, 'http://app.test').origin, 'http://app.test', `${url} → ${next}`)
    t.ok(next.startsWith('/') && !next.startsWith('//'), next)
  }
})

t.test('match: all (default, Starlette) or any', async (t) => {
  const app = await build()
  app.get('/all', { preHandler: requires(['read', 'write']) }, async () => 'ok')
  app.get('/any', { preHandler: requires(['read', 'write'], { match: 'any' }) }, async () => 'ok')
  const { http } = await listen(app, t)
  const status = async (path: string, scopes: string) => (await fetch(http + path, { headers: { 'x-scopes': scopes } })).status
  t.equal(await status('/all', 'read'), 403)
  t.equal(await status('/all', 'write,read'), 200)
  t.equal(await status('/any', 'write'), 200)
  t.equal(await status('/any', 'admin'), 403)
  t.equal(await status('/all', 'reader,Read,rea,write'), 403, 'prefixes, case variants and substrings grant nothing')
})

t.test('a backend\'s insufficientScope is handed the guard\'s scopes frozen: it cannot weaken the guard', async (t) => {
  const handed: Array<readonly string[]> = []
  const app = await build({
    backend: {
      ...headerScopes,
      insufficientScope (scopes) {
        handed.push(scopes)
        try { (scopes as string[]).pop() } catch {}
        return `Bearer error="insufficient_scope", scope="${scopes.join(' ')}"`
      }
    }
  })
  app.get('/', { config: { requires: ['read', 'write'] } }, async () => 'ok')
  const { http } = await listen(app, t)
  for (let i = 0; i < 2; i++) {
    const response = await fetch(http + '/', { headers: { 'x-scopes': 'read' } })
    t.same([response.status, response.headers.get('www-authenticate')], [403, 'Bearer error="insufficient_scope", scope="read write"'], `refusal ${i + 1}`)
  }
  // Built once for the guard and the backend, then sent as it is: the guard is intact on the second refusal too.
  t.equal(handed.length, 1, 'the challenge was asked for once')
  t.ok(handed.every((scopes) => Object.isFrozen(scopes)))
})

t.test('requires works alone or anywhere in an array of hooks', async (t) => {
  const app = await build()
  const order: string[] = []
  const mark = (name: string) => async () => { order.push(name) }
  app.get('/first', { preHandler: [requires('read'), mark('after')] }, async () => 'ok')
  app.get('/middle', { preHandler: [mark('before'), requires('read'), mark('after')] }, async () => 'ok')
  app.get('/last', { preHandler: [mark('before'), requires('read')] }, async () => 'ok')
  app.get('/on-request', { onRequest: requires('read') }, async () => 'ok')
  const { http } = await listen(app, t)
  for (const path of ['/first', '/middle', '/last', '/on-request']) {
    t.equal((await fetch(http + path)).status, 403, path)
    t.equal((await fetch(http + path, { headers: { 'x-scopes': 'read' } })).status, 200, path)
  }
  // The guards are checked before any of the route's hooks: a refused request runs none of them.
  t.same(order, ['after', 'before', 'after', 'before'])
})

t.test('bad arguments throw when requires() is called', async (t) => {
  const bad: Array<[unknown, unknown, RegExp]> = [
    ['', undefined, /scopes must be/],
    [[], undefined, /scopes must be/],
    [['read', ''], undefined, /scopes must be/],
    [[1], undefined, /scopes must be/],
    [{ scopes: 'read' }, undefined, /scopes must be/],
    ['read', null, /options must be an object/],
    ['read', { status: 401 }, /unknown option "status"/],
    ['read', { statusCode: 399 }, /statusCode must be an integer from 400 to 599/],
    ['read', { statusCode: 600 }, /statusCode must be/],
    ['read', { statusCode: 401.5 }, /statusCode must be/],
    ['read', { statusCode: '401' }, /statusCode must be/],
    ['read', { redirect: '' }, /redirect must be/],
    ['read', { redirect: '/login\r\nx: y' }, /redirect must be/],
    ['read', { redirect: '/log in' }, /redirect must be/],
    ['read', { redirect: 42 }, /redirect must be/],
    ['read', { match: 'some' }, /match must be 'all' or 'any'/]
  ]
  for (const [scopes, options, message] of bad) {
    t.throws(() => requires(scopes as string, options as object), message, JSON.stringify([scopes, options]))
  }
})

t.test('a requires() the plugin does not cover fails the app at startup; hasRequiredScope there answers 500', async (t) => {
  const declarations: Array<[string, (app: FastifyInstance) => Promise<void>]> = [
    ['GET /unregistered has requires() in preHandler', async (app) => {
      app.get('/unregistered', { preHandler: requires('read') }, async () => 'never')
    }],
    ['GET /sibling has requires() in onRequest', async (app) => {
      await app.register(async (sibling) => { await sibling.register(authentication, { backend: headerScopes }) })
      await app.register(async (other) => { other.get('/sibling', { onRequest: requires('read') }, async () => 'never') })
    }],
    ['GET /scope-wide has requires() added with addHook in its scope', async (app) => {
      await app.register(async (sibling) => { await sibling.register(authentication, { backend: headerScopes }) })
      await app.register(async (other) => {
        await other.register(async (nested) => { nested.get('/scope-wide', async () => 'never') })
        // Added after the route, in a parent scope: it applies all the same.
        other.addHook('preHandler', requires('read'))
      })
    }]
  ]
  for (const [said, declare] of declarations) {
    const app = Fastify()
    await declare(app)
    await t.rejects(async () => { await app.ready() }, { message: `fastify-authentication: ${said}, but fastify-authentication does not cover it: register it with \`await app.register(authentication, { backend })\` in this scope or a parent scope (not a sibling one)` }, said)
    await app.close()
  }

  const lines = logLines()
  const app = Fastify({ logger: { level: 'error', stream: lines.stream } })
  await app.register(async (sibling) => { await sibling.register(authentication, { backend: headerScopes }) })
  app.get('/predicate', async (request) => hasRequiredScope(request, 'read'))
  const { http } = await listen(app, t)
  t.equal((await fetch(http + '/predicate', { headers: { 'x-scopes': 'read' } })).status, 500)
  t.match(lines.messages().find((message) => message.includes('does not cover')), /register it with `await app.register\(authentication, \{ backend \}\)`/)
})

t.test('a scope-wide requires() in onRequest leaves rejected credentials to the plugin\'s answer', async (t) => {
  // The README's pattern: the guard runs before the plugin's verdict, which refuses rejected credentials.
  const app = await build({
    backend: {
      authenticate (request) {
        if (request.headers['x-scopes'] === 'forged') throw new AuthenticationError('Invalid scopes header', { statusCode: 401, challenge: 'Scopes' })
        return headerScopes.authenticate(request)
      }
    }
  })
  app.addHook('onRequest', requires('read'))
  app.get('/', async () => 'ok')
  const { http } = await listen(app, t)
  const rejected = await fetch(http + '/', { headers: { 'x-scopes': 'forged' } })
  t.same([rejected.status, rejected.headers.get('www-authenticate'), await rejected.text()], [401, 'Scopes', JSON.stringify({ statusCode: 401, code: 'FST_AUTHENTICATION_UNKNOWN_TOKEN', error: 'Unauthorized', message: 'Invalid scopes header', reason: 'unknown-token' })], 'the backend\'s refusal, not a 500')
  t.equal((await fetch(http + '/')).status, 403, 'an anonymous caller is refused by the guard')
  t.equal(await (await fetch(http + '/', { headers: { 'x-scopes': 'read' } })).text(), 'ok')
})

t.test('hasRequiredScope: Starlette\'s all-scopes rule', async (t) => {
  const app = await build()
  app.get('/', async (request) => [hasRequiredScope(request, 'read'), hasRequiredScope(request, ['read', 'write'])])
  await app.ready()
  t.same((await app.inject({ url: '/', headers: { 'x-scopes': 'read' } })).json(), [true, false])
  t.same((await app.inject({ url: '/', headers: { 'x-scopes': 'write,read' } })).json(), [true, true])
  t.same((await app.inject({ url: '/' })).json(), [false, false])
})

t.test('scopes come only from credentials the AuthCredentials constructor checked', async (t) => {
  const app = await build()
  app.get('/', async (request) => {
    // An app that swaps request.auth for a look-alike gets nothing from it.
    request.auth = Object.setPrototypeOf({ scopes: ['read'] }, AuthCredentials.prototype)
    return hasRequiredScope(request, 'read')
  })
  await app.ready()
  t.equal((await app.inject({ url: '/', headers: { 'x-scopes': 'read' } })).json(), false)
})
