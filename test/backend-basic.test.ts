import t, { type Test } from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import authentication, { AuthCredentials, AuthenticationError, SimpleUser } from '../lib/index'
import type { BackendAnswer } from '../lib/backends/contract'
import { basic, safeEqual, type BasicOptions } from '../lib/backends/basic'
import { basic as basicHeader, listen, logLines, refusalBody } from './helpers'

const challenge = 'Basic realm="api", charset="UTF-8"'

const accounts = new Map([
  ['alice', { password: 'wonderland', scopes: ['read'] }],
  ['José', { password: 'pässwörd', scopes: [] }],
  ['colons', { password: 'a:b::c:', scopes: ['read', 'write'] }],
  ['', { password: 'no name', scopes: [] }]
])

function lookUp (username: string, password: string): BackendAnswer {
  const account = accounts.get(username)
  if (account === undefined || !safeEqual(password, account.password)) return null
  return { auth: new AuthCredentials(account.scopes), user: new SimpleUser(username) }
}

/** An app with an open route that reports the caller and a guarded one; `calls` records what verify was given. */
async function serve (t: Test, options: Partial<BasicOptions> & { async?: boolean } = {}) {
  const calls: Array<[string, string]> = []
  const { async = false, ...rest } = options
  const verify = (username: string, password: string): BackendAnswer | Promise<BackendAnswer> => {
    calls.push([username, password])
    return async ? Promise.resolve(lookUp(username, password)) : lookUp(username, password)
  }
  const app = Fastify()
  await app.register(authentication, { backend: basic({ verify, ...rest }) })
  app.get('/', async (request) => ({ user: request.user.displayName, scopes: request.auth.scopes }))
  app.get('/guarded', { config: { requires: 'authenticated' } }, async (request) => request.user.displayName)
  const { http } = await listen(app, t)
  const send = (authorization?: string, path = '/') =>
    fetch(http + path, { headers: authorization === undefined ? {} : { authorization } })
  return { send, calls }
}

/** `Basic <base64 of bytes>`, for user-pass strings that are not valid UTF-8 or not meant to be. */
function raw (bytes: Buffer | string): string {
  return 'Basic ' + Buffer.from(bytes).toString('base64')
}

async function refused (t: Test, response: Response, message: string, expected = challenge) {
  t.equal(response.status, 401)
  t.equal(response.headers.get('www-authenticate'), expected)
  t.equal(await response.text(), refusalBody(401, message, message.startsWith('Malformed') ? 'malformed-credentials' : 'wrong-password'))
}

t.test('options are checked when basic() is called, naming the option', async (t) => {
  const verify = () => null
  const bad: Array<[unknown, RegExp]> = [
    [undefined, /^fastify-authentication\/basic: options must be an object like \{ verify, realm \}$/],
    [verify, /options must be an object/],
    [{}, /the verify option must be a function \(username, password, request\)/],
    [{ verify: 'alice:wonderland' }, /the verify option must be a function/],
    [{ verify, realm: '' }, /the realm option must be a non-empty string of printable ASCII/],
    [{ verify, realm: 42 }, /the realm option/],
    [{ verify, realm: 'café' }, /the realm option/],
    [{ verify, realm: 'api\r\nX-Evil: 1' }, /the realm option/],
    [{ verify, realm: ' api' }, /the realm option/],
    [{ verify, Realm: 'api' }, /unknown option "Realm"; the options are verify and realm/]
  ]
  for (const [options, message] of bad) {
    t.throws(() => basic(options as BasicOptions), message, JSON.stringify(options) ?? String(options))
  }
})

t.test('the challenge names the realm, "api" by default, and charset="UTF-8"', async (t) => {
  const verify = () => null
  t.equal(basic({ verify }).challenge, challenge)
  t.equal(basic({ verify, realm: 'Staff "only" \\ area' }).challenge, 'Basic realm="Staff \\"only\\" \\\\ area", charset="UTF-8"')
})

for (const async of [false, true]) {
  const kind = async ? 'async' : 'sync'

  t.test(`${kind} verify: a known caller gets its scopes plus authenticated`, async (t) => {
    const { send, calls } = await serve(t, { async })
    const response = await send(basicHeader('alice', 'wonderland'))
    t.equal(response.status, 200)
    t.same(await response.json(), { user: 'alice', scopes: ['read', 'authenticated'] })
    t.same(calls, [['alice', 'wonderland']])
    t.equal(await (await send(basicHeader('alice', 'wonderland'), '/guarded')).text(), 'alice')
  })

  t.test(`${kind} verify: unknown credentials get 401 with the challenge, so that a browser prompts again`, async (t) => {
    const { send, calls } = await serve(t, { async })
    await refused(t, await send(basicHeader('alice', 'looking-glass')), 'Invalid username or password')
    await refused(t, await send(basicHeader('bob', 'wonderland')), 'Invalid username or password')
    await refused(t, await send(basicHeader('alice', 'wonderland '), '/guarded'), 'Invalid username or password')
    t.same(calls, [['alice', 'looking-glass'], ['bob', 'wonderland'], ['alice', 'wonderland ']])
  })
}

t.test('verify may answer undefined for an unknown caller', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: basic({ verify: () => undefined }) })
  app.get('/', async () => 'handler')
  const { http } = await listen(app, t)
  await refused(t, await fetch(http + '/', { headers: { authorization: basicHeader('alice', 'wonderland') } }), 'Invalid username or password')
})

t.test('user-id and password are decoded as UTF-8, and the password may hold colons (RFC 7617 §2)', async (t) => {
  const { send, calls } = await serve(t)
  t.same(await (await send(basicHeader('José', 'pässwörd'))).json(), { user: 'José', scopes: ['authenticated'] })
  t.same(await (await send(basicHeader('colons', 'a:b::c:'))).json(), { user: 'colons', scopes: ['read', 'write', 'authenticated'] })
  t.same(await (await send(basicHeader('', 'no name'))).json(), { user: '', scopes: ['authenticated'] }, 'an empty user-id is a user-id')
  await refused(t, await send(basicHeader('\ufeffalice', 'wonderland')), 'Invalid username or password')
  t.same(calls, [['José', 'pässwörd'], ['colons', 'a:b::c:'], ['', 'no name'], ['\ufeffalice', 'wonderland']], 'a leading BOM is kept, not stripped')
  // Decoded as Latin-1 instead, the same bytes would spell JosÃ©.
  t.not(Buffer.from('José').toString('latin1'), 'José')
})

t.test('the scheme is case-insensitive, and any run of spaces may follow it', async (t) => {
  const { send } = await serve(t)
  const token = basicHeader('alice', 'wonderland').slice('Basic '.length)
  for (const scheme of ['basic', 'BASIC', 'bAsIc']) {
    t.same(await (await send(`${scheme} ${token}`)).json(), { user: 'alice', scopes: ['read', 'authenticated'] }, scheme)
  }
  t.same(await (await send(`Basic   ${token}`)).json(), { user: 'alice', scopes: ['read', 'authenticated'] })
})

t.test('no Authorization header, or another scheme, is anonymous: open routes serve it', async (t) => {
  const { send, calls } = await serve(t)
  const token = basicHeader('alice', 'wonderland').slice('Basic '.length)
  for (const authorization of [undefined, `Bearer ${token}`, `Basically ${token}`, 'Digest username="alice"']) {
    const response = await send(authorization)
    t.equal(response.status, 200, String(authorization))
    t.same(await response.json(), { user: '', scopes: [] })
  }
  t.same(calls, [], 'verify is not asked')
})

t.test('an anonymous caller on a guarded route gets 401 with the challenge', async (t) => {
  const { send } = await serve(t)
  for (const authorization of [undefined, 'Bearer abc']) {
    const response = await send(authorization, '/guarded')
    t.equal(response.status, 401, String(authorization))
    t.equal(response.headers.get('www-authenticate'), challenge)
  }
})

t.test('malformed credentials get 401 with the challenge, and verify is not asked', async (t) => {
  const { send, calls } = await serve(t)
  const malformed: Array<[string, string]> = [
    ['Basic', 'nothing after the scheme'],
    ['Basic ', 'nothing after the space'],
    ['Basic !!!!', 'not base64'],
    ['Basic YWxpY2U6d29uZGVybGFuZA', 'padding missing'],
    ['Basic YWxpY2U6d29uZGVybGFuZA=', 'padding short'],
    ['Basic YWxpY2U6d29uZGVybGFuZA===', 'padding too long'],
    ['Basic YWxp Y2U6d29uZGVybGFuZA==', 'a space inside'],
    ['Basic YWxpY2U6d29uZGVybGFuZA==!', 'a foreign character Buffer.from would skip'],
    ['Basic YTo_Pz8=', 'base64url "_", not base64 "/"'],
    ['Basic YTp-fn4=', 'base64url "-", not base64 "+"'],
    ['Basic YWxpY2U6d29uZGVybGFuZB==', 'non-zero pad bits'],
    [raw('alice'), 'no colon'],
    [raw(''), 'empty user-pass'],
    [raw(Buffer.from([0x61, 0x3a, 0xff])), 'invalid UTF-8'],
    [raw(Buffer.from([0x61, 0x3a, 0xc3])), 'truncated UTF-8'],
    [raw(Buffer.from([0x61, 0x3a, 0xed, 0xa0, 0x80])), 'an encoded surrogate'],
    [raw('al\u0000ice:wonderland'), 'NUL in the user-id'],
    [raw('alice:wonder\tland'), 'tab in the password'],
    [raw('alice:wonderland\n'), 'newline in the password'],
    [raw('alice:wonderland\u007f'), 'DEL in the password'],
    [raw('alice:wonderland\u0085'), 'a C1 control in the password']
  ]
  t.equal(raw('a:???'), 'Basic YTo/Pz8=', 'the base64url cases encode real user-pass strings')
  t.equal(raw('a:~~~'), 'Basic YTp+fn4=')
  for (const [authorization, why] of malformed) {
    await refused(t, await send(authorization), 'Malformed Basic credentials')
    t.equal((await send(authorization, '/guarded')).status, 401, why)
  }
  t.same(calls, [])
})

t.test('the realm option names the protection space in every challenge', async (t) => {
  const staff = 'Basic realm="staff", charset="UTF-8"'
  const { send } = await serve(t, { realm: 'staff' })
  await refused(t, await send(basicHeader('alice', 'nope')), 'Invalid username or password', staff)
  await refused(t, await send('Basic !'), 'Malformed Basic credentials', staff)
  const anonymous = await send(undefined, '/guarded')
  t.equal(anonymous.status, 401)
  t.equal(anonymous.headers.get('www-authenticate'), staff)
})

t.test('verify gets the request, and its own errors keep their meaning', async (t) => {
  const verify = (username: string, password: string, request: FastifyRequest): BackendAnswer => {
    if (request.headers['x-tenant'] === 'closed') throw new AuthenticationError('Tenant closed', { statusCode: 403 })
    if (username === 'crash') throw new Error('database down')
    if (username === 'odd') return { auth: ['read'], user: new SimpleUser(username) } as unknown as BackendAnswer
    return lookUp(username, password)
  }
  let ran = 0
  const lines = logLines()
  const app = Fastify({ logger: { level: 'error', stream: lines.stream } })
  await app.register(authentication, { backend: basic({ verify }) })
  app.get('/', async () => { ran++; return 'handler' })
  const { http } = await listen(app, t)
  const alice = basicHeader('alice', 'wonderland')
  t.equal((await fetch(http + '/', { headers: { authorization: alice } })).status, 200)
  const closed = await fetch(http + '/', { headers: { authorization: alice, 'x-tenant': 'closed' } })
  t.equal(closed.status, 403)
  t.equal(JSON.parse(await closed.text()).message, 'Tenant closed')
  t.equal((await fetch(http + '/', { headers: { authorization: basicHeader('crash') } })).status, 500)
  t.equal((await fetch(http + '/', { headers: { authorization: basicHeader('odd') } })).status, 500, 'a result without AuthCredentials fails closed')
  t.equal(ran, 1)
  t.equal(lines.messages().length, 2)
  t.match(lines.messages(), [/the backend failed .*: database down$/, /but its auth is an array, not an AuthCredentials/])
})

t.test('no password or encoded credential reaches a response body or a log line', async (t) => {
  const password = 'sw0rdf1sh-secret'
  const lines = logLines()
  const app = Fastify({ logger: { level: 'trace', stream: lines.stream } })
  await app.register(authentication, { backend: basic({ verify: lookUp }) })
  app.get('/', async () => 'handler')
  const { http } = await listen(app, t)
  const sent = [basicHeader('alice', password), raw(`alice:${password}\u0000`), raw(password)]
  const bodies: string[] = []
  for (const authorization of sent) {
    const response = await fetch(http + '/', { headers: { authorization } })
    t.equal(response.status, 401)
    bodies.push(await response.text())
  }
  t.ok(lines.lines.length >= 2 * sent.length, 'each request was logged')
  const secrets = [password, ...sent.map((authorization) => authorization.slice('Basic '.length))]
  t.same([...bodies, ...lines.lines].filter((text) => secrets.some((secret) => text.includes(secret))), [])
})

t.test('safeEqual compares strings exactly, whatever their lengths', async (t) => {
  t.equal(safeEqual('wonderland', 'wonderland'), true)
  t.equal(safeEqual('wonderland', 'wonderlanD'), false)
  t.equal(safeEqual('wonderland', 'wonder'), false, 'a prefix is not equal')
  t.equal(safeEqual('wonder', 'wonderland'), false)
  t.equal(safeEqual('', ''), true)
  t.equal(safeEqual('', 'x'), false)
  t.equal(safeEqual('x'.repeat(10_000), 'x'.repeat(10_000)), true)
  t.equal(safeEqual('pässwörd🔑', 'pässwörd🔑'), true)
  t.equal(safeEqual('caf\u00e9', 'cafe\u0301'), false, 'no Unicode normalisation: NFC and NFD differ')
  t.equal(safeEqual('\ud800', '\udc00'), false, 'lone surrogates are not all U+FFFD')
  t.equal(safeEqual('\ud800', '\ufffd'), false)
  t.equal(safeEqual('a\u0000', 'a'), false)
})
