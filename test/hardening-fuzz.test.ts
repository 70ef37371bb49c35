import t from 'tap'
import assert from 'node:assert/strict'
import { Agent, type OutgoingHttpHeaders } from 'node:http'
import Fastify, { type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import fc from 'fast-check'
import authentication, { AuthCredentials, AuthenticationError, SimpleUser, hasRequiredScope, requires } from '../lib/index'
import { basic, basicAuth, get, handshake, listen } from './helpers'

// Property-based tests: whatever the headers, scopes and paths, the server keeps answering,
// only with the statuses the plugin documents, and a scope is only ever granted by exact match.
const NUM_RUNS = 150

/** Printable ASCII without CR/LF: what node:http and fetch agree to send in a header. */
const headerValue = fc.string({ unit: 'grapheme-ascii', maxLength: 48 })

t.test('arbitrary Authorization, Cookie, Upgrade and Sec-WebSocket-Protocol values', async (t) => {
  interface Seen { outcome: 'user' | 'anonymous' | 'error', viaUpgrade: boolean, upgrade: string | undefined }
  const seen = new Map<string, Seen>()
  function record (request: FastifyRequest, outcome: Seen['outcome']): void {
    seen.set(String(request.headers['x-case']), {
      outcome,
      viaUpgrade: (request as { ws?: boolean }).ws === true,
      upgrade: request.headers.upgrade
    })
  }
  const cookieBackend = {
    authenticate (request: FastifyRequest) {
      const match = /(?:^|;\s*)session=([^;]*)/.exec(request.headers.cookie ?? '')
      if (match === null) return null
      if (!/^[\w-]{1,32}$/.test(match[1])) throw new AuthenticationError('Invalid session')
      return { auth: new AuthCredentials(['authenticated']), user: new SimpleUser('cookie:' + match[1]) }
    }
  }
  // Basic first, then the session cookie; what the backends decided is recorded for the model.
  const backend = {
    async authenticate (request: FastifyRequest) {
      try {
        const result = basicAuth.authenticate(request) ?? cookieBackend.authenticate(request)
        record(request, result == null ? 'anonymous' : 'user')
        return result
      } catch (error) {
        record(request, 'error')
        throw error
      }
    }
  }
  const app = Fastify()
  await app.register(websocket)
  await app.register(authentication, { backend })
  let handled = 0
  app.get('/open', async (request) => { handled++; return request.user.displayName })
  app.get('/member', { config: { requires: { scopes: 'authenticated', statusCode: 401 } } }, async () => { handled++; return 'member' })
  app.get('/members', { config: { requires: 'authenticated' } }, async () => { handled++; return 'members' })
  app.get('/login-first', { config: { requires: { scopes: 'authenticated', redirect: '/login' } } }, async () => { handled++; return 'page' })
  app.get('/ws', { websocket: true, preHandler: requires('authenticated') }, (socket, request) => {
    socket.send(request.user.displayName)
    socket.close()
  })
  const { http, ws } = await listen(app, t)

  const routes = ['/open', '/member', '/members', '/login-first', '/ws'] as const
  const nothing = fc.constant(undefined)
  const arbitraryRequest = fc.record({
    route: fc.constantFrom(...routes),
    authorization: fc.oneof(
      { weight: 3, arbitrary: nothing },
      { weight: 3, arbitrary: headerValue.filter((name) => !name.includes(':')).map((name) => basic(name)) },
      { weight: 1, arbitrary: headerValue },
      { weight: 1, arbitrary: headerValue.map((value) => 'Basic ' + value) },
      { weight: 1, arbitrary: headerValue.map((value) => 'Bearer ' + value) }
    ),
    cookie: fc.oneof(
      { weight: 3, arbitrary: nothing },
      { weight: 1, arbitrary: headerValue },
      { weight: 1, arbitrary: headerValue.map((value) => 'session=' + value) },
      { weight: 1, arbitrary: fc.constant('theme=dark; session=abc') }
    ),
    upgrade: fc.oneof(
      { weight: 2, arbitrary: nothing },
      { weight: 2, arbitrary: fc.constant('websocket') },
      { weight: 1, arbitrary: headerValue },
      { weight: 1, arbitrary: fc.constantFrom('WebSocket', 'h2c', 'h2c, websocket', '', 'websocket/13') }
    ),
    connection: fc.option(fc.constantFrom('Upgrade', 'upgrade', 'keep-alive, Upgrade', 'keep-alive', 'close'), { nil: undefined, freq: 3 }),
    protocol: fc.option(headerValue, { nil: undefined, freq: 2 }),
    wsKey: fc.boolean()
  })

  const statuses = new Map<number, number>()
  let id = 0
  await fc.assert(fc.asyncProperty(arbitraryRequest, async (input) => {
    const name = String(++id)
    const headers: OutgoingHttpHeaders = { 'x-case': name }
    if (input.authorization !== undefined) headers.authorization = input.authorization
    if (input.cookie !== undefined) headers.cookie = input.cookie
    if (input.upgrade !== undefined) headers.upgrade = input.upgrade
    if (input.connection !== undefined) headers.connection = input.connection
    if (input.protocol !== undefined) headers['sec-websocket-protocol'] = input.protocol
    if (input.wsKey) {
      headers['sec-websocket-key'] = 'dGhlIHNhbXBsZSBub25jZQ=='
      headers['sec-websocket-version'] = '13'
    }
    const handledBefore = handled
    const answer = await get(http, input.route, headers)
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
    const backendSaw = seen.get(name)
    assert.ok(backendSaw !== undefined, 'the backend ran')
    seen.delete(name)
    const handshakeLike = backendSaw.viaUpgrade || /websocket/i.test(backendSaw.upgrade ?? '')
    // What the route lets through: a real upgrade is done (101) or refused by ws (400); plain HTTP gets 200 (404 on /ws).
    const passed = backendSaw.viaUpgrade ? [101, 400] : input.route === '/ws' ? [404] : [200]
    let expected: number[]
    if (backendSaw.outcome === 'error') {
      expected = [handshakeLike ? 403 : 400]
    } else if (input.route === '/open' || backendSaw.outcome === 'user') {
      expected = passed
    } else if (handshakeLike || input.route === '/members' || input.route === '/ws') {
      expected = [403]
    } else {
      expected = [input.route === '/member' ? 401 : 303]
    }
    assert.ok(expected.includes(answer.status),
      `${input.route} (${backendSaw.outcome}, handshake: ${handshakeLike}) answered ${answer.status}, expected ${expected.join(' or ')}`)
    if (answer.status !== 200) assert.equal(handled, handledBefore, 'the handler did not run')
    if (answer.status === 303) assert.equal(answer.headers.location, '/login?next=%2Flogin-first')
    if (answer.status === 401) assert.equal(answer.headers['content-type'], 'application/json; charset=utf-8')
  }), { numRuns: NUM_RUNS })

  t.ok([...statuses.keys()].every((status) => [101, 200, 303, 400, 401, 403, 404].includes(status)), 'only documented statuses')
  t.ok([200, 400, 403].every((status) => statuses.has(status)) && statuses.size >= 5, `varied answers: ${JSON.stringify([...statuses])}`)
  t.equal((await get(http, '/open', { authorization: basic('after') })).body, 'after', 'the server still answers')
  t.same(await handshake(ws + '/ws', { authorization: basic('tom') }), { opened: true, message: 'tom' }, 'and still upgrades')
})

t.test('a scope is granted only by exact match, with match: all and any', async (t) => {
  const real = ['read', 'write', 'admin']
  const objectKeys = ['__proto__', 'constructor', 'toString', 'length', 'hasOwnProperty', 'valueOf', 'prototype', 'isPrototypeOf', '0', 'undefined', 'null']
  const app = Fastify()
  // The granted scopes come from a header, each one URI-encoded so any string can travel.
  await app.register(authentication, {
    backend: {
      authenticate (request) {
        const header = request.headers['x-scopes']
        if (typeof header !== 'string') return null
        const scopes = header.split(',').filter((scope) => scope !== '').map(decodeURIComponent)
        return { auth: new AuthCredentials(scopes), user: new SimpleUser('fuzz') }
      }
    }
  })
  const rules: Array<{ path: string, scopes: string[], match: 'all' | 'any' }> = [
    { path: '/all', scopes: ['read', 'write'], match: 'all' },
    { path: '/any', scopes: ['read', 'write'], match: 'any' },
    { path: '/one', scopes: ['admin'], match: 'all' },
    { path: '/hook-all', scopes: ['admin', 'read'], match: 'all' },
    { path: '/hook-any', scopes: ['admin', 'write'], match: 'any' },
    { path: '/proto', scopes: ['__proto__'], match: 'all' },
    { path: '/keys-any', scopes: ['constructor', 'toString', 'length'], match: 'any' },
    { path: '/keys-all', scopes: ['hasOwnProperty', 'valueOf'], match: 'all' }
  ]
  for (const [index, rule] of rules.entries()) {
    const handler = async (): Promise<string> => 'ok'
    // Every way of asking: config.requires (string, array, object), requires() in onRequest and preHandler.
    if (index % 3 === 0) {
      app.get(rule.path, { config: { requires: { scopes: rule.scopes, match: rule.match } } }, handler)
    } else if (index % 3 === 1) {
      app.get(rule.path, { onRequest: [requires(rule.scopes, { match: rule.match })] }, handler)
    } else {
      app.get(rule.path, { preHandler: requires(rule.scopes, { match: rule.match }) }, handler)
    }
  }
  app.get('/has', async (request) => hasRequiredScope(request, ['read', 'write']) ? 'yes' : 'no')
  const { http } = await listen(app, t)
  const agent = new Agent({ keepAlive: true, maxSockets: 4 })
  t.teardown(() => agent.destroy())

  /** Near misses of `scope`: prefixes, suffixes, substrings, case variants, padding, extensions. */
  const nearMiss = (scope: string): fc.Arbitrary<string> => fc.oneof(
    fc.nat(scope.length - 1).map((end) => scope.slice(0, end || 1)),
    fc.nat(scope.length - 1).map((start) => scope.slice(start)),
    fc.tuple(fc.nat(scope.length), fc.nat(scope.length)).map(([a, b]) => scope.slice(Math.min(a, b), Math.max(a, b) + 1)),
    fc.constantFrom(scope.toUpperCase(), scope[0].toUpperCase() + scope.slice(1), ` ${scope}`, `${scope} `, `${scope}s`, `${scope}:*`, '*', `${scope},${scope}`),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 }).map((extra) => scope + extra)
  )
  // The scopes held: mostly the route's own scopes (exact or near misses), plus object keys and noise.
  const held = (required: string[]): fc.Arbitrary<string[]> => {
    const scope = fc.constantFrom(...required, ...real)
    return fc.array(fc.oneof(
      { weight: 3, arbitrary: scope },
      { weight: 4, arbitrary: scope.chain(nearMiss) },
      { weight: 1, arbitrary: fc.constantFrom(...objectKeys) },
      { weight: 1, arbitrary: fc.constantFrom(...objectKeys).chain(nearMiss) },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }) }
    ), { maxLength: 5 })
  }
  const outcomes = { granted: 0, refused: 0 }
  const ruleAndScopes = fc.constantFrom(...rules).chain((rule) => fc.tuple(fc.constant(rule), held(rule.scopes)))
  await fc.assert(fc.asyncProperty(ruleAndScopes, async ([rule, scopes]) => {
    const held = scopes.filter((scope) => scope !== '')
    const ok = rule.match === 'all' ? rule.scopes.every((s) => held.includes(s)) : rule.scopes.some((s) => held.includes(s))
    const header = held.map(encodeURIComponent).join(',')
    const answer = await get(http, rule.path, { 'x-scopes': header }, { agent })
    assert.equal(answer.status, ok ? 200 : 403, `${rule.path} (${rule.match} of ${JSON.stringify(rule.scopes)}) with ${JSON.stringify(held)}`)
    outcomes[ok ? 'granted' : 'refused']++
    const has = await get(http, '/has', { 'x-scopes': header }, { agent })
    assert.equal(has.body, held.includes('read') && held.includes('write') ? 'yes' : 'no', `hasRequiredScope with ${JSON.stringify(held)}`)
  }), { numRuns: NUM_RUNS * 2 })
  t.ok(outcomes.granted > 0 && outcomes.refused > 0, `both outcomes were exercised: ${JSON.stringify(outcomes)}`)

  // No header at all: anonymous, no scopes, even for object keys.
  for (const rule of rules) {
    t.equal((await get(http, rule.path, {}, { agent })).status, 403, `${rule.path} refuses the anonymous caller`)
  }
})

t.test('arbitrary request paths', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: basicAuth })
  app.get('/open', async () => 'open')
  app.get('/open/*', async () => 'open')
  app.get('/api/*', { config: { requires: 'authenticated' } }, async () => 'api')
  app.get('/app/*', { config: { requires: { scopes: 'authenticated', redirect: '/login' } } }, async () => 'app')
  app.get('/key/:id', { config: { requires: { scopes: 'authenticated', statusCode: 401 } } }, async () => 'key')
  const { http } = await listen(app, t)
  // A fresh connection per request: Node's own parser answers 400 to some paths and closes the connection.
  const agent = false

  // node:http sends any path of U+0021 to U+00FF; pieces make the odd ones likely.
  const piece = fc.oneof(
    fc.constantFrom('/', '//', '\\', '.', '..', '%', '%2F', '%2f', '%5C', '%00', '%0d%0a', '%09', '%25', '?', '#', ';', '@', ':', '*', '~', '%E2%80%AE', '\u00e9', '\u00ff'),
    fc.constantFrom('open', 'api', 'app', 'key', 'login', '__proto__', 'constructor', 'evil.example', 'http:'),
    fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 8 })
  )
  const path = fc.tuple(fc.constantFrom('/open', '/api/', '/app/', '/key/', '/', ''), fc.array(piece, { maxLength: 8 }))
    .map(([start, pieces]) => '/' + (start + pieces.join('')).replace(/^\/+/, ''))
  const statuses = new Map<number, number>()
  await fc.assert(fc.asyncProperty(path, fc.boolean(), async (path, signedIn) => {
    const answer = await get(http, path, signedIn ? { authorization: basic('ann') } : {}, { agent })
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
    assert.ok([200, 303, 400, 401, 403, 404].includes(answer.status), `${path} answered ${answer.status}`)
    if (signedIn) assert.ok(![401, 403, 303].includes(answer.status), `${path} refused a signed-in caller with ${answer.status}`)
    if (answer.status === 200) assert.ok(['open', 'api', 'app', 'key'].includes(answer.body), `${path} answered ${answer.body}`)
    if (!signedIn && answer.status === 200) assert.equal(answer.body, 'open', `${path} let an anonymous caller through`)
    if (answer.status === 303) {
      const next = new URL(String(answer.headers.location), http).searchParams.get('next')
      assert.ok(next !== null && new URL(next, http).origin === http, `${path} redirected to ${answer.headers.location}`)
    }
  }), { numRuns: NUM_RUNS * 2 })
  t.ok(statuses.has(200) && statuses.has(303) && statuses.has(404) && statuses.has(403), `varied answers: ${JSON.stringify([...statuses])}`)
  t.equal((await get(http, '/open', {}, { agent })).status, 200, 'the server still answers')
})
