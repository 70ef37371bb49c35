import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import secureSession from '@fastify/secure-session'
import fastifySession from '@fastify/session'
import websocket from '@fastify/websocket'
import fc from 'fast-check'
import authentication, { AuthCredentials, AuthenticationError, SimpleUser } from '../lib/index'
import type { BackendAnswer } from '../lib/backends/contract'
import { bearer } from '../lib/backends/bearer'
import { nextPath, session, type SessionBackend, type SessionOptions } from '../lib/backends/session'
import { safeNext } from '../lib/request/redirect'
import { handshake, listen, logLines } from './helpers'

// One suite, run over both session plugins: what differs between them is said where it differs.

interface Plugin {
  name: '@fastify/secure-session' | '@fastify/session'
  /** The plugin's default cookie name. */
  cookie: string
  /** Whether the session has an id in a server-side store (and logout can revoke every copy of the cookie). */
  stored: boolean
  register: (app: FastifyInstance, cookie?: Record<string, unknown>) => Promise<void>
}

const KEY = randomBytes(32)
const SECRET = randomBytes(32).toString('hex')

const plugins: Plugin[] = [
  {
    name: '@fastify/secure-session',
    cookie: 'session',
    stored: false,
    async register (app, cookie = {}) {
      await app.register(secureSession, { key: KEY, cookie: { path: '/', ...cookie } })
    }
  },
  {
    name: '@fastify/session',
    cookie: 'sessionId',
    stored: true,
    async register (app, cookie = {}) {
      await app.register(fastifyCookie)
      // secure: false, or the plugin sends no cookie over plain HTTP.
      await app.register(fastifySession, { secret: SECRET, cookie: { secure: false, ...cookie } })
    }
  }
]

/** Both plugins' sessions, as the tests use them (their types disagree on request.session). */
interface AnySession { get (key: string): unknown, set (key: string, value: unknown): void, sessionId?: string, delete?: () => void }
const sessionOn = (request: FastifyRequest): AnySession => (request as unknown as { session: AnySession }).session

/** A browser: keeps the cookies it is sent and sends them back; follows no redirect. */
class Browser {
  readonly jar = new Map<string, string>()
  constructor (readonly origin: string) {}

  async fetch (path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers)
    if (this.jar.size > 0) headers.set('cookie', [...this.jar].map(([name, value]) => `${name}=${value}`).join('; '))
    const response = await fetch(this.origin + path, { ...init, headers, redirect: 'manual' })
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';')
      const name = pair.slice(0, pair.indexOf('=')).trim()
      const value = pair.slice(pair.indexOf('=') + 1).trim()
      if (value === '' || attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute))) this.jar.delete(name)
      else this.jar.set(name, value)
    }
    return response
  }

  post (path: string, body: unknown = {}): Promise<Response> {
    return this.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  }

  async whoami (): Promise<unknown> {
    return await (await this.fetch('/')).json()
  }

  /** Another browser holding a copy of this one's cookies. */
  copy (): Browser {
    const other = new Browser(this.origin)
    for (const [name, value] of this.jar) other.jar.set(name, value)
    return other
  }
}

const anonymous = { user: '', scopes: [] }
const people: Record<string, string[]> = { alice: ['read'], root: ['read', 'admin'] }

/** What load makes of `{ user }`: a known person, nobody (null), or one of the failures. */
function answerFor (user: string): BackendAnswer {
  if (user === 'broken') throw new Error('the user store is down')
  if (user === 'revoked') throw new AuthenticationError('Session revoked', { statusCode: 401 })
  if (user === 'odd') return { auth: ['read'], user: new SimpleUser('odd') } as unknown as BackendAnswer
  if (user === 'ghost') return undefined
  const scopes = people[user]
  return scopes === undefined ? null : { auth: new AuthCredentials(scopes), user: new SimpleUser(user) }
}

interface Served {
  http: string
  ws: string
  sessions: SessionBackend<{ user: string }>
  /** What load was given on each call, and the URL of the request it came with. */
  calls: Array<{ data: unknown, url: string }>
  lines: ReturnType<typeof logLines>
}

/**
 * An app with a session plugin, then fastify-authentication over it, and routes to log in and
 * out, to read the caller, to plant other session data, and a guarded page and admin route.
 */
async function serve (t: Test, plugin: Plugin, {
  async = false, options = {}, cookie = {}
}: { async?: boolean, options?: Partial<SessionOptions<{ user: string }>>, cookie?: Record<string, unknown> } = {}): Promise<Served> {
  const calls: Served['calls'] = []
  const sessions = session<{ user: string }>({
    load (data, request) {
      calls.push({ data, url: request.url })
      return async ? Promise.resolve().then(() => answerFor(data.user)) : answerFor(data.user)
    },
    ...options
  })
  const lines = logLines()
  const app = Fastify({ logger: { level: 'trace', stream: lines.stream } })
  await app.register(websocket)
  await plugin.register(app, cookie)
  await app.register(authentication, { backend: sessions })
  app.get('/', async (request) => ({ user: request.user.displayName, scopes: request.auth.scopes }))
  app.post('/login', async (request) => {
    await sessions.login(request, { user: (request.body as { user: string }).user })
    // The login takes effect from the next request.
    return { user: request.user.displayName }
  })
  app.post('/logout', async (request) => {
    await sessions.logout(request)
    return 'logged out'
  })
  app.post('/logout-then-login', async (request) => {
    await sessions.logout(request)
    await sessions.login(request, { user: 'alice' })
    return 'logged in again'
  })
  app.post('/plant', async (request) => {
    sessionOn(request).set('cart', 'planted')
    return 'planted'
  })
  app.get('/cart', async (request) => ({ cart: sessionOn(request).get('cart') ?? null }))
  app.get('/id', async (request) => sessionOn(request).sessionId ?? '')
  app.get('/account', { config: { requires: { scopes: 'authenticated', redirect: '/login' } } }, async (request) => `account of ${request.user.displayName}`)
  app.get('/admin', { config: { requires: 'admin' } }, async () => 'admin page')
  app.get('/admin-page', { config: { requires: { scopes: 'admin', redirect: '/login' } } }, async () => 'admin page')
  app.get('/live', { websocket: true, config: { requires: 'authenticated' } }, (socket, request) => {
    socket.send(`hello ${request.user.displayName}`)
  })
  const { http, ws } = await listen(app, t)
  return { http, ws, sessions, calls, lines }
}

t.test('options are checked when session() is called, naming the option', async (t) => {
  const load = (): null => null
  const bad: Array<[unknown, RegExp]> = [
    [undefined, /^fastify-authentication\/session: options must be an object like \{ load \}$/],
    [load, /options must be an object/],
    [{}, /^fastify-authentication\/session: the load option must be a function \(data, request\)$/],
    [{ load: 'users' }, /the load option/],
    [{ load, key: '' }, /^fastify-authentication\/session: the key option must be a non-empty string that is not a name the session objects use themselves/],
    [{ load, key: 42 }, /the key option/],
    ...['cookie', 'sessionId', 'encryptedSessionId', 'get', 'set', 'regenerate', 'destroy', 'touch', 'data', 'delete', 'changed', 'deleted', '__ts', '__proto__', 'constructor', 'toString', 'hasOwnProperty']
      .map((key): [unknown, RegExp] => [{ load, key }, /the key option/]),
    [{ load, cookieName: '' }, /^fastify-authentication\/session: the cookieName option must be a cookie name, like 'sessionId'$/],
    [{ load, cookieName: 'my session' }, /the cookieName option/],
    [{ load, cookieName: 'sid;' }, /the cookieName option/],
    [{ load, cookieName: ['sid'] }, /the cookieName option/],
    [{ load, cookiename: 'sid' }, /^fastify-authentication\/session: unknown option "cookiename"; the options are load, key and cookieName$/],
    [{ verify: load }, /unknown option "verify"/]
  ]
  for (const [options, message] of bad) {
    t.throws(() => session(options as SessionOptions), message, JSON.stringify(options) ?? String(options))
  }
  const backend = session({ load, key: 'my-app.user', cookieName: 'sid' })
  t.equal(typeof backend.authenticate, 'function', 'a key that is not one of those names is accepted')
  t.equal(backend.challenge, 'Cookie', 'a challenge no browser prompts for: a 401 must carry one (RFC 9110 §15.5.2)')
  t.equal(backend.insufficientScope, undefined)
})

t.test('login(request, data) checks data before it touches the session', async (t) => {
  const sessions = session({ load: () => null })
  // A request whose session cannot even be read: a check that reached it would throw 'touched'.
  const request = { get session (): never { throw new Error('touched') } } as unknown as FastifyRequest
  const circular: Record<string, unknown> = {}
  circular.self = circular
  const bad: Array<[unknown, RegExp]> = [
    [undefined, /^fastify-authentication\/session: login\(request, data\): data must be a JSON value other than null, like \{ userId \} \(to log out, call logout\(request\)\)$/],
    [null, /data must be a JSON value other than null/],
    [() => 'alice', /data must be a JSON value other than null/],
    [Symbol('alice'), /data must be a JSON value other than null/],
    [circular, /^fastify-authentication\/session: login\(request, data\): data must be JSON-serialisable, like \{ userId \}$/],
    [{ id: 1n }, /data must be JSON-serialisable/]
  ]
  for (const [data, message] of bad) {
    await t.rejects(sessions.login(request, data), message, String(typeof data))
  }
})

t.test('securityScheme names the session cookie: the cookieName option, else the default of the plugin found at startup', async (t) => {
  const load = (): null => null
  const scheme = (name: string): unknown => ({ name: 'session', definition: { type: 'apiKey', in: 'cookie', name } })
  t.same(session({ load }).securityScheme, scheme('session'), 'before startup: secure-session\'s default, the scheme\'s name')
  for (const plugin of plugins) {
    const sessions = session({ load })
    const named = session({ load, cookieName: 'sid' })
    const app = Fastify()
    await plugin.register(app)
    await app.register(authentication, { backend: [sessions, named] })
    await app.ready()
    t.same(sessions.securityScheme, scheme(plugin.cookie), plugin.name)
    t.same(named.securityScheme, scheme('sid'), `${plugin.name}, with cookieName`)
    await app.close()
  }
})

t.test('without a session plugin registered before it, the app fails at startup, naming the plugins and the order', async (t) => {
  const message = /^fastify-authentication\/session: the session backend reads request\.session: register @fastify\/secure-session, or @fastify\/cookie then @fastify\/session, before fastify-authentication, in the same scope or a parent scope$/
  const backend = session({ load: () => null })

  const missing = Fastify()
  missing.register(authentication, { backend })
  await t.rejects(async () => { await missing.ready() }, message, 'never registered')

  for (const plugin of plugins) {
    const after = Fastify()
    after.register(authentication, { backend })
    after.register(async (app) => plugin.register(app))
    await t.rejects(async () => { await after.ready() }, message, `${plugin.name} registered after the plugin`)

    const sibling = Fastify()
    sibling.register(async (child) => plugin.register(child))
    sibling.register(authentication, { backend })
    await t.rejects(async () => { await sibling.ready() }, message, `${plugin.name} registered in a sibling scope`)
  }
})

t.test('a request.session that nothing fills fails every request with a 500 that says why', async (t) => {
  let ran = 0
  const lines = logLines()
  const app = Fastify({ logger: { level: 'error', stream: lines.stream } })
  // A decorator without the plugin's onRequest hook: startup cannot tell, the first request can.
  ;(app as unknown as { decorateRequest: (name: string, value: null) => void }).decorateRequest('session', null)
  const sessions = session({ load: () => null })
  await app.register(authentication, { backend: sessions })
  app.get('/', async () => { ran++ })
  const { http } = await listen(app, t)
  t.same(sessions.securityScheme.definition.name, 'session', 'an unknown session plugin: the default name')
  t.equal((await fetch(http + '/')).status, 500)
  t.equal(ran, 0)
  t.match(lines.lines.join('\n'), /fastify-authentication\/session: request\.session was not loaded when fastify-authentication ran: register the session plugin, with its onRequest hook, before fastify-authentication/)
})

for (const plugin of plugins) {
  t.test(`${plugin.name}`, async (t) => {
    t.test('no login data: anonymous, and load is not called; a guarded page redirects, an admin route asks to log in with 401 Cookie', async (t) => {
      const { http, calls } = await serve(t, plugin)
      const browser = new Browser(http)
      t.same(await browser.whoami(), anonymous)
      t.equal(await (await browser.post('/plant')).text(), 'planted')
      t.same(await browser.whoami(), anonymous, 'a session holding other data only is anonymous')
      t.same(await (await browser.fetch('/cart')).json(), { cart: 'planted' }, 'the app may use the session for other things')

      const page = await browser.fetch('/account?tab=2')
      t.equal(page.status, 303)
      t.equal(page.headers.get('location'), '/login?next=%2Faccount%3Ftab%3D2')
      const admin = await browser.fetch('/admin')
      t.equal(admin.status, 401, 'an anonymous caller is asked to log in, not told it lacks a scope')
      t.equal(admin.headers.get('www-authenticate'), 'Cookie')
      t.equal((await browser.fetch('/admin-page')).status, 303, 'an anonymous caller is sent to log in')
      t.same(calls, [])
    })

    for (const async of [false, true]) {
      t.test(`${async ? 'async' : 'sync'} load: login, then the session is the caller, granted authenticated; logout makes it anonymous`, async (t) => {
        const { http, calls } = await serve(t, plugin, { async })
        const browser = new Browser(http)
        const login = await browser.post('/login', { user: 'alice' })
        t.same(await login.json(), { user: '' }, 'the login request itself is still anonymous')
        t.ok(browser.jar.has(plugin.cookie), 'the session cookie is set')
        t.same(await browser.whoami(), { user: 'alice', scopes: ['read', 'authenticated'] })
        t.equal(await (await browser.fetch('/account')).text(), 'account of alice')
        t.equal((await browser.fetch('/admin')).status, 403, 'recognised, without the scope')
        const page = await browser.fetch('/admin-page')
        t.equal(page.status, 403, 'a logged-in caller without the scope is not sent to log in again')
        t.equal(page.headers.get('location'), null)
        t.equal(page.headers.get('www-authenticate'), null, 'a session has no insufficient_scope challenge')
        t.same(calls, [{ data: { user: 'alice' }, url: '/' }, { data: { user: 'alice' }, url: '/account' }, { data: { user: 'alice' }, url: '/admin' }, { data: { user: 'alice' }, url: '/admin-page' }],
          'load gets the data login stored, and the request')

        await browser.post('/login', { user: 'root' })
        t.same(await browser.whoami(), { user: 'root', scopes: ['read', 'admin', 'authenticated'] }, 'a second login replaces the first')
        t.equal(await (await browser.fetch('/admin')).text(), 'admin page')

        const copy = browser.copy()
        t.equal(await (await browser.post('/logout')).text(), 'logged out')
        t.same(await browser.whoami(), anonymous)
        t.equal((await browser.fetch('/account')).status, 303)
        if (plugin.stored) {
          t.same(await copy.whoami(), anonymous, 'logout destroyed the session in the store: a copy of the cookie is worth nothing')
        } else {
          t.notOk(browser.jar.has(plugin.cookie), 'logout cleared the cookie')
          // The limit of a session that lives in the cookie: docs/backends/session.md says so.
          t.same(await copy.whoami(), { user: 'root', scopes: ['read', 'admin', 'authenticated'] },
            'a copy of the cookie taken before logout still authenticates until it expires')
        }
      })
    }

    t.test('login regenerates the session: nothing stored before it survives, and a cookie planted before it logs nobody in', async (t) => {
      const { http } = await serve(t, plugin)
      // The attacker gets a session of their own, stores something in it, and plants its cookie in the victim's browser.
      const attacker = new Browser(http)
      await attacker.post('/plant')
      const planted = attacker.jar.get(plugin.cookie)
      t.type(planted, 'string')
      const victim = attacker.copy()
      const before = await (await victim.fetch('/id')).text()
      t.same(await (await victim.fetch('/cart')).json(), { cart: 'planted' }, 'the planted session works in the victim\'s browser')

      await victim.post('/login', { user: 'alice' })
      t.not(victim.jar.get(plugin.cookie), planted, 'the login sends a new cookie')
      t.same(await victim.whoami(), { user: 'alice', scopes: ['read', 'authenticated'] })
      t.same(await (await victim.fetch('/cart')).json(), { cart: null }, 'what was stored before the login is gone')
      if (plugin.stored) {
        const after = await (await victim.fetch('/id')).text()
        t.match(before, /^.{16,}$/)
        t.match(after, /^.{16,}$/)
        t.not(after, before, 'a new session id')
      }
      t.same(await attacker.whoami(), anonymous, 'the planted cookie does not log the attacker in')
      t.same(await (await attacker.fetch('/cart')).json(), plugin.stored ? { cart: null } : { cart: 'planted' },
        plugin.stored ? 'the old session was destroyed in the store' : 'the attacker\'s copy holds only what it held')
    })

    t.test('re-login drops the earlier session too', async (t) => {
      const { http } = await serve(t, plugin)
      const browser = new Browser(http)
      await browser.post('/login', { user: 'alice' })
      const alice = browser.copy()
      await browser.post('/login', { user: 'root' })
      t.same(await browser.whoami(), { user: 'root', scopes: ['read', 'admin', 'authenticated'] })
      t.same(await alice.whoami(), plugin.stored ? anonymous : { user: 'alice', scopes: ['read', 'authenticated'] },
        plugin.stored ? 'the earlier session id no longer authenticates' : 'a cookie session cannot be revoked: the earlier cookie is still alice until it expires')
    })

    t.test('load answering null or undefined: anonymous', async (t) => {
      const { http, calls } = await serve(t, plugin)
      const browser = new Browser(http)
      await browser.post('/login', { user: 'nobody' })
      t.same(await browser.whoami(), anonymous, 'null')
      t.equal((await browser.fetch('/account')).status, 303)
      await browser.post('/login', { user: 'ghost' })
      t.same(await browser.whoami(), anonymous, 'undefined')
      // The login request itself came with the earlier session.
      t.same(calls.map(({ data }) => data), [{ user: 'nobody' }, { user: 'nobody' }, { user: 'nobody' }, { user: 'ghost' }])
    })

    for (const async of [false, true]) {
      t.test(`${async ? 'async' : 'sync'} load that throws: an AuthenticationError is the app's refusal, anything else a 500 that leaks nothing`, async (t) => {
        const { http, lines } = await serve(t, plugin, { async })
        const refused = new Browser(http)
        await refused.post('/login', { user: 'revoked' })
        const revoked = await refused.fetch('/')
        t.equal(revoked.status, 401)
        t.match(await revoked.json(), { statusCode: 401, message: 'Session revoked' })
        // Every request that carries the session is refused, logging in again included: docs/backends/session.md says so.
        t.equal((await refused.post('/login', { user: 'alice' })).status, 401, 'the login route too')

        const failing = new Browser(http)
        await failing.post('/login', { user: 'broken' })
        const broken = await failing.fetch('/account')
        t.equal(broken.status, 500)
        const body = await broken.text()
        t.notMatch(body, /user store/, 'the error stays out of the answer')
        t.match(JSON.parse(body), { statusCode: 500, message: 'fastify-authentication: the backend failed (its error is logged as the cause)' })
        t.match(lines.lines.join('\n'), /the user store is down/, 'and is logged as the cause')

        const odd = new Browser(http)
        await odd.post('/login', { user: 'odd' })
        t.equal((await odd.fetch('/')).status, 500)
        t.match(lines.lines.join('\n'), /but its auth is an array, not an AuthCredentials/)
      })
    }

    t.test('logout, then login, in one request', async (t) => {
      const { http, lines } = await serve(t, plugin)
      const browser = new Browser(http)
      await browser.post('/login', { user: 'root' })
      const answer = await browser.post('/logout-then-login')
      if (plugin.stored) {
        // logout() destroyed the session: @fastify/session has none left to log in.
        t.equal(answer.status, 500)
        t.match(lines.lines.join('\n'), /login\(request, data\) found no session in request\.session: the session plugin did not load one for this request \(with @fastify\/session: a route outside its cookie path, or a session logout\(\) destroyed\)/)
        t.same(await browser.whoami(), anonymous, 'the logout stands')
      } else {
        t.equal(await answer.text(), 'logged in again')
        t.same(await browser.whoami(), { user: 'alice', scopes: ['read', 'authenticated'] }, 'the cookie carries the new login, not the deletion')
      }
    })

    t.test('the key option: the login data lives under it, and nothing else is read', async (t) => {
      const { http, calls } = await serve(t, plugin, { options: { key: 'staff' } })
      const browser = new Browser(http)
      await browser.post('/plant')
      await browser.post('/login', { user: 'alice' })
      t.same(await browser.whoami(), { user: 'alice', scopes: ['read', 'authenticated'] })
      t.same(calls.map(({ data }) => data), [{ user: 'alice' }])

      const other = await serve(t, plugin)
      const stranger = new Browser(other.http)
      await stranger.post('/login', { user: 'alice' })
      t.same(await stranger.whoami(), { user: 'alice', scopes: ['read', 'authenticated'] }, 'the default key')
    })

    t.test('a WebSocket handshake carries the session cookie; one from another origin is refused', async (t) => {
      const { http, ws } = await serve(t, plugin)
      const browser = new Browser(http)
      await browser.post('/login', { user: 'alice' })
      const cookie = `${plugin.cookie}=${browser.jar.get(plugin.cookie) as string}`
      t.same(await handshake(ws + '/live', { cookie }), { opened: true, message: 'hello alice' })
      t.same(await handshake(ws + '/live', { cookie, origin: http }), { opened: true, message: 'hello alice' }, 'from the same origin')
      t.match(await handshake(ws + '/live', { cookie, origin: 'https://evil.example' }), { opened: false, status: 403 }, 'cross-site WebSocket hijacking')
      t.match(await handshake(ws + '/live'), { opened: false, status: 403 }, 'anonymous')
    })

    t.test('a full browser flow: guarded page, login page, back to the page, logout', async (t) => {
      const sessions = session<{ user: string }>({ load: ({ user }) => answerFor(user) })
      const app = Fastify()
      await plugin.register(app)
      await app.register(authentication, { backend: sessions })
      // The login page's form would carry next (HTML-escaped): here, as JSON.
      app.get('/login', async (request) => ({ next: nextPath((request.query as { next?: unknown }).next) }))
      app.post('/login', async (request, reply) => {
        const { user, password, next } = request.body as { user: string, password: string, next?: unknown }
        if (password !== 'wonderland') return reply.code(401).send('try again')
        await sessions.login(request, { user })
        return reply.redirect(nextPath(next), 303)
      })
      app.post('/logout', async (request, reply) => {
        await sessions.logout(request)
        return reply.redirect('/', 303)
      })
      app.get('/', async (request) => `home of ${request.user.isAuthenticated ? request.user.displayName : 'nobody'}`)
      app.get('/reports', { config: { requires: { scopes: 'read', redirect: '/login' } } }, async (request) => `reports for ${request.user.displayName}`)
      const { http } = await listen(app, t)
      const browser = new Browser(http)

      const refused = await browser.fetch('/reports?year=2024')
      t.equal(refused.status, 303)
      const login = refused.headers.get('location') as string
      t.equal(login, '/login?next=%2Freports%3Fyear%3D2024')
      const next = new URL(login, http).searchParams.get('next')
      t.same(await (await browser.fetch(login)).json(), { next: '/reports?year=2024' }, 'the login page keeps next')

      t.equal((await browser.post('/login', { user: 'alice', password: 'wrong', next })).status, 401)
      const signedIn = await browser.post('/login', { user: 'alice', password: 'wonderland', next })
      t.equal(signedIn.status, 303)
      t.equal(signedIn.headers.get('location'), '/reports?year=2024', 'back to the page')
      t.equal(await (await browser.fetch('/reports?year=2024')).text(), 'reports for alice')

      await browser.post('/logout')
      t.equal(await (await browser.fetch('/')).text(), 'home of nobody')
      t.equal((await browser.fetch('/reports?year=2024')).status, 303)

      const lured = await browser.post('/login', { user: 'alice', password: 'wonderland', next: '//evil.example/phish' })
      t.equal(lured.headers.get('location'), '/', 'a next that leaves the origin sends the user home instead')
    })

    t.test('pages with sessions in a child scope, an API with tokens beside them', async (t) => {
      const sessions = session<{ user: string }>({ load: ({ user }) => answerFor(user) })
      const app = Fastify()
      await app.register(async (pages) => {
        await plugin.register(pages)
        await pages.register(authentication, { backend: sessions })
        pages.post('/login', async (request) => { await sessions.login(request, { user: 'alice' }); return 'ok' })
        pages.get('/page', { config: { requires: 'authenticated' } }, async (request) => `page for ${request.user.displayName}`)
      })
      await app.register(async (api) => {
        await api.register(authentication, { backend: bearer({ tokens: { 't-ci': { auth: new AuthCredentials(), user: new SimpleUser('ci') } } }) })
        api.get('/api', { config: { requires: 'authenticated' } }, async (request) => `api for ${request.user.displayName}`)
      })
      const { http } = await listen(app, t)
      const browser = new Browser(http)
      t.equal((await browser.fetch('/page')).status, 401)
      await browser.post('/login')
      t.equal(await (await browser.fetch('/page')).text(), 'page for alice')
      t.equal((await browser.fetch('/api')).status, 401, 'the session cookie means nothing to the API')
      t.equal(await (await fetch(http + '/api', { headers: { authorization: 'Bearer t-ci' } })).text(), 'api for ci')
    })

    t.test('the session contents and the cookie reach no log line', async (t) => {
      const marker = 'alice-7f3c9e'
      people[marker] = ['read']
      t.teardown(() => { delete people[marker] })
      const { http, lines } = await serve(t, plugin)
      const browser = new Browser(http)
      await browser.post('/login', { user: marker })
      const cookies = [...browser.jar.values()]
      t.same(await browser.whoami(), { user: marker, scopes: ['read', 'authenticated'] })
      await browser.post('/logout')
      t.ok(lines.lines.length >= 6, 'the requests were logged, at trace level')
      t.same(lines.lines.filter((line) => line.includes(marker) || cookies.some((value) => line.includes(value))), [])
    })
  })
}

t.test('@fastify/session outside its cookie path: anonymous, and login says why it cannot', async (t) => {
  const [, serverSessions] = plugins
  const { http, lines } = await serve(t, serverSessions, { cookie: { path: '/account' } })
  const browser = new Browser(http)
  t.same(await browser.whoami(), anonymous)
  t.equal((await browser.post('/login', { user: 'alice' })).status, 500)
  t.match(lines.lines.join('\n'), /login\(request, data\) found no session in request\.session: the session plugin did not load one for this request/)
  t.equal((await browser.post('/logout')).status, 500)
  t.match(lines.lines.join('\n'), /logout\(request\) found no session in request\.session/)
})

t.test('login and logout on a route no session plugin covers fail with an error that says what to register', async (t) => {
  const lines = logLines()
  const app = Fastify({ logger: { level: 'error', stream: lines.stream } })
  const sessions = session({ load: () => null })
  app.post('/login', async (request) => { await sessions.login(request, { user: 'alice' }) })
  app.post('/logout', async (request) => { await sessions.logout(request) })
  const { http } = await listen(app, t)
  t.equal((await fetch(http + '/login', { method: 'POST' })).status, 500)
  t.equal((await fetch(http + '/logout', { method: 'POST' })).status, 500)
  const [login, logout] = lines.messages()
  t.match(login, /^fastify-authentication\/session: login\(request, data\) found no request\.session on this route: register @fastify\/secure-session, or @fastify\/cookie then @fastify\/session, in its scope or a parent scope$/)
  t.match(logout, /^fastify-authentication\/session: logout\(request\) found no request\.session on this route/)
})

/** A string for a test's name, in printable ASCII (a raw line separator would break the TAP output). */
const show = (value: string): string => JSON.stringify(value).replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)

t.test('nextPath: same-origin paths as they are, anything else the fallback', async (t) => {
  const kept = ['/', '/ok', '/ok?x=1#h', '/reports?year=2024&q=a%20b', '/a//b', '/a/\\b', '/%2F%2Fevil.example', '/%5Cevil', '/%09/evil', '/.', '/..', '/..//evil.example', '/a b', '/@evil.example', '/:x', '/?next=//evil.example']
  for (const value of kept) t.equal(nextPath(value), value, show(value))

  const refused: unknown[] = [
    '//evil.example', '///evil.example', '/\\evil.example', '\\\\evil.example', '\\/evil.example', '/\t/evil.example', '/\n/evil.example',
    '/\r/evil.example', '\t//evil.example', ' /evil', '/ /evil', '/\x00/evil', '/\x7f', 'https://evil.example', 'HTTPS://evil.example/x', 'http:/evil.example',
    '//evil.example:443@app.example', 'javascript:alert(1)', 'data:text/html,x', 'evil.example', 'ok', './ok', '../ok', '?x=1', '#h', '', '/ok\r\nSet-Cookie: a=b',
    '/caf\u00e9', '/\u65e5\u672c', '/\u2028', '/ok\u0000', undefined, null, 42, true, ['/ok'], { toString: () => '/ok' }, Object('/ok'), Symbol('/ok'), () => '/ok'
  ]
  for (const value of refused) t.equal(nextPath(value), '/', typeof value === 'string' ? show(value) : typeof value)
  t.equal(nextPath('//evil.example', '/home'), '/home', 'the fallback is the caller\'s')
  t.equal(nextPath(undefined, '/home'), '/home')
  t.equal(nextPath('/ok', '/home'), '/ok')

  const long = '/' + 'a/'.repeat(500_000)
  const started = performance.now()
  t.equal(nextPath(long), long, 'a very long path is kept')
  t.equal(nextPath('/' + '/'.repeat(1_000_000)), '/', 'a very long run of slashes is refused')
  t.equal(nextPath('/a' + '\\'.repeat(1_000_000) + '\n'), '/', 'a very long path with a control character at its end is refused')
  t.ok(performance.now() - started < 1000, 'in linear time')
})

t.test('nextPath: whatever it is given, what it returns stays on the origin; and it keeps every next the plugin builds', async (t) => {
  const origin = 'https://app.example'
  const piece = fc.oneof(
    fc.constantFrom('/', '//', '\\', '\t', '\n', '\r', '\x00', '\x0b', '\x1f', ' ', '\x7f', '\xa0', '\u2028', '\uff0f', '.', '..', '@', ':', '?', '#', '%2F', '%5C', '%09', 'evil.example', 'https:', 'javascript:'),
    fc.string({ maxLength: 4 })
  )
  const value = fc.array(piece, { maxLength: 10 }).map((pieces) => pieces.join(''))
  fc.assert(fc.property(value, (value) => {
    const path = nextPath(value, '/fallback')
    return (path === value || path === '/fallback') && new URL(path, origin).origin === origin
  }), { numRuns: 5000 })
  t.pass('every returned path resolves to the origin')

  // The plugin's next is the request's path and query, after safeNext: nextPath gives it back as is.
  const requestTarget = fc.array(fc.oneof(piece, fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)) })), { maxLength: 10 })
    .map((pieces) => '/' + pieces.join('').replace(/[^\x21-\x7e]/g, ''))
  fc.assert(fc.property(requestTarget, (target) => nextPath(safeNext(target), '/fallback') === safeNext(target)), { numRuns: 5000 })
  t.pass('every next the plugin builds from a request target is kept')
})
