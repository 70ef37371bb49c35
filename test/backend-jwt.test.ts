import { createHmac, createSecretKey, generateKeyPairSync } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import { register } from 'node:module'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import Fastify, { type FastifyRequest, type FastifyServerOptions } from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import authentication, { AuthCredentials, AuthenticationError, SimpleUser, type AuthenticationBackend } from '../lib/index'
import { bearer } from '../lib/backends/bearer'
import { JwtUser, jwt, type JwtAlgorithm, type JwtClaims, type JwtOptions } from '../lib/backends/jwt'
import { listen, logLines, refusalBody } from './helpers'

type Jose = typeof import('jose', { with: { 'resolution-mode': 'import' } })
type JWK = Awaited<ReturnType<Jose['exportJWK']>>
type SigningKey = Parameters<InstanceType<Jose['SignJWT']>['sign']>[0]

let jose: Jose
t.before(async () => { jose = await import('jose') })

const SECRET = 'a secret of at least thirty-two bytes, for HS256'
// The jwks option comes with issuer and audience: the key set's tokens carry them.
const ISSUER = 'https://issuer.example'
const AUDIENCE = 'api'
const ISSUED = { iss: ISSUER, aud: AUDIENCE }
const ISSUED_OPTIONS = { issuer: ISSUER, audience: AUDIENCE }
const secretBytes = new TextEncoder().encode(SECRET)
const INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"'
const now = (): number => Math.floor(Date.now() / 1000)

interface SignOptions { alg?: string, key?: SigningKey, header?: Record<string, unknown> }

/** A token that expires in an hour, unless the claims name their own `exp` (`exp: undefined` for none). */
function sign (claims: Record<string, unknown>, { alg = 'HS256', key = secretBytes, header = {} }: SignOptions = {}): Promise<string> {
  return new jose.SignJWT({ exp: now() + 3600, ...claims }).setProtectedHeader({ ...header, alg }).sign(key)
}

/** An HS256 token signed on the spot: jose signs asynchronously, too slowly for 10,000 tokens. */
function hs256Now (claims: Record<string, unknown>): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const signed = `${encode({ alg: 'HS256' })}.${encode(claims)}`
  return `${signed}.${createHmac('sha256', secretBytes).update(signed).digest('base64url')}`
}

/** An app with an open route that reports everything about the caller, and a route that needs `admin`. */
async function serve (t: Test, backend: AuthenticationBackend | AuthenticationBackend[], logger?: FastifyServerOptions['logger']) {
  const app = Fastify({ logger })
  await app.register(authentication, { backend })
  app.get('/', async (request) => {
    const { user, auth } = request
    return {
      identity: user.identity,
      displayName: user.displayName,
      isAuthenticated: user.isAuthenticated,
      scopes: auth.scopes,
      expiresAt: auth.expiresAt ?? null,
      claims: user instanceof JwtUser ? user.claims : null
    }
  })
  app.get('/admin', { config: { requires: 'admin' } }, async (request) => request.user.displayName)
  const { http } = await listen(app, t)
  return (authorization?: string, path = '/') => fetch(http + path, { headers: authorization === undefined ? {} : { authorization } })
}

/** What the open route reports. */
interface Caller {
  identity: string
  displayName: string
  isAuthenticated: boolean
  scopes: string[]
  expiresAt: number | null
  claims: JwtClaims | null
}

async function caller (response: Response | Promise<Response>): Promise<Caller> {
  return (await (await response).json()) as Caller
}

async function hs256 (t: Test, options: Partial<JwtOptions> = {}) {
  return serve(t, jwt({ secret: SECRET, algorithms: ['HS256'], realm: 'api', ...options } as JwtOptions))
}

async function invalid (t: Test, response: Response, challenge = INVALID_TOKEN) {
  t.equal(response.status, 401)
  // Each cause has its error_description and reason: test/reasons.test.ts pins them.
  t.match(response.headers.get('www-authenticate'), new RegExp(`^${challenge.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, error_description="[a-z ]+"$`))
  t.match(await response.json(), { statusCode: 401, code: /^FST_AUTHENTICATION_/, error: 'Unauthorized', reason: /^[a-z-]+$/ })
}

t.test('options are checked when jwt() is called, naming the option', async (t) => {
  const algorithms: JwtAlgorithm[] = ['HS256']
  const bad: Array<[unknown, RegExp]> = [
    [undefined, /^fastify-authentication\/jwt: options must be an object like \{ secret or jwks, algorithms \}$/],
    [{ secret: SECRET, algorithms, audiance: 'api' }, /^fastify-authentication\/jwt: unknown option "audiance"; the options are secret, jwks, algorithms, issuer, audience, clockTolerance, requireExpiration, realm, scopes, user and isRevoked$/],
    [{ algorithms }, /give exactly one of the secret and jwks options/],
    [{ secret: SECRET, jwks: 'https://issuer.example/jwks.json', algorithms }, /give exactly one of the secret and jwks options/],
    [{ secret: SECRET }, /the algorithms option is required: the algorithms to accept, like \['RS256'\] \(RFC 8725 §3\.1\)/],
    [{ secret: SECRET, algorithms: [] }, /the algorithms option is required/],
    [{ secret: SECRET, algorithms: 'HS256' }, /the algorithms option is required/],
    [{ secret: SECRET, algorithms: ['HS256', 'none'] }, /algorithms\[1\] is not a JWS algorithm jose verifies \(one of HS256, .*ML-DSA-87; never none\)/],
    [{ secret: SECRET, algorithms: ['RS265'] }, /algorithms\[0\] is not a JWS algorithm/],
    [{ secret: SECRET, algorithms: ['hs256'] }, /algorithms\[0\] is not a JWS algorithm/],
    [{ secret: SECRET, algorithms, issuer: '' }, /the issuer option must be a non-empty string, a non-empty array of them, or null/],
    [{ secret: SECRET, algorithms, issuer: [] }, /the issuer option/],
    [{ secret: SECRET, algorithms, audience: ['api', 7] }, /the audience option must be a non-empty string, a non-empty array of them, or null/],
    [{ jwks: 'https://issuer.example/jwks.json', algorithms: ['RS256'], audience: 'api' }, /^fastify-authentication\/jwt: with jwks, the issuer option is required: the iss of the tokens to accept, like 'https:\/\/issuer\.example' \(RFC 8725 §3\.8, RFC 9068 §4\); issuer: null accepts any issuer$/],
    [{ jwks: 'https://issuer.example/jwks.json', algorithms: ['RS256'], issuer: ISSUER }, /^fastify-authentication\/jwt: with jwks, the audience option is required: the aud this API answers to, like 'https:\/\/api\.example' \(RFC 8725 §3\.9, RFC 9068 §4\); audience: null accepts any audience$/],
    [{ secret: SECRET, algorithms, requireExpiration: 'yes' }, /the requireExpiration option must be true or false/],
    [{ secret: SECRET, algorithms, clockTolerance: -1 }, /the clockTolerance option must be a number of seconds, 0 or more/],
    [{ secret: SECRET, algorithms, clockTolerance: Infinity }, /the clockTolerance option/],
    [{ secret: SECRET, algorithms, clockTolerance: '30s' }, /the clockTolerance option/],
    [{ secret: SECRET, algorithms, scopes: ['read'] }, /the scopes option must be a function/],
    [{ secret: SECRET, algorithms, user: new SimpleUser('alice') }, /the user option must be a function/],
    [{ secret: SECRET, algorithms, isRevoked: false }, /the isRevoked option must be a function/],
    [{ secret: 42, algorithms }, /the secret option must be a string, a Uint8Array or a KeyObject/],
    [{ jwks: 'issuer.example/jwks.json', ...ISSUED_OPTIONS, algorithms: ['RS256'] }, /the jwks option must be the https: URL of a JSON Web Key Set \(http: only for localhost\)/],
    [{ jwks: new URL('https://issuer.example/jwks.json'), ...ISSUED_OPTIONS, algorithms: ['RS256'] }, /the jwks option must be/],
    [{ jwks: 'http://issuer.example/jwks.json', ...ISSUED_OPTIONS, algorithms: ['RS256'] }, /the jwks option must be/],
    [{ jwks: 'file:///etc/jwks.json', ...ISSUED_OPTIONS, algorithms: ['RS256'] }, /the jwks option must be/],
    [{ jwks: 'https://issuer.example/jwks.json', ...ISSUED_OPTIONS, algorithms: ['RS256', 'HS256'] }, /the algorithms option lists HS256, but a JSON Web Key Set holds public keys; an HMAC secret goes in the secret option/],
    [{ jwks: 'https://user:password@issuer.example/jwks.json', ...ISSUED_OPTIONS, algorithms: ['RS256'] }, /the jwks option must not carry a user name or password: fetch refuses them/],
    [{ secret: SECRET, algorithms, realm: '' }, /^fastify-authentication\/jwt: the realm option must be a non-empty string of printable ASCII/]
  ]
  for (const [options, message] of bad) t.throws(() => jwt(options as JwtOptions), message)
  for (const jwks of ['https://issuer.example/jwks.json', 'http://localhost:8080/jwks.json', 'http://127.0.0.1/jwks', 'http://[::1]:3000/jwks']) {
    t.doesNotThrow(() => jwt({ jwks, algorithms: ['RS256', 'ES256'], issuer: ISSUER, audience: 'api' }), jwks)
  }
  t.doesNotThrow(() => jwt({ jwks: 'https://issuer.example/jwks.json', algorithms: ['RS256'], issuer: null, audience: null }), 'null accepts any issuer or audience')
  t.doesNotThrow(() => jwt({ secret: new Uint8Array(64), algorithms: ['HS256', 'HS384', 'HS512'], issuer: ['a', 'b'], audience: 'api', clockTolerance: 0 }))
})

t.test('a secret shorter than RFC 7518 §3.2 asks for is a warning at registration, and still verifies', async (t) => {
  const shorts: Array<[JwtOptions, RegExp]> = [
    [{ secret: 'short secret', algorithms: ['HS256'], audience: null }, /shorter than the 32 bytes RFC 7518 §3\.2 requires for HS256/],
    [{ secret: new Uint8Array(48), algorithms: ['HS256', 'HS512'], audience: null }, /shorter than the 64 bytes RFC 7518 §3\.2 requires for HS512/],
    [{ secret: createSecretKey(new Uint8Array(47)), algorithms: ['HS384'], audience: null }, /shorter than the 48 bytes RFC 7518 §3\.2 requires for HS384/]
  ]
  for (const [options, warning] of shorts) {
    const logs = logLines()
    const app = Fastify({ logger: { level: 'warn', stream: logs.stream } })
    await app.register(authentication, { backend: jwt(options) })
    t.match(logs.messages(), [warning])
    t.notMatch(logs.lines.join('\n'), 'short secret', 'the secret is not in the warning')
    await app.close()
  }
  const logs = logLines()
  const app = Fastify({ logger: { level: 'warn', stream: logs.stream } })
  await app.register(authentication, { backend: jwt({ secret: SECRET, algorithms: ['HS256'], audience: null }) })
  t.same(logs.lines, [], 'a long enough secret: no warning')
  const short = new TextEncoder().encode('short secret')
  const send = await serve(t, jwt({ secret: 'short secret', algorithms: ['HS256'] }))
  const token = await new jose.SignJWT({ sub: 'u-1' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(short)
  t.equal((await send(`Bearer ${token}`)).status, 200)
})

t.test('a key that cannot verify a listed algorithm fails registration', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const cases: Array<[JwtOptions, RegExp]> = [
    [{ secret: rsa.publicKey, algorithms: ['RS256', 'ES256'] }, /^fastify-authentication\/jwt: the secret option cannot verify ES256 tokens \(/],
    [{ secret: rsa.publicKey, algorithms: ['HS256'] }, /the secret option cannot verify HS256 tokens/],
    [{ secret: rsa.privateKey, algorithms: ['RS256'] }, /the secret option cannot verify RS256 tokens \(.*public/],
    [{ secret: SECRET, algorithms: ['HS256', 'RS256'] }, /the secret option cannot verify RS256 tokens/],
    [{ secret: createSecretKey(secretBytes), algorithms: ['EdDSA'] }, /the secret option cannot verify EdDSA tokens/]
  ]
  for (const [options, message] of cases) {
    await t.rejects(async () => { await Fastify().register(authentication, { backend: jwt(options) }) }, message)
  }
})

t.test('a backend used without the plugin says it is not set up', async (t) => {
  const backend = jwt({ secret: SECRET, algorithms: ['HS256'] })
  const request = { headers: { authorization: `Bearer ${await sign({ sub: 'alice' })}` } } as FastifyRequest
  t.throws(() => backend.authenticate(request), /^fastify-authentication\/jwt: the backend is not set up: pass it to the plugin, whose registration loads jose$/)
})

t.test('an HS256 token: a JwtUser with the scopes of its scope claim, and authenticated', async (t) => {
  const send = await hs256(t)
  const exp = now() + 3600
  const claims = { sub: 'u-1', name: 'Alice', preferred_username: 'alice', scope: 'read write', exp }
  const response = await send(`Bearer ${await sign(claims)}`)
  t.equal(response.status, 200)
  t.same(await caller(response), {
    identity: 'u-1', displayName: 'Alice', isAuthenticated: true, scopes: ['read', 'write', 'authenticated'], expiresAt: exp * 1000, claims
  })
})

t.test('displayName is name, else preferred_username, else sub', async (t) => {
  const send = await hs256(t)
  const names: Array<[Record<string, unknown>, string]> = [
    [{ name: 'Alice', preferred_username: 'alice' }, 'Alice'],
    [{ name: '', preferred_username: 'alice' }, 'alice'],
    [{ name: 7, preferred_username: 'alice' }, 'alice'],
    [{ preferred_username: '' }, 'u-1'],
    [{ preferred_username: ['alice'] }, 'u-1'],
    [{}, 'u-1']
  ]
  for (const [claims, displayName] of names) {
    const body = await caller(send(`Bearer ${await sign({ sub: 'u-1', ...claims })}`))
    t.equal(body.displayName, displayName, JSON.stringify(claims))
    t.equal(body.identity, 'u-1')
  }
})

t.test('a JwtUser built by the app reads the claims it is given', async (t) => {
  const user = new JwtUser({ sub: 's', preferred_username: 'p' })
  t.equal(user.isAuthenticated, true)
  t.equal(user.identity, 's')
  t.equal(user.displayName, 'p')
  t.same(user.claims, { sub: 's', preferred_username: 'p' })
})

t.test('scopes come from scope (space-separated), else scp (a string or an array)', async (t) => {
  const send = await hs256(t)
  const cases: Array<[Record<string, unknown>, string[]]> = [
    [{}, []],
    [{ scope: '' }, []],
    [{ scope: ' read  write ' }, ['read', 'write']],
    [{ scp: ['read', 'write'] }, ['read', 'write']],
    [{ scp: 'read write' }, ['read', 'write']],
    [{ scp: [] }, []],
    [{ scope: 'read', scp: ['admin'] }, ['read']]
  ]
  for (const [claims, scopes] of cases) {
    const body = await caller(send(`Bearer ${await sign({ sub: 'u-1', ...claims })}`))
    t.same(body.scopes, [...scopes, 'authenticated'], JSON.stringify(claims))
  }
})

t.test('malformed scope claims refuse the token', async (t) => {
  const send = await hs256(t)
  for (const claims of [{ scope: ['read'] }, { scope: 7 }, { scope: null }, { scp: [1] }, { scp: [''] }, { scp: { read: true } }]) {
    await invalid(t, await send(`Bearer ${await sign({ sub: 'u-1', ...claims })}`))
  }
})

t.test('the claims are frozen, nested values too', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: jwt({ secret: SECRET, algorithms: ['HS256'] }) })
  app.get('/', async (request) => {
    const { claims } = request.user as JwtUser
    return [Object.isFrozen(claims), Object.isFrozen(claims.address), Object.isFrozen((claims.groups as string[][])[0])]
  })
  const { http } = await listen(app, t)
  const token = await sign({ sub: 'u-1', address: { city: 'Paris' }, groups: [['a']] })
  t.same(await (await fetch(http, { headers: { authorization: `Bearer ${token}` } })).json(), [true, true, true])
})

t.test('expiresAt is exp in milliseconds, and absent without exp when requireExpiration: false', async (t) => {
  const send = await hs256(t, { requireExpiration: false })
  const exp = now() + 60
  t.equal((await caller(send(`Bearer ${await sign({ sub: 'u-1', exp })}`))).expiresAt, exp * 1000)
  t.equal((await caller(send(`Bearer ${await sign({ sub: 'u-1', exp: undefined })}`))).expiresAt, null)
})

t.test('a token without exp is refused by default (RFC 9068 §2.2)', async (t) => {
  const send = await hs256(t)
  await invalid(t, await send(`Bearer ${await sign({ sub: 'u-1', exp: undefined })}`))
  t.equal((await send(`Bearer ${await sign({ sub: 'u-1', exp: now() + 60 })}`)).status, 200)
  const required = await hs256(t, { requireExpiration: true })
  await invalid(t, await required(`Bearer ${await sign({ sub: 'u-1', exp: undefined })}`))
})

t.test('with a secret, no audience option is a warning at registration; audience: null or an audience silences it', async (t) => {
  for (const [audience, warned] of [[undefined, true], [null, false], ['api', false]] as const) {
    const logs = logLines()
    const app = Fastify({ logger: { level: 'warn', stream: logs.stream } })
    await app.register(authentication, { backend: jwt({ secret: SECRET, algorithms: ['HS256'], ...(audience === undefined ? {} : { audience }) }) })
    t.same(logs.messages(), warned
      ? ['fastify-authentication/jwt: no audience option, so a token signed with the secret is accepted whatever its aud (RFC 8725 §3.9); give the audience option, or audience: null to accept any']
      : [], String(audience))
    t.equal(logs.entries()[0]?.level, warned ? 40 : undefined)
    await app.close()
  }
})

t.test('a token that does not verify: 401 invalid_token', async (t) => {
  const send = await hs256(t, { issuer: 'https://issuer.example', audience: 'api' })
  const good = { sub: 'u-1', iss: 'https://issuer.example', aud: 'api', exp: now() + 60 }
  t.equal((await send(`Bearer ${await sign(good)}`)).status, 200, 'the good token passes')
  const [header, payload] = (await sign(good)).split('.')
  const unsecured = `${jose.base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${payload}.`
  const failures: Array<[string, string]> = [
    ['a bad signature', await sign(good, { key: new TextEncoder().encode(SECRET.toUpperCase()) })],
    ['a payload swapped under a signature', `${header}.${jose.base64url.encode(JSON.stringify({ ...good, sub: 'root' }))}.${(await sign(good)).split('.')[2]}`],
    ['expired', await sign({ ...good, exp: now() - 10 })],
    ['not yet valid', await sign({ ...good, nbf: now() + 60 })],
    ['another issuer', await sign({ ...good, iss: 'https://evil.example' })],
    ['no issuer', await sign({ ...good, iss: undefined })],
    ['another audience', await sign({ ...good, aud: 'other' })],
    ['an algorithm not listed', await sign(good, { alg: 'HS512', key: new TextEncoder().encode(SECRET.repeat(2)) })],
    ['alg none', unsecured],
    ['alg none with a signature', unsecured + 'AAAA'],
    ['no sub', await sign({ ...good, sub: undefined })],
    ['an empty sub', await sign({ ...good, sub: '' })],
    ['not a JWT', 'opaque-token'],
    ['a JWT with a broken header', `e30.${payload}.AAAA`]
  ]
  for (const [name, token] of failures) {
    t.test(name, async (t) => invalid(t, await send(`Bearer ${token}`)))
  }
})

t.test('the bearer rules hold: no token is anonymous, a malformed one is 400, the challenge names the realm', async (t) => {
  const send = await hs256(t)
  t.equal((await caller(send())).isAuthenticated, false)
  t.equal((await caller(send('Basic YTpi'))).isAuthenticated, false)
  const anonymous = await send(undefined, '/admin')
  t.equal(anonymous.status, 401)
  t.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="api"')
  const malformed = await send('Bearer a.b c')
  t.equal(malformed.status, 400)
  t.equal(malformed.headers.get('www-authenticate'), 'Bearer realm="api", error="invalid_request", error_description="token malformed"')
  const lacking = await send(`bearer ${await sign({ sub: 'u-1', scope: 'read' })}`, '/admin')
  t.equal(lacking.status, 403)
  t.equal(lacking.headers.get('www-authenticate'), 'Bearer realm="api", error="insufficient_scope", scope="admin"')
  t.equal(await (await send(`BEARER ${await sign({ sub: 'u-1', scope: 'admin' })}`, '/admin')).text(), 'u-1')
})

t.test('clockTolerance, issuer and audience lists', async (t) => {
  const send = await hs256(t, { clockTolerance: 30, issuer: ['a', 'b'], audience: ['api', 'web'] })
  t.equal((await send(`Bearer ${await sign({ sub: 'u-1', exp: now() - 10, iss: 'b', aud: 'web' })}`)).status, 200)
  t.equal((await send(`Bearer ${await sign({ sub: 'u-1', nbf: now() + 10, iss: 'a', aud: ['x', 'api'] })}`)).status, 200)
  await invalid(t, await send(`Bearer ${await sign({ sub: 'u-1', exp: now() - 60, iss: 'a', aud: 'api' })}`))
})

t.test('a token accepted within clockTolerance expires at exp + clockTolerance', async (t) => {
  const send = await hs256(t, { clockTolerance: 30 })
  for (const exp of [now() - 10, now() + 60]) {
    t.equal((await caller(send(`Bearer ${await sign({ sub: 'u-1', exp })}`))).expiresAt, (exp + 30) * 1000)
  }
})

t.test('a KeyObject secret, and a public key for RS256, ES256 and EdDSA', async (t) => {
  const send = await serve(t, jwt({ secret: createSecretKey(secretBytes), algorithms: ['HS256'] }))
  t.equal((await caller(send(`Bearer ${await sign({ sub: 'hmac' })}`))).identity, 'hmac')
  for (const [alg, pair] of [
    ['RS256', generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ['ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' })],
    ['EdDSA', generateKeyPairSync('ed25519')]
  ] as const) {
    const send = await serve(t, jwt({ secret: pair.publicKey, algorithms: [alg] }))
    t.equal((await caller(send(`Bearer ${await sign({ sub: alg }, { alg, key: pair.privateKey })}`))).identity, alg)
    await invalid(t, await send(`Bearer ${await sign({ sub: alg })}`), 'Bearer error="invalid_token"')
  }
})

t.test('a secret listed for several HMAC algorithms verifies each token with the hash its header names', async (t) => {
  // Long enough for HS512 (RFC 7518 §3.2: 64 bytes). The secret is imported once per algorithm.
  const secret = new TextEncoder().encode(SECRET.repeat(2))
  const other = new TextEncoder().encode('another secret, long enough for every HMAC hash'.repeat(2))
  const send = await serve(t, jwt({ secret, algorithms: ['HS256', 'HS384', 'HS512'], realm: 'api' }))
  for (const alg of ['HS256', 'HS384', 'HS512']) {
    t.equal((await caller(send(`Bearer ${await sign({ sub: alg }, { alg, key: secret })}`))).identity, alg, `${alg} with the secret`)
    await invalid(t, await send(`Bearer ${await sign({ sub: alg }, { alg, key: other })}`))
  }
})

t.test('a secret given as bytes is copied: changing the buffer later changes nothing', async (t) => {
  const bytes = new Uint8Array(secretBytes)
  const send = await serve(t, jwt({ secret: bytes, algorithms: ['HS256'] }))
  bytes.fill(0)
  t.equal((await send(`Bearer ${await sign({ sub: 'u-1' })}`)).status, 200)
})

t.test('scopes and user callbacks, sync and async, decide the caller', async (t) => {
  for (const mode of ['sync', 'async']) {
    const wrap = <T>(value: T): T | Promise<T> => mode === 'sync' ? value : Promise.resolve(value)
    const send = await hs256(t, {
      scopes: (claims) => wrap(claims.admin === true ? ['admin'] : []),
      user: (claims) => wrap(claims.sub === 'nobody' ? null : new SimpleUser(`user ${claims.sub ?? 'without sub'}`))
    })
    const exp = now() + 60
    t.same(await caller(send(`Bearer ${await sign({ sub: 'a', admin: true, scope: 'read', exp })}`)),
      { identity: 'user a', displayName: 'user a', isAuthenticated: true, scopes: ['admin', 'authenticated'], expiresAt: exp * 1000, claims: null })
    t.equal(await (await send(`Bearer ${await sign({})}`, '/admin')).text(), refusalBody(403, 'Missing required scope', 'missing-scopes'))
    t.equal((await caller(send(`Bearer ${await sign({})}`))).identity, 'user without sub', 'with a user callback, sub is not required')
    await invalid(t, await send(`Bearer ${await sign({ sub: 'nobody' })}`))
  }
})

t.test('callbacks that fail or break their contract: 500', async (t) => {
  const token = await sign({ sub: 'u-1', exp: now() + 60 })
  const options: Array<Partial<JwtOptions>> = [
    { scopes: () => { throw new Error('no scopes') } },
    { scopes: () => 'read' as unknown as string[] },
    { user: async () => { throw new Error('database down') } },
    { isRevoked: () => 'no' as unknown as boolean },
    { isRevoked: async () => undefined as unknown as boolean }
  ]
  for (const option of options) {
    const send = await hs256(t, option)
    const response = await send(`Bearer ${token}`)
    t.equal(response.status, 500)
    t.notMatch(await response.text(), token)
  }
})

t.test('isRevoked runs on every request, cached token or not', async (t) => {
  for (const mode of ['sync', 'async']) {
    const revoked = new Set<unknown>()
    const seen: Array<[unknown, string]> = []
    const users: unknown[] = []
    const send = await hs256(t, {
      user: (claims) => { users.push(claims.jti); return new JwtUser(claims as JwtClaims & { sub: string }) },
      isRevoked: (claims, request) => {
        seen.push([claims.jti, request.url])
        return mode === 'sync' ? revoked.has(claims.jti) : Promise.resolve(revoked.has(claims.jti))
      }
    })
    const token = await sign({ sub: 'u-1', jti: 'first', exp: now() + 60 })
    t.equal((await send(`Bearer ${token}`)).status, 200)
    t.equal((await send(`Bearer ${token}`, '/?again')).status, 200)
    revoked.add('first')
    await invalid(t, await send(`Bearer ${token}`))
    t.same(seen, [['first', '/'], ['first', '/?again'], ['first', '/']])
    t.same(users, ['first'], 'verified once, checked for revocation three times')
  }
})

t.test('a verified token is not verified again until it expires', async (t) => {
  let verified = 0
  const send = await hs256(t, { requireExpiration: false, user: (claims) => { verified++; return new SimpleUser(String(claims.sub)) } })
  const token = await sign({ sub: 'u-1', exp: now() + 60 })
  for (let i = 0; i < 5; i++) t.equal((await send(`Bearer ${token}`)).status, 200)
  t.equal(verified, 1, 'five requests, one verification')
  await send(`Bearer ${await sign({ sub: 'u-2', exp: now() + 60 })}`)
  t.equal(verified, 2, 'another token is verified on its own')
  const forever = await sign({ sub: 'u-3', exp: undefined })
  await send(`Bearer ${forever}`)
  await send(`Bearer ${forever}`)
  t.equal(verified, 4, 'a token without exp is not cached')
})

t.test('a cached token is dropped at its exp', async (t) => {
  let verified = 0
  const send = await hs256(t, { user: (claims) => { verified++; return new SimpleUser(String(claims.sub)) } })
  const token = await sign({ sub: 'u-1', exp: now() + 60 })
  await send(`Bearer ${token}`)
  t.equal(verified, 1)
  // The cache reads Date.now; jose reads the real clock, so the token itself still verifies.
  const { now: realNow } = Date
  t.teardown(() => { Date.now = realNow })
  Date.now = () => realNow() + 61_000
  t.equal((await send(`Bearer ${token}`)).status, 200)
  t.equal(verified, 2, 'past exp, the cached entry is not used')
  await send(`Bearer ${token}`)
  t.equal(verified, 3, 'and a token past its exp is not cached again')
})

t.test('an expired token is refused, cached before or not', async (t) => {
  const send = await hs256(t)
  // exp is in whole seconds: the first second that starts at least 250 ms from now.
  const exp = Math.ceil((Date.now() + 250) / 1000)
  const token = await sign({ sub: 'u-1', exp })
  t.equal((await send(`Bearer ${token}`)).status, 200)
  await new Promise((resolve) => setTimeout(resolve, exp * 1000 + 10 - Date.now()))
  await invalid(t, await send(`Bearer ${token}`))
})

t.test('the cache holds 10,000 tokens and forgets the oldest first', async (t) => {
  const verified: string[] = []
  const backend = jwt({ secret: SECRET, algorithms: ['HS256'], user: (claims) => { verified.push(claims.jti as string); return new SimpleUser('u') } })
  await backend.setup?.(Fastify())
  const exp = now() + 600
  let admitted = 0
  const present = async (jti: string): Promise<void> => {
    const request = { headers: { authorization: `Bearer ${hs256Now({ jti, exp })}` } } as FastifyRequest
    if (await backend.authenticate(request) != null) admitted++
  }
  for (let i = 0; i <= 10_000; i++) await present(String(i))
  t.equal(admitted, 10_001)
  t.equal(verified.length, 10_001)
  await present('10000')
  await present('1')
  t.equal(verified.length, 10_001, 'the newest tokens are still cached')
  await present('0')
  t.equal(verified.at(-1), '0', 'the oldest was forgotten')
})

t.test('a wrong key is not cached: the same token with a good signature still gets in', async (t) => {
  const send = await hs256(t)
  const good = await sign({ sub: 'u-1', exp: now() + 60 })
  const [header, payload] = good.split('.')
  await invalid(t, await send(`Bearer ${header}.${payload}.${jose.base64url.encode(new Uint8Array(32))}`))
  t.equal((await send(`Bearer ${good}`)).status, 200)
})

/** A JSON Web Key Set on 127.0.0.1 that counts how often it is fetched; `status` and `body` can be changed. */
async function keySetServer (t: Test, keys: JWK[]) {
  const served = { fetches: 0, keys, status: 200, body: undefined as string | undefined }
  const server: Server = createServer((_request, response) => {
    served.fetches++
    response.writeHead(served.status, { 'content-type': 'application/json' })
    response.end(served.body ?? JSON.stringify({ keys: served.keys }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { served, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json` }
}

async function keyPair (alg: string, kid: string) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true })
  return { kid, privateKey, jwk: { ...await jose.exportJWK(publicKey), kid, alg } }
}

t.test('JWKS: RS256 and ES256 keys from the configured URL, fetched once for 1,000 verifications', async (t) => {
  const rsa = await keyPair('RS256', 'rsa-1')
  const ec = await keyPair('ES256', 'ec-1')
  const { served, url } = await keySetServer(t, [rsa.jwk, ec.jwk])
  const send = await serve(t, jwt({ jwks: url, ...ISSUED_OPTIONS, algorithms: ['RS256', 'ES256'], realm: 'api' }))
  t.equal(served.fetches, 0, 'nothing is fetched before a token needs it')
  const rs256 = await sign({ ...ISSUED, sub: 'rsa-user' }, { alg: 'RS256', key: rsa.privateKey, header: { kid: 'rsa-1' } })
  t.equal((await caller(send(`Bearer ${rs256}`))).identity, 'rsa-user')
  const tokens = await Promise.all(Array.from({ length: 1000 }, (_, i) =>
    sign({ ...ISSUED, sub: `user-${i}`, exp: now() + 600 }, { alg: 'ES256', key: ec.privateKey, header: { kid: 'ec-1' } })))
  for (let i = 0; i < tokens.length; i += 100) {
    const statuses = await Promise.all(tokens.slice(i, i + 100).map(async (token) => (await send(`Bearer ${token}`)).status))
    t.ok(statuses.every((status) => status === 200), `tokens ${i} to ${i + 99} verified`)
  }
  t.equal(served.fetches, 1, 'one fetch for all of them')
})

t.test('JWKS: 50 tokens with unknown kids cause no fetch storm; past the cooldown, one refetch finds a new key', async (t) => {
  const known = await keyPair('ES256', 'known')
  const rotated = await keyPair('ES256', 'rotated')
  const { served, url } = await keySetServer(t, [known.jwk])
  const send = await serve(t, jwt({ jwks: url, ...ISSUED_OPTIONS, algorithms: ['ES256'] }))
  t.equal((await send(`Bearer ${await sign({ ...ISSUED, sub: 'u' }, { alg: 'ES256', key: known.privateKey, header: { kid: 'known' } })}`)).status, 200)
  const strangers = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    sign({ ...ISSUED, sub: 'u' }, { alg: 'ES256', key: rotated.privateKey, header: { kid: `unknown-${i}` } })))
  const statuses = await Promise.all(strangers.map(async (token) => (await send(`Bearer ${token}`)).status))
  t.same(new Set(statuses), new Set([401]))
  t.equal(served.fetches, 1, 'within the cooldown, unknown kids fetch nothing')

  served.keys = [known.jwk, rotated.jwk]
  const { now: realNow } = Date
  t.teardown(() => { Date.now = realNow })
  Date.now = () => realNow() + 31_000
  const newcomers = await Promise.all(Array.from({ length: 50 }, () =>
    sign({ ...ISSUED, sub: 'u' }, { alg: 'ES256', key: rotated.privateKey, header: { kid: 'rotated' } })))
  const after = await Promise.all(newcomers.map(async (token) => (await send(`Bearer ${token}`)).status))
  t.same(new Set(after), new Set([200]))
  t.equal(served.fetches, 2, 'past the cooldown, 50 requests for a new kid share one refetch')
})

t.test('JWKS: keys are taken from the configured URL only, never from jku or x5u', async (t) => {
  const trusted = await keyPair('RS256', 'trusted')
  const attacker = await keyPair('RS256', 'trusted')
  const { served, url } = await keySetServer(t, [trusted.jwk])
  const evil = await keySetServer(t, [attacker.jwk])
  const send = await serve(t, jwt({ jwks: url, ...ISSUED_OPTIONS, algorithms: ['RS256'] }))
  const forged = await sign({ ...ISSUED, sub: 'root' }, { alg: 'RS256', key: attacker.privateKey, header: { kid: 'trusted', jku: evil.url, x5u: evil.url } })
  await invalid(t, await send(`Bearer ${forged}`), 'Bearer error="invalid_token"')
  t.equal(served.fetches, 1)
  t.equal(evil.served.fetches, 0, 'the URL the token names is never fetched')
})

t.test('JWKS: a token that matches no key, or several, is 401; an HS256 token is not tried against the set', async (t) => {
  const first = await keyPair('ES256', 'first')
  const second = await keyPair('ES256', 'second')
  const { served, url } = await keySetServer(t, [first.jwk, { ...second.jwk, kid: undefined }, { ...first.jwk, kid: undefined }])
  const send = await serve(t, jwt({ jwks: url, ...ISSUED_OPTIONS, algorithms: ['ES256'] }))
  await invalid(t, await send(`Bearer ${await sign({ ...ISSUED, sub: 'u' }, { alg: 'ES256', key: first.privateKey })}`), 'Bearer error="invalid_token"')
  await invalid(t, await send(`Bearer ${await sign({ ...ISSUED, sub: 'u' }, { alg: 'ES256', key: first.privateKey, header: { kid: 'other' } })}`), 'Bearer error="invalid_token"')
  t.equal(served.fetches, 1)
  await invalid(t, await send(`Bearer ${await sign({ ...ISSUED, sub: 'u' })}`), 'Bearer error="invalid_token"')
  t.equal((await send(`Bearer ${await sign({ ...ISSUED, sub: 'u' }, { alg: 'ES256', key: first.privateKey, header: { kid: 'first' } })}`)).status, 200)
})

t.test('JWKS: a key set that cannot be fetched or read is a 503, never a 401', async (t) => {
  const key = await keyPair('ES256', 'k')
  const token = await sign({ ...ISSUED, sub: 'u' }, { alg: 'ES256', key: key.privateKey, header: { kid: 'k' } })
  const unavailable = async (t: Test, url: string) => {
    const response = await (await serve(t, jwt({ jwks: url, ...ISSUED_OPTIONS, algorithms: ['ES256'] })))(`Bearer ${token}`)
    t.equal(response.status, 503)
    t.equal(response.headers.get('www-authenticate'), null)
    t.equal(await response.text(), refusalBody(503, 'Bearer tokens cannot be verified right now', 'unavailable'))
  }
  t.test('nothing listens', async (t) => {
    const { url, served } = await keySetServer(t, [])
    const closed = url.replace(/:\d+\//, ':1/')
    await unavailable(t, closed)
    t.equal(served.fetches, 0)
  })
  t.test('a 500', async (t) => {
    const { served, url } = await keySetServer(t, [key.jwk])
    served.status = 500
    await unavailable(t, url)
  })
  t.test('not JSON', async (t) => {
    const { served, url } = await keySetServer(t, [key.jwk])
    served.body = '<html>'
    await unavailable(t, url)
  })
  t.test('not a key set', async (t) => {
    const { served, url } = await keySetServer(t, [key.jwk])
    served.body = JSON.stringify({ keys: 'none' })
    await unavailable(t, url)
  })
  t.test('a key that is not a public key', async (t) => {
    const { served, url } = await keySetServer(t, [key.jwk])
    served.keys = [{ ...await jose.exportJWK(key.privateKey), kid: 'k', alg: 'ES256' }]
    await unavailable(t, url)
  })
  t.test('behind bearer({ tokens }): its 401 does not hide the 503', async (t) => {
    const { served, url } = await keySetServer(t, [key.jwk])
    served.status = 500
    const service = { auth: new AuthCredentials(['admin']), user: new SimpleUser('service') }
    const response = await (await serve(t, [bearer({ tokens: { 'opaque-token': service } }), jwt({ jwks: url, ...ISSUED_OPTIONS, algorithms: ['ES256'] })]))(`Bearer ${token}`)
    t.equal(response.status, 503)
    t.equal(await response.text(), refusalBody(503, 'Bearer tokens cannot be verified right now', 'unavailable'))
  })
})

t.test('JWKS: the 503 is built once per Retry-After value: requests during an outage capture no stack trace', async (t) => {
  const key = await keyPair('ES256', 'k')
  const { served, url } = await keySetServer(t, [key.jwk])
  served.status = 500
  const backend = jwt({ jwks: url, ...ISSUED_OPTIONS, algorithms: ['ES256'] })
  const refusals: unknown[] = []
  // The app's own wrapper, to see what the backend throws.
  const send = await serve(t, {
    ...backend,
    authenticate: async (request) => {
      try {
        return await backend.authenticate(request)
      } catch (error) {
        refusals.push(error)
        throw error
      }
    }
  })
  const token = await sign({ ...ISSUED, sub: 'u' }, { alg: 'ES256', key: key.privateKey, header: { kid: 'k' } })
  const clock = stoppedClock(t)
  for (let i = 0; i < 3; i++) t.equal((await send(`Bearer ${token}`)).headers.get('retry-after'), '1')
  clock.advance(1000)
  t.equal((await send(`Bearer ${token}`)).headers.get('retry-after'), '2', 'the second attempt failed: the next waits 2 s')
  t.equal(refusals.length, 4)
  t.ok(refusals[0] instanceof AuthenticationError)
  t.equal(refusals[1], refusals[0], 'the same error for the same Retry-After')
  t.equal(refusals[2], refusals[0])
  t.not(refusals[3], refusals[0], 'another for another Retry-After')
})

/** Date.now stopped now, moved only by `advance`. jose times its key set by it, the backoff too; jose checks exp with new Date(). */
function stoppedClock (t: Test) {
  const { now: realNow } = Date
  const start = realNow()
  let offset = 0
  Date.now = () => start + offset
  t.teardown(() => { Date.now = realNow })
  return { advance: (ms: number) => { offset += ms } }
}

t.test('JWKS: a cached token is refused once its key has left the key set, as a new token is', async (t) => {
  type Pair = Awaited<ReturnType<typeof keyPair>>
  const withKey = (pair: Pair, jti: string, kid = pair.kid) =>
    sign({ ...ISSUED, sub: 'u', jti }, { alg: 'ES256', key: pair.privateKey, header: { kid } })
  const setUp = async (t: Test) => {
    const leaving = await keyPair('ES256', 'leaving')
    const staying = await keyPair('ES256', 'staying')
    const { served, url } = await keySetServer(t, [leaving.jwk, staying.jwk])
    const verified: string[] = []
    const send = await serve(t, jwt({
      jwks: url, ...ISSUED_OPTIONS, algorithms: ['ES256'], user: (claims) => { verified.push(claims.jti as string); return new SimpleUser('u') }
    }))
    const cached = await withKey(leaving, 'cached')
    const kept = await withKey(staying, 'kept')
    for (const token of [cached, kept, cached, kept]) t.equal((await send(`Bearer ${token}`)).status, 200)
    t.same(verified, ['cached', 'kept'], 'both tokens are cached')
    served.keys = [staying.jwk]
    return { leaving, staying, served, verified, send, cached, kept }
  }

  t.test('jose refetches the set for an unknown kid', async (t) => {
    const { leaving, staying, served, verified, send, cached, kept } = await setUp(t)
    stoppedClock(t).advance(31_000)
    await invalid(t, await send(`Bearer ${await withKey(staying, 'stranger', 'unknown')}`), 'Bearer error="invalid_token"')
    t.equal(served.fetches, 2, 'past the cooldown, the unknown kid refetched the set')
    await invalid(t, await send(`Bearer ${cached}`), 'Bearer error="invalid_token"')
    await invalid(t, await send(`Bearer ${cached}`), 'Bearer error="invalid_token"')
    await invalid(t, await send(`Bearer ${await withKey(leaving, 'new')}`), 'Bearer error="invalid_token"')
    t.equal((await send(`Bearer ${kept}`)).status, 200, 'a token whose key stayed still gets in')
    t.equal((await send(`Bearer ${kept}`)).status, 200)
    t.same(verified, ['cached', 'kept', 'kept'], 'verified once more after the refetch, then cached again')
    t.equal(served.fetches, 2)
  })

  t.test('the set goes stale: the cached token\'s own request refetches it', async (t) => {
    const { served, send, cached, kept } = await setUp(t)
    stoppedClock(t).advance(601_000)
    await invalid(t, await send(`Bearer ${cached}`), 'Bearer error="invalid_token"')
    t.equal(served.fetches, 2)
    t.equal((await send(`Bearer ${kept}`)).status, 200)
  })
})

t.test('JWKS: while the key set cannot be fetched, it is fetched once per backoff step (1 s doubling to 60 s), and requests get 503 with Retry-After', async (t) => {
  const key = await keyPair('ES256', 'k')
  const { served, url } = await keySetServer(t, [key.jwk])
  served.status = 503
  const logs = logLines()
  const send = await serve(t, jwt({ jwks: url, ...ISSUED_OPTIONS, algorithms: ['ES256'] }), { level: 'info', stream: logs.stream })
  const token = await sign({ ...ISSUED, sub: 'u' }, { alg: 'ES256', key: key.privateKey, header: { kid: 'k' } })
  const clock = stoppedClock(t)
  const burst = async (count: number) => {
    const responses = await Promise.all(Array.from({ length: count }, () => send(`Bearer ${token}`)))
    const answers = await Promise.all(responses.map(async (response) => `${response.status} ${response.headers.get('retry-after')} ${await response.text()}`))
    return [...new Set(answers)]
  }
  const unavailable = (retryAfter: number) => [`503 ${retryAfter} ${refusalBody(503, 'Bearer tokens cannot be verified right now', 'unavailable')}`]

  t.same(await burst(100), unavailable(1), '100 requests at once')
  t.same(await burst(100), unavailable(1), '100 more')
  t.equal(served.fetches, 1, 'one fetch for all of them')
  const waits = [1, 2, 4, 8, 16, 32, 60, 60]
  for (let attempt = 1; attempt < waits.length; attempt++) {
    clock.advance(waits[attempt - 1] * 1000 - 1)
    t.same(await burst(5), unavailable(1), `a millisecond before attempt ${attempt + 1}`)
    t.equal(served.fetches, attempt, 'nothing fetched')
    clock.advance(1)
    t.same(await burst(20), unavailable(waits[attempt]), `attempt ${attempt + 1} fails: the next waits ${waits[attempt]} s`)
    t.equal(served.fetches, attempt + 1, 'one fetch')
  }

  served.status = 200
  clock.advance(60_000)
  t.same((await burst(20)).map((answer) => answer.slice(0, 8)), ['200 null'], 'the set is back: tokens get in, with no Retry-After')
  t.equal(served.fetches, waits.length + 1)

  const ours = logs.entries().filter((entry) => String(entry.msg).startsWith('fastify-authentication/jwt'))
  t.match(ours, [
    { level: 50, msg: `fastify-authentication/jwt: the JSON Web Key Set at ${url} cannot be fetched; tokens that need it get 503 until it can, and it is fetched again after 1 s, then less often (60 s at most)`, err: { message: 'the server answered 503' } },
    { level: 30, msg: `fastify-authentication/jwt: the JSON Web Key Set at ${url} is fetched again, after 8 failed attempts` }
  ])
  t.equal(ours.length, 2, 'the outage is logged once, and its end once')
})

t.test('JWKS: during an outage, a token the fresh set can verify still gets in; one that needs a fetch waits for the backoff', async (t) => {
  const known = await keyPair('ES256', 'known')
  const { served, url } = await keySetServer(t, [known.jwk])
  const send = await serve(t, jwt({ jwks: url, ...ISSUED_OPTIONS, algorithms: ['ES256'] }))
  const withKid = (kid: string) => sign({ ...ISSUED, sub: 'u' }, { alg: 'ES256', key: known.privateKey, header: { kid } })
  t.equal((await send(`Bearer ${await withKid('known')}`)).status, 200)
  served.status = 503
  stoppedClock(t).advance(31_000)
  for (const expected of [1, 2]) {
    const unknown = await send(`Bearer ${await withKid('unknown')}`)
    t.equal(unknown.status, 503, 'an unknown kid past the cooldown needs a fetch')
    t.equal(unknown.headers.get('retry-after'), '1')
    t.equal(served.fetches, 2, expected === 1 ? 'it fetched' : 'within the backoff, it fetched nothing')
    t.equal((await send(`Bearer ${await withKid('known')}`)).status, 200, 'a new token with a known kid needs no fetch')
  }
})

t.test('JWKS: a token for another issuer or audience, or without exp, is refused', async (t) => {
  const key = await keyPair('ES256', 'k')
  const { url } = await keySetServer(t, [key.jwk])
  const send = await serve(t, jwt({ jwks: url, ...ISSUED_OPTIONS, algorithms: ['ES256'] }))
  const signed = (claims: Record<string, unknown>) => sign({ ...ISSUED, sub: 'u', ...claims }, { alg: 'ES256', key: key.privateKey, header: { kid: 'k' } })
  t.equal((await send(`Bearer ${await signed({})}`)).status, 200)
  for (const claims of [{ iss: 'https://evil.example' }, { iss: undefined }, { aud: 'other' }, { aud: undefined }, { exp: undefined }]) {
    await invalid(t, await send(`Bearer ${await signed(claims)}`), 'Bearer error="invalid_token"')
  }
  const anyone = await serve(t, jwt({ jwks: url, issuer: null, audience: null, algorithms: ['ES256'] }))
  t.equal((await anyone(`Bearer ${await signed({ iss: 'https://elsewhere.example', aud: 'other' })}`)).status, 200, 'issuer: null and audience: null accept any')
})

t.test('a WebSocket opened with a token accepted within clockTolerance is closed when the tolerance ends, not before', async (t) => {
  const app = Fastify()
  await app.register(websocket)
  await app.register(authentication, { backend: jwt({ secret: SECRET, algorithms: ['HS256'], audience: null, clockTolerance: 13 }) })
  app.get('/ws', { websocket: true, config: { requires: 'authenticated' } }, (socket) => {
    socket.on('message', (data) => socket.send(`echo ${String(data)}`))
  })
  const { ws } = await listen(app, t)
  const exp = now() - 10
  const socket = new WebSocket(ws + '/ws', { headers: { authorization: `Bearer ${await sign({ sub: 'u-1', exp })}` } })
  const closed = once(socket, 'close') as Promise<[number, Buffer]>
  await once(socket, 'open')
  socket.send('hello')
  const first = await Promise.race([once(socket, 'message').then(([data]) => String(data)), closed.then(() => 'closed')])
  t.equal(first, 'echo hello', 'past exp, within the tolerance: the socket is open and the handler answers')
  const [code] = await closed
  t.equal(code, 1008)
  t.ok(Date.now() >= (exp + 13) * 1000 - 50, 'closed at exp + clockTolerance')
})

t.test('opaque tokens and JWTs side by side: backend: [bearer({ tokens }), jwt({ … })]', async (t) => {
  const service = { auth: new AuthCredentials(['admin']), user: new SimpleUser('service') }
  const send = await serve(t, [bearer({ tokens: { 'opaque-token': service }, realm: 'api' }), jwt({ secret: SECRET, algorithms: ['HS256'], realm: 'api' })])
  const opaque = await send('Bearer opaque-token', '/admin')
  t.equal(await opaque.text(), 'service', 'an opaque token is bearer\'s')
  const body = await caller(send(`Bearer ${await sign({ sub: 'u-1', name: 'Alice', scope: 'read' })}`))
  t.same([body.identity, body.displayName, body.scopes], ['u-1', 'Alice', ['read', 'authenticated']], 'a JWT falls through bearer\'s invalid_token to jwt')
  const lacking = await send(`Bearer ${await sign({ sub: 'u-1', scope: 'read' })}`, '/admin')
  t.equal(lacking.status, 403)
  t.equal(lacking.headers.get('www-authenticate'), 'Bearer realm="api", error="insufficient_scope", scope="admin"')
  await invalid(t, await send('Bearer wrong-token'))
  await invalid(t, await send(`Bearer ${await sign({ sub: 'u-1' }, { key: new TextEncoder().encode(SECRET.toUpperCase()) })}`))
  const anonymous = await send(undefined, '/admin')
  t.equal(anonymous.status, 401)
  t.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="api"', 'one challenge: both backends ask for the same')
})

t.test('no token reaches the logs, nor the secret', async (t) => {
  const lines = logLines()
  const app = Fastify({ logger: { level: 'trace', stream: lines.stream } })
  await app.register(authentication, { backend: jwt({ secret: SECRET, algorithms: ['HS256'], isRevoked: (claims) => claims.sub === 'revoked' }) })
  app.get('/', async (request) => request.user.displayName)
  const { http } = await listen(app, t)
  const tokens = [
    await sign({ sub: 'u-1' }), await sign({ sub: 'revoked' }), await sign({ sub: 'u-1', exp: now() - 60 }),
    await sign({ sub: 'u-1' }, { key: new TextEncoder().encode(SECRET.toUpperCase()) })
  ]
  for (const token of tokens) await (await fetch(http, { headers: { authorization: `Bearer ${token}` } })).text()
  t.ok(lines.lines.length > 0)
  for (const secret of [...tokens.map((token) => token.split('.')[2]), SECRET]) {
    t.notOk(lines.lines.some((line) => line.includes(secret)))
  }
})

t.test('without jose, registration fails saying how to install it', async (t) => {
  // A resolve hook that hides jose while the flag is set: shared memory, so it is seen at once.
  const hidden = new Int32Array(new SharedArrayBuffer(4))
  register('data:text/javascript,' + encodeURIComponent(`
    let hidden
    export function initialize (data) { hidden = data.hidden }
    export async function resolve (specifier, context, next) {
      if (specifier === 'jose' && Atomics.load(hidden, 0) === 1) {
        throw Object.assign(new Error("Cannot find package 'jose'"), { code: 'ERR_MODULE_NOT_FOUND' })
      }
      return next(specifier, context)
    }`), { data: { hidden } })
  Atomics.store(hidden, 0, 1)
  t.teardown(() => { Atomics.store(hidden, 0, 0) })
  const registration = async () => { await Fastify().register(authentication, { backend: jwt({ secret: SECRET, algorithms: ['HS256'] }) }) }
  await t.rejects(registration, { message: 'fastify-authentication/jwt needs jose: npm install jose', cause: { code: 'ERR_MODULE_NOT_FOUND' } })
})
