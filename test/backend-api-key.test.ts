import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { get as httpGet, type OutgoingHttpHeaders } from 'node:http'
import { text } from 'node:stream/consumers'
import t, { type Test } from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import cookie from '@fastify/cookie'
import authentication, { AuthCredentials, SimpleUser } from '../lib/index'
import type { BackendAnswer } from '../lib/backends/contract'
import type { RefusedMessage } from '../lib/request/events'
import { apiKey, type ApiKeyOptions } from '../lib/backends/api-key'
import { basic } from '../lib/backends/basic'
import { basic as basicHeader, get, listen, logLines, refusalBody } from './helpers'

const keys = new Map([
  ['k-reader', { name: 'reader', scopes: ['read'] }],
  ['k-admin', { name: 'admin', scopes: ['read', 'admin', 'authenticated'] }]
])

function lookUp (key: string): BackendAnswer {
  const owner = keys.get(key)
  return owner === undefined ? null : { auth: new AuthCredentials(owner.scopes), user: new SimpleUser(owner.name) }
}

type Place = { header: string } | { cookie: string }

/** An app with an open route that reports the caller and a guarded one; `calls` records the keys verify was given. */
async function serve (t: Test, place: Place, { async = false, withCookies = false } = {}) {
  const calls: string[] = []
  const verify = (key: string): BackendAnswer | Promise<BackendAnswer> => {
    calls.push(key)
    return async ? Promise.resolve(lookUp(key)) : lookUp(key)
  }
  const app = Fastify()
  if (withCookies) await app.register(cookie)
  await app.register(authentication, { backend: apiKey({ ...place, verify } as ApiKeyOptions) })
  app.get('/', async (request) => ({ user: request.user.displayName, scopes: request.auth.scopes }))
  app.get('/guarded', { config: { requires: 'authenticated' } }, async (request) => request.user.displayName)
  const { http } = await listen(app, t)
  return { http, calls }
}

/** Status, body and each WWW-Authenticate header as sent (fetch and Node join repeated headers into one). */
function challenged (url: string, headers: Record<string, string> = {}): Promise<{ status: number, challenges: string[], body: string }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { headers, agent: false }, (response) => {
      text(response).then((body) => resolve({ status: response.statusCode ?? 0, challenges: response.headersDistinct['www-authenticate'] ?? [], body }), reject)
    }).on('error', reject)
  })
}

/** The refusals published while the test runs. */
function recordRefusals (t: Test): { refused: RefusedMessage[] } {
  const refused: RefusedMessage[] = []
  const onRefused = (message: unknown): void => { refused.push(message as RefusedMessage) }
  subscribe('fastify-authentication:refused', onRefused)
  t.teardown(() => unsubscribe('fastify-authentication:refused', onRefused))
  return { refused }
}

const unknownKey = { status: 401, challenges: ['APIKey'], body: refusalBody(401, 'Invalid API key', 'unknown-token') }

t.test('options are checked when apiKey() is called, naming the options', async (t) => {
  const verify = () => null
  const bad: Array<[unknown, RegExp]> = [
    [undefined, /^fastify-authentication\/api-key: options must be an object like \{ header, verify \}$/],
    ['x-api-key', /options must be an object/],
    [{ verify }, /give exactly one of the header and cookie options/],
    [{ header: 'x-api-key', cookie: 'api_key', verify }, /give exactly one of the header and cookie options/],
    [{ header: '', verify }, /the header option must be a header name, like 'x-api-key'/],
    [{ header: 'x api key', verify }, /the header option/],
    [{ header: 'x-api-key:', verify }, /the header option/],
    [{ header: ['x-api-key'], verify }, /the header option/],
    [{ cookie: '', verify }, /the cookie option must be a cookie name, like 'api_key'/],
    [{ cookie: 'api;key', verify }, /the cookie option/],
    [{ cookie: 42, verify }, /the cookie option/],
    [{ header: 'x-api-key' }, /the verify option must be a function \(key, request\)/],
    [{ header: 'x-api-key', verify: 'k-admin' }, /the verify option/],
    [{ headers: 'x-api-key', verify }, /unknown option "headers"; the options are header, cookie and verify/],
    [{ header: 'x-api-key', verify, realm: 'api' }, /unknown option "realm"/]
  ]
  for (const [options, message] of bad) {
    t.throws(() => apiKey(options as ApiKeyOptions), message, JSON.stringify(options) ?? String(options))
  }
})

for (const async of [false, true]) {
  const kind = async ? 'async' : 'sync'

  t.test(`${kind} verify, key in a header: known, missing, empty, unknown`, async (t) => {
    const { http, calls } = await serve(t, { header: 'X-API-Key' }, { async })
    const known = await fetch(http + '/', { headers: { 'x-api-key': 'k-reader' } })
    t.equal(known.status, 200)
    t.same(await known.json(), { user: 'reader', scopes: ['read', 'authenticated'] })
    t.same(await (await fetch(http + '/', { headers: { 'X-Api-Key': 'k-admin' } })).json(), { user: 'admin', scopes: ['read', 'admin', 'authenticated'] },
      'header names are case-insensitive, and a scope already granted is not repeated')
    t.equal(await (await fetch(http + '/guarded', { headers: { 'x-api-key': 'k-reader' } })).text(), 'reader')

    t.same(await (await fetch(http + '/')).json(), { user: '', scopes: [] }, 'no key: anonymous')
    t.same(await (await fetch(http + '/', { headers: { 'x-api-key': '' } })).json(), { user: '', scopes: [] }, 'an empty key is no key')
    t.same(await (await fetch(http + '/', { headers: { authorization: 'Bearer k-reader' } })).json(), { user: '', scopes: [] }, 'another header is no key')

    t.same(await challenged(http + '/', { 'x-api-key': 'k-nobody' }), unknownKey)
    t.same(await challenged(http + '/guarded', { 'x-api-key': 'K-READER' }), unknownKey, 'keys match exactly')
    t.same(calls, ['k-reader', 'k-admin', 'k-reader', 'k-nobody', 'K-READER'])
  })
}

t.test('an anonymous caller on a guarded route gets 401 with the APIKey challenge', async (t) => {
  const { http } = await serve(t, { header: 'x-api-key' })
  t.same(await challenged(http + '/guarded'), { status: 401, challenges: ['APIKey'], body: refusalBody(401, 'Authentication required', 'missing-credentials') })
  t.equal((await challenged(http + '/')).status, 200, 'open routes serve it')
})

t.test('key in a cookie, read from request.cookies', async (t) => {
  const { http, calls } = await serve(t, { cookie: 'api_key' }, { withCookies: true })
  t.same(await (await fetch(http + '/', { headers: { cookie: 'theme=dark; api_key=k-reader' } })).json(), { user: 'reader', scopes: ['read', 'authenticated'] })
  t.same(await (await fetch(http + '/', { headers: { cookie: 'theme=dark' } })).json(), { user: '', scopes: [] }, 'no such cookie: anonymous')
  t.same(await (await fetch(http + '/', { headers: { 'x-api-key': 'k-reader' } })).json(), { user: '', scopes: [] }, 'a key elsewhere is no key')
  t.same(await challenged(http + '/', { cookie: 'api_key=k-nobody' }), unknownKey)
  t.same(await challenged(http + '/guarded'), { status: 401, challenges: ['APIKey'], body: refusalBody(401, 'Authentication required', 'missing-credentials') })
  t.same(calls, ['k-reader', 'k-nobody'])
})

t.test('a cookie key without @fastify/cookie registered first fails at startup, saying so', async (t) => {
  const backend = apiKey({ cookie: 'api_key', verify: lookUp })
  const message = /^fastify-authentication\/api-key: the cookie option reads request\.cookies: register @fastify\/cookie before fastify-authentication$/

  const missing = Fastify()
  missing.register(authentication, { backend })
  await t.rejects(async () => { await missing.ready() }, message, 'never registered')

  const after = Fastify()
  after.register(authentication, { backend })
  after.register(cookie)
  await t.rejects(async () => { await after.ready() }, message, 'registered after the plugin')

  const headerKey = Fastify()
  headerKey.register(authentication, { backend: apiKey({ header: 'x-api-key', verify: lookUp }) })
  await t.resolves(async () => { await headerKey.ready() }, 'a header key needs no @fastify/cookie')
  await headerKey.close()
})

t.test('@fastify/cookie parsing after the plugin\'s onRequest fails every request with a 500 that says why', async (t) => {
  let ran = 0
  const lines = logLines()
  const app = Fastify({ logger: { level: 'error', stream: lines.stream } })
  await app.register(cookie, { hook: 'preHandler' })
  await app.register(authentication, { backend: apiKey({ cookie: 'api_key', verify: lookUp }) })
  app.get('/', async () => { ran++ })
  const { http } = await listen(app, t)
  t.equal((await fetch(http + '/', { headers: { cookie: 'api_key=k-reader' } })).status, 500)
  t.equal(ran, 0)
  t.match(lines.lines.join('\n'), /request\.cookies was not parsed yet: register @fastify\/cookie with its default hook, onRequest/)
})

t.test('the query form fails at startup, saying why and what to use: Fastify logs the URL before any hook runs', async (t) => {
  const why = /^fastify-authentication\/api-key: the query option is not supported: the query string is written to request logs and proxies; send the key in a header \(header: 'x-api-key'\) or a cookie \(cookie: 'api_key'\)$/
  for (const options of [{ query: 'api_key', verify: lookUp }, { query: 'api_key' }, { header: 'x-api-key', query: 'api_key', verify: lookUp }]) {
    t.throws(() => apiKey(options as unknown as ApiKeyOptions), why, JSON.stringify(options))
  }
  // What the option would do: Fastify's default logger writes the URL at info level, query string and key included.
  const lines = logLines()
  const app = Fastify({ logger: { stream: lines.stream } })
  app.get('/', async () => 'handler')
  const { http } = await listen(app, t)
  await (await fetch(http + '/?api_key=k-leaked-0123456789')).text()
  t.ok(lines.lines.some((line) => line.includes('k-leaked-0123456789')), 'the key would be in the request log')
})

t.test('a key header sent twice is refused with 400, before verify sees either key', async (t) => {
  const { refused } = recordRefusals(t)
  const { http, calls } = await serve(t, { header: 'X-API-Key' })
  const twice = refusalBody(400, 'The API key header was sent more than once', 'malformed-credentials')
  for (const headers of [
    { 'x-api-key': ['k-nobody', 'k-reader'] },
    { 'x-api-key': ['k-reader', 'k-reader'] },
    // Node sends an array of raw headers as given (and no Host of its own): two names that differ in case only.
    ['host', '127.0.0.1', 'X-Api-Key', 'k-reader', 'x-api-key', 'k-admin'] as unknown as OutgoingHttpHeaders,
    { 'x-api-key': ['', 'k-reader'] }
  ]) {
    const answer = await get(http, '/', headers)
    t.same([answer.status, answer.body, answer.headers['www-authenticate']], [400, twice, undefined], JSON.stringify(headers))
  }
  t.same(calls, [], 'verify never saw a key')
  t.same(refused.map(({ reason, statusCode }) => [reason, statusCode]), Array(4).fill(['malformed-credentials', 400]), 'each refusal is published')
  t.equal((await get(http, '/', { 'x-api-key': 'k-reader, k-admin' })).status, 401, 'one header whose value has a comma is one (unknown) key')
  t.same(calls, ['k-reader, k-admin'])

  // Node keeps only the first of two Authorization headers in request.headers: the raw headers tell.
  const authorization = await serve(t, { header: 'authorization' })
  const twoAuthorizations = ['host', '127.0.0.1', 'authorization', 'k-reader', 'authorization', 'k-admin'] as unknown as OutgoingHttpHeaders
  t.equal((await get(authorization.http, '/', twoAuthorizations)).status, 400, 'a header whose repeats Node drops')
  t.same((await get(authorization.http, '/', { authorization: 'k-reader' })).body, JSON.stringify({ user: 'reader', scopes: ['read', 'authenticated'] }))
  t.same(authorization.calls, ['k-reader'])
})

t.test('verify gets the request, and a result that breaks the contract fails closed', async (t) => {
  const verify = (key: string, request: FastifyRequest): BackendAnswer => {
    if (key === 'k-odd') return { auth: ['read'], user: new SimpleUser('odd') } as unknown as BackendAnswer
    return request.headers['x-tenant'] === 'closed' ? null : lookUp(key)
  }
  let ran = 0
  const lines = logLines()
  const app = Fastify({ logger: { level: 'error', stream: lines.stream } })
  await app.register(authentication, { backend: apiKey({ header: 'x-api-key', verify }) })
  app.get('/', async (request) => { ran++; return request.user.displayName })
  const { http } = await listen(app, t)
  t.equal(await (await fetch(http + '/', { headers: { 'x-api-key': 'k-reader' } })).text(), 'reader')
  t.equal((await challenged(http + '/', { 'x-api-key': 'k-reader', 'x-tenant': 'closed' })).status, 401)
  t.equal((await fetch(http + '/', { headers: { 'x-api-key': 'k-odd' } })).status, 500)
  t.equal(ran, 1)
  t.match(lines.messages(), [/but its auth is an array, not an AuthCredentials/])
})

t.test('an unknown key reaches neither a response body nor a log line', async (t) => {
  const key = 'k-leaked-0123456789'
  const lines = logLines()
  const app = Fastify({ logger: { level: 'trace', stream: lines.stream } })
  await app.register(authentication, { backend: apiKey({ header: 'x-api-key', verify: lookUp }) })
  app.get('/', async () => 'handler')
  const { http } = await listen(app, t)
  const answer = await challenged(http + '/', { 'x-api-key': key })
  t.equal(answer.status, 401)
  t.ok(lines.lines.length >= 2, 'the request was logged')
  t.same([answer.body, ...lines.lines].filter((text) => text.includes(key)), [])
})

t.test('with apiKey and basic, an anonymous caller gets both challenges, one header each, either backend may recognise the caller, and a rejected credential refuses the request', async (t) => {
  const app = Fastify()
  await app.register(authentication, {
    backend: [
      apiKey({ header: 'x-api-key', verify: lookUp }),
      basic({ verify: (username, password) => password === 'wonderland' ? { auth: new AuthCredentials(), user: new SimpleUser(username) } : null })
    ]
  })
  app.get('/guarded', { config: { requires: 'authenticated' } }, async (request) => request.user.displayName)
  const { http } = await listen(app, t)
  const anonymous = await challenged(http + '/guarded')
  t.equal(anonymous.status, 401)
  t.same(anonymous.challenges, ['APIKey', 'Basic realm="api", charset="UTF-8"'])

  t.equal(await (await fetch(http + '/guarded', { headers: { 'x-api-key': 'k-reader' } })).text(), 'reader')
  t.equal(await (await fetch(http + '/guarded', { headers: { authorization: basicHeader('alice', 'wonderland') } })).text(), 'alice')
  t.same(await challenged(http + '/guarded', { 'x-api-key': 'k-nobody', authorization: basicHeader('alice', 'wonderland') }), unknownKey,
    'an unknown key refuses the request, though the Basic credentials are good')
  t.same(await challenged(http + '/guarded', { 'x-api-key': 'k-reader', authorization: basicHeader('admin', 'guess') }),
    { status: 401, challenges: ['Basic realm="api", charset="UTF-8"'], body: refusalBody(401, 'Invalid username or password', 'wrong-password') },
    'a wrong password refuses the request, though the key is good: a password is never guessed behind a good key')
  t.same(await challenged(http + '/guarded', { 'x-api-key': 'k-nobody', authorization: basicHeader('alice', 'wrong') }), unknownKey,
    'recognised by nobody: the first refusal')
  t.same(await challenged(http + '/guarded', { authorization: basicHeader('alice', 'wrong') }),
    { status: 401, challenges: ['Basic realm="api", charset="UTF-8"'], body: refusalBody(401, 'Invalid username or password', 'wrong-password') })
})
