import t, { type Test } from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import authentication, { AuthCredentials, AuthenticationError, SimpleUser, type AuthenticationBackend } from '../lib/index'
import type { AuthenticationResult, BackendAnswer } from '../lib/backends/contract'
import * as credentials from '../lib/model/credentials'
import * as errors from '../lib/model/errors'
import { bearer, type BearerOptions } from '../lib/backends/bearer'
import { basic as basicBackend } from '../lib/backends/basic'
import { basic, listen, logLines, refusalBody } from './helpers'

const alice: AuthenticationResult = { auth: new AuthCredentials(['read']), user: new SimpleUser('alice') }
const bob: AuthenticationResult = { auth: new AuthCredentials(['a', 'b']), user: new SimpleUser('bob') }
// Every character b64token allows (RFC 6750 §2.1), padding included.
const ALICE = 'Az09-._~+/alice=='
const BOB = 'bob-token'

/** An app with an open route that reports the caller, a route that needs `authenticated` and one that needs `a` and `b`. */
async function serve (t: Test, backend: AuthenticationBackend | AuthenticationBackend[]) {
  const app = Fastify()
  await app.register(authentication, { backend })
  app.get('/', async (request) => ({ user: request.user.displayName, scopes: request.auth.scopes }))
  app.get('/me', { config: { requires: 'authenticated' } }, async (request) => request.user.displayName)
  app.get('/ab', { config: { requires: ['a', 'b'] } }, async (request) => request.user.displayName)
  const { http } = await listen(app, t)
  return (authorization?: string, path = '/') => fetch(http + path, { headers: authorization === undefined ? {} : { authorization } })
}

async function answered (t: Test, response: Response, status: number, challenge: string | null, body: string) {
  t.equal(response.status, status)
  t.equal(response.headers.get('www-authenticate'), challenge)
  t.equal(await response.text(), body)
}

const anonymous = JSON.stringify({ user: '', scopes: [] })

t.test('options are checked when bearer() is called, naming the option', async (t) => {
  const verify = () => null
  const bad: Array<[unknown, RegExp]> = [
    [undefined, /^fastify-authentication\/bearer: options must be an object like \{ verify \} or \{ tokens \}, with an optional realm$/],
    [{}, /give exactly one of the verify and tokens options/],
    [{ verify, tokens: { [ALICE]: alice } }, /give exactly one of the verify and tokens options/],
    [{ verify: ALICE }, /the verify option must be a function \(token, request\)/],
    [{ tokens: [[ALICE, alice]] }, /the tokens option must be a non-empty Map or object from token to \{ auth, user \}/],
    [{ tokens: ALICE }, /the tokens option must be/],
    [{ tokens: new Map() }, /the tokens option must be a non-empty Map/],
    [{ tokens: {} }, /the tokens option must be a non-empty Map/],
    [{ tokens: new (class Tokens { [ALICE] = alice })() }, /the tokens option must be/],
    [{ tokens: new Map([[1, alice]]) }, /every key of the tokens option must be a token of RFC 6750 b64token syntax/],
    [{ tokens: { 'two words': alice } }, /every key of the tokens option must be a token/],
    [{ tokens: { '=pad-first': alice } }, /every key of the tokens option must be a token/],
    [{ tokens: { [ALICE]: null } }, /every value of the tokens option must be \{ auth: AuthCredentials, user: BaseUser \}/],
    [{ tokens: { [ALICE]: { auth: ['read'], user: alice.user } } }, /every value of the tokens option must be/],
    [{ tokens: { [ALICE]: { auth: alice.auth } } }, /every value of the tokens option must be/],
    [{ verify, realm: '' }, /^fastify-authentication\/bearer: the realm option must be a non-empty string of printable ASCII$/],
    [{ verify, realm: 'caf\u00e9' }, /the realm option/],
    [{ verify, realm: 42 }, /the realm option/]
  ]
  for (const [options, message] of bad) t.throws(() => bearer(options as BearerOptions), message)
  // A token passed where an option name goes must not end up in the message.
  const unknown = t.throws(() => bearer({ verify, [ALICE]: alice } as BearerOptions),
    /unknown option \(not named here: it could be a credential\); the options are verify, tokens and realm/) as Error
  t.notMatch(unknown.message, ALICE)
  const malformed = t.throws(() => bearer({ tokens: { 'not a token': alice } })) as Error
  t.notMatch(malformed.message, 'not a token')
  t.doesNotThrow(() => bearer({ verify, realm: 'say "hi"' }))
})

for (const [kind, tokens] of [['Map', new Map([[ALICE, alice], [BOB, bob]])], ['object', { [ALICE]: alice, [BOB]: bob }]] as const) {
  t.test(`static tokens in a ${kind}`, async (t) => {
    const send = await serve(t, bearer({ tokens, realm: 'api' }))

    t.test('no Authorization header, or another scheme: anonymous', async (t) => {
      // Shorter than the scheme, as long with another name, longer, and the usual others.
      for (const authorization of [undefined, 'Bear', 'Digest ' + ALICE, 'Bearerish ' + ALICE, 'Token ' + ALICE, basic('alice')]) {
        await answered(t, await send(authorization), 200, null, anonymous)
      }
    })

    t.test('a guarded route answers an anonymous caller with 401 and the challenge', async (t) => {
      await answered(t, await send(undefined, '/me'), 401, 'Bearer realm="api"',
        refusalBody(401, 'Authentication required', 'missing-credentials'))
    })

    t.test('a known token, whatever the case of the scheme: its caller, with authenticated', async (t) => {
      for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
        await answered(t, await send(`${scheme} ${ALICE}`), 200, null, JSON.stringify({ user: 'alice', scopes: ['read', 'authenticated'] }))
      }
      // RFC 9110 §11.4: one or more spaces after the scheme.
      await answered(t, await send(`Bearer   ${ALICE}`, '/me'), 200, null, 'alice')
    })

    t.test('Bearer and no token: 400 invalid_request', async (t) => {
      await answered(t, await send('Bearer'), 400, 'Bearer realm="api", error="invalid_request", error_description="token missing"', refusalBody(400, 'Missing bearer token', 'malformed-credentials'))
      await answered(t, await send('bearer    '), 400, 'Bearer realm="api", error="invalid_request", error_description="token missing"', refusalBody(400, 'Missing bearer token', 'malformed-credentials'))
    })

    t.test('a token that is not b64token syntax: 400 invalid_request', async (t) => {
      for (const token of [`${ALICE} extra`, 'to=ken', 'tok,en', 'tok"en', 'tok\ten', '=', 'tok\u00e9n', `${ALICE}!`]) {
        await answered(t, await send(`Bearer ${token}`), 400, 'Bearer realm="api", error="invalid_request", error_description="token malformed"', refusalBody(400, 'Malformed bearer token', 'malformed-credentials'))
      }
    })

    t.test('an unknown token: 401 invalid_token, whatever it shares with a known one', async (t) => {
      const lookalikes = [
        'unknown', ALICE.slice(0, -1), ALICE + '=', 'x' + ALICE, ALICE.toLowerCase(), BOB.toUpperCase(), BOB + '=',
        'constructor', '__proto__', 'toString', 'hasOwnProperty'
      ]
      for (const token of lookalikes) {
        await answered(t, await send(`Bearer ${token}`), 401, 'Bearer realm="api", error="invalid_token", error_description="token unknown"', refusalBody(401, 'Invalid bearer token', 'unknown-token'))
      }
    })

    t.test('a caller lacking scopes: 403 insufficient_scope naming the scopes', async (t) => {
      await answered(t, await send(`Bearer ${ALICE}`, '/ab'), 403, 'Bearer realm="api", error="insufficient_scope", scope="a b"',
        refusalBody(403, 'Missing required scope', 'missing-scopes'))
      await answered(t, await send(`Bearer ${BOB}`, '/ab'), 200, null, 'bob')
    })
  })
}

t.test('static tokens are looked up by their SHA-256 digest, never compared as strings', async (t) => {
  const digested: string[] = []
  const crypto = await import('node:crypto')
  const { bearer: spied } = t.mockRequire<typeof import('../lib/backends/bearer')>('../lib/backends/bearer', {
    'node:crypto': { ...crypto, hash: (algorithm: string, data: string) => { digested.push(`${algorithm}:${data}`); return crypto.hash(algorithm, data) } },
    // The app's own AuthCredentials and AuthenticationError, not fresh copies.
    '../lib/model/credentials': credentials,
    '../lib/model/errors': errors
  })
  const send = await serve(t, spied({ tokens: { [ALICE]: alice } }))
  t.same(digested, [`sha256:${ALICE}`], 'the stored tokens are digested at startup')
  t.equal((await send(`Bearer ${ALICE}`)).status, 200)
  t.equal((await send(`Bearer ${ALICE.slice(0, 4)}`)).status, 401)
  t.same(digested, [`sha256:${ALICE}`, `sha256:${ALICE}`, `sha256:${ALICE.slice(0, 4)}`], 'each presented token is digested to be looked up')
})

t.test('a result that holds authenticated already keeps its scopes as they are', async (t) => {
  const member = { auth: new AuthCredentials(['authenticated', 'read']), user: new SimpleUser('member') }
  const send = await serve(t, bearer({ tokens: { member } }))
  await answered(t, await send('Bearer member'), 200, null, JSON.stringify({ user: 'member', scopes: ['authenticated', 'read'] }))
})

t.test('without a realm the challenges carry none', async (t) => {
  const send = await serve(t, bearer({ tokens: { [ALICE]: alice } }))
  await answered(t, await send(undefined, '/me'), 401, 'Bearer', refusalBody(401, 'Authentication required', 'missing-credentials'))
  await answered(t, await send('Bearer'), 400, 'Bearer error="invalid_request", error_description="token missing"', refusalBody(400, 'Missing bearer token', 'malformed-credentials'))
  await answered(t, await send('Bearer nope'), 401, 'Bearer error="invalid_token", error_description="token unknown"', refusalBody(401, 'Invalid bearer token', 'unknown-token'))
  t.equal((await send(`Bearer ${ALICE}`, '/ab')).headers.get('www-authenticate'), 'Bearer error="insufficient_scope", scope="a b"')
})

t.test('a scope outside RFC 6750 scope-token syntax is left out of insufficient_scope, not sent broken', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: bearer({ tokens: { [ALICE]: alice }, realm: 'api' }) })
  app.get('/odd', { config: { requires: ['a', 'naïve scope'] } }, async () => 'handler')
  const { http } = await listen(app, t)
  const response = await fetch(http + '/odd', { headers: { authorization: `Bearer ${ALICE}` } })
  t.equal(response.status, 403)
  t.equal(response.headers.get('www-authenticate'), 'Bearer realm="api", error="insufficient_scope"')
})

t.test('a realm with quotes and backslashes is escaped in every challenge', async (t) => {
  const send = await serve(t, bearer({ tokens: { [ALICE]: alice }, realm: 'the "api" \\ v2' }))
  t.equal((await send(undefined, '/me')).headers.get('www-authenticate'), 'Bearer realm="the \\"api\\" \\\\ v2"')
  t.equal((await send('Bearer nope')).headers.get('www-authenticate'), 'Bearer realm="the \\"api\\" \\\\ v2", error="invalid_token", error_description="token unknown"')
})

for (const mode of ['sync', 'async'] as const) {
  t.test(`verify, ${mode}`, async (t) => {
    const calls: Array<[string, string]> = []
    const verify = (token: string, request: FastifyRequest): BackendAnswer | Promise<BackendAnswer> => {
      calls.push([token, request.url])
      const answer = token === ALICE ? alice : token === BOB ? bob : null
      return mode === 'sync' ? answer : Promise.resolve(answer)
    }
    const send = await serve(t, bearer({ verify, realm: 'api' }))
    await answered(t, await send(`Bearer ${ALICE}`), 200, null, JSON.stringify({ user: 'alice', scopes: ['read', 'authenticated'] }))
    await answered(t, await send(`Bearer ${BOB}`, '/ab'), 200, null, 'bob')
    await answered(t, await send('Bearer nope'), 401, 'Bearer realm="api", error="invalid_token", error_description="token unknown"', refusalBody(401, 'Invalid bearer token', 'unknown-token'))
    await answered(t, await send(`Bearer ${ALICE}`, '/ab'), 403, 'Bearer realm="api", error="insufficient_scope", scope="a b"',
      refusalBody(403, 'Missing required scope', 'missing-scopes'))
    // Neither anonymous callers nor malformed tokens reach verify.
    await answered(t, await send(), 200, null, anonymous)
    await answered(t, await send('Bearer a b'), 400, 'Bearer realm="api", error="invalid_request", error_description="token malformed"', refusalBody(400, 'Malformed bearer token', 'malformed-credentials'))
    t.same(calls, [[ALICE, '/'], [BOB, '/ab'], ['nope', '/'], [ALICE, '/ab']])
  })
}

t.test('undefined from verify is an unknown token too', async (t) => {
  const send = await serve(t, bearer({ verify: async () => undefined }))
  await answered(t, await send('Bearer who'), 401, 'Bearer error="invalid_token", error_description="token unknown"', refusalBody(401, 'Invalid bearer token', 'unknown-token'))
})

t.test('an AuthenticationError from verify is answered as it says', async (t) => {
  const send = await serve(t, bearer({
    verify: () => { throw new AuthenticationError('Token suspended', { statusCode: 401, challenge: 'Bearer error="invalid_token", error_description="suspended"' }) }
  }))
  await answered(t, await send('Bearer suspended'), 401, 'Bearer error="invalid_token", error_description="suspended"', refusalBody(401, 'Token suspended', 'unknown-token'))
})

t.test('verify that fails or breaks its contract: 500, whose message names no token', async (t) => {
  const verifiers = [
    () => { throw new Error('database down') },
    async () => { throw new Error('database down') },
    () => ({ auth: ['read'], user: alice.user }) as unknown as AuthenticationResult,
    async () => ({ auth: alice.auth, user: { name: 'alice' } }) as unknown as AuthenticationResult,
    () => 'alice' as unknown as AuthenticationResult
  ]
  for (const verify of verifiers) {
    const send = await serve(t, bearer({ verify }))
    const response = await send(`Bearer ${ALICE}`)
    t.equal(response.status, 500)
    t.notMatch(await response.text(), ALICE)
  }
})

t.test('next to another backend: no bearer token lets the next one have its say', async (t) => {
  // The basic backend reads Basic credentials only: Starlette's test backend would reject the bearer token.
  const anyPassword = basicBackend({ verify: (username) => ({ auth: new AuthCredentials(['authenticated']), user: new SimpleUser(username) }) })
  const send = await serve(t, [bearer({ tokens: { [ALICE]: alice }, realm: 'api' }), anyPassword])
  await answered(t, await send(basic('carol')), 200, null, JSON.stringify({ user: 'carol', scopes: ['authenticated'] }))
  await answered(t, await send(`Bearer ${ALICE}`), 200, null, JSON.stringify({ user: 'alice', scopes: ['read', 'authenticated'] }))
  await answered(t, await send(), 200, null, anonymous)
})

t.test('no token reaches the logs', async (t) => {
  const lines = logLines()
  const app = Fastify({ logger: { level: 'trace', stream: lines.stream } })
  await app.register(authentication, { backend: bearer({ tokens: { [ALICE]: alice } }) })
  app.get('/', async (request) => request.user.displayName)
  const { http } = await listen(app, t)
  for (const token of [ALICE, 'unknown-secret-token', 'malformed secret token', '']) {
    await (await fetch(http, { headers: { authorization: `Bearer ${token}` } })).text()
  }
  t.ok(lines.lines.length > 0)
  for (const secret of [ALICE, 'unknown-secret-token', 'malformed secret']) {
    t.notOk(lines.lines.some((line) => line.includes(secret)), `${secret} is not logged`)
  }
})
