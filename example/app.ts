import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import secureSession from '@fastify/secure-session'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, BaseUser, requires } from 'fastify-authentication'
import { safeEqual } from 'fastify-authentication/basic'
import { bearer } from 'fastify-authentication/bearer'
import { nextPath, session } from 'fastify-authentication/session'
import { webSocketTickets, type TicketUser } from 'fastify-authentication/websocket'
import { demoPage } from './page'

/** The app's own user: what the backend hands to every handler as request.user. */
export class ApiUser extends BaseUser {
  constructor (readonly name: string) { super() }
  get isAuthenticated (): boolean { return true }
  get displayName (): string { return this.name }
  get identity (): string { return this.name }
}

// Narrows request.user and every scope name for the whole app: a misspelt scope no longer compiles.
// A socket a ticket opened has a TicketUser: the issuer's identity and displayName.
declare module 'fastify-authentication' {
  interface AuthenticationTypes {
    user: ApiUser | TicketUser
    scope: 'authenticated' | 'admin'
  }
}

// A real app would look tokens up in a database (bearer({ verify (token) { … } })) or verify a JWT.
// The bearer backend grants 'authenticated' to every caller it knows, on top of these scopes.
export const backend = bearer({
  realm: 'example',
  tokens: {
    'alice-token': { auth: new AuthCredentials([]), user: new ApiUser('alice') },
    'admin-token': { auth: new AuthCredentials(['admin']), user: new ApiUser('root') }
  }
})

/** The login form's accounts. A real app stores password hashes (scrypt, argon2…), never passwords. */
const accounts = new Map<string, { password: string, scopes: Array<'admin'> }>([
  ['alice', { password: 'wonderland', scopes: [] }],
  ['root', { password: 'admin', scopes: ['admin'] }]
])

/** How long the login form's "short session" lasts: the page then sees its socket closed with 1008. */
export const SHORT_SESSION_MS = 5_000

/** What a login stores in the session cookie: who, and for a short session when it ends. */
interface SessionData { user: string, expiresAt?: number }

export const sessions = session({
  load (data: SessionData) {
    // A short session that has ended is anonymous again: the cookie outlives it.
    if ((data.expiresAt ?? Infinity) <= Date.now()) return null
    // Only POST /login writes the (encrypted) cookie, with a user from `accounts`.
    const { scopes } = accounts.get(data.user)!
    return { auth: new AuthCredentials(scopes, { expiresAt: data.expiresAt }), user: new ApiUser(data.user) }
  }
})

export async function buildApp (logger: boolean): Promise<FastifyInstance> {
  const app = Fastify({ logger })
  // A demo key, generated at startup: sessions end when the app restarts. A real app loads a
  // fixed 32-byte key from its secrets (Buffer.from(process.env.SESSION_KEY, 'base64')).
  await app.register(secureSession, {
    key: randomBytes(32),
    expiry: 60 * 60,
    // secure: 'auto' marks the cookie Secure over HTTPS only, so that the demo works on http://127.0.0.1.
    cookie: { path: '/', httpOnly: true, sameSite: 'lax', secure: 'auto' }
  })
  const tickets = webSocketTickets()
  await app.register(websocket, { options: { handleProtocols: tickets.handleProtocols } })
  // Tickets first: the first backend that recognises the caller wins, so behind the cookie a good ticket would be used up for nothing.
  await app.register(authentication, { backend: [tickets, sessions, backend] })
  // The login form posts application/x-www-form-urlencoded.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })

  app.get('/', async (request) => ({
    authenticated: request.user.isAuthenticated,
    user: request.user.displayName,
    scopes: request.auth.scopes
  }))

  // API routes: an anonymous caller gets 401 and the challenge, so that clients know how to
  // authenticate; a known caller without the scope gets 403 and an insufficient_scope challenge.
  app.get('/api/me', { preHandler: requires('authenticated') }, async (request) => ({
    user: request.user.displayName
  }))
  app.get('/api/admin', { preHandler: requires('admin') }, async (request) => ({
    admin: request.user.displayName
  }))

  // A page for browsers: send them to the login page, and back here afterwards.
  app.get('/admin', { config: { requires: { scopes: 'admin', redirect: '/login' } } }, async (request, reply) => {
    return reply.type('text/html').send(`<h1>Admin</h1><p>Welcome, ${escapeHtml(request.user.displayName)}.</p>`)
  })

  // The login form: a session cookie. nextPath keeps `next` a path of this site.
  app.get('/login', async (request, reply) => {
    return reply.type('text/html').send(loginForm(nextPath((request.query as { next?: unknown }).next, '/demo'), false))
  })
  app.post('/login', async (request, reply) => {
    const { user, password, short, next } = (request.body ?? {}) as Record<string, string | undefined>
    const account = accounts.get(String(user))
    if (account === undefined || !safeEqual(String(password), account.password)) {
      return reply.code(401).type('text/html').send(loginForm(nextPath(next, '/demo'), true))
    }
    await sessions.login(request, short === undefined ? { user: String(user) } : { user: String(user), expiresAt: Date.now() + SHORT_SESSION_MS })
    return reply.redirect(nextPath(next, '/demo'), 303)
  })
  app.post('/logout', async (request, reply) => {
    await sessions.logout(request)
    return reply.redirect('/demo', 303)
  })

  // The browser demo: who the page is (GET /), and a live WebSocket opened with the cookie or a ticket.
  app.get('/demo', async (_request, reply) => reply.type('text/html').send(demoPage))
  // A single-use ticket for the next handshake, for the caller of this request (cookie or bearer token).
  app.post('/ws-ticket', { config: { requires: 'authenticated' } }, async (request) => ({ ticket: await tickets.issue(request) }))

  // The same guard as /api/me, yet a WebSocket handshake is refused with 403: Starlette's rule.
  app.get('/ws', { websocket: true, preHandler: requires('authenticated') }, (socket, request) => {
    socket.send(`hello ${request.user.displayName}`)
    socket.on('message', (message) => socket.send(`echo: ${String(message)}`))
  })

  app.get('/health', { config: { authenticate: false } }, async () => ({ ok: true }))
  return app
}

function loginForm (next: string, failed: boolean): string {
  return `<!doctype html>
<meta charset="utf-8"><title>Log in</title>
<h1>Log in</h1>
${failed ? '<p id="failed">Wrong user name or password.</p>\n' : ''}<form method="post" action="/login">
  <p><label>User <input name="user" value="alice" autocomplete="username"></label> (alice or root)</p>
  <p><label>Password <input name="password" type="password" autocomplete="current-password"></label> (wonderland or admin)</p>
  <p><label><input name="short" type="checkbox"> short session: the credentials expire after ${SHORT_SESSION_MS / 1000} seconds</label></p>
  <input type="hidden" name="next" value="${escapeHtml(next)}">
  <p><button>Log in</button></p>
</form>
<p>Then go back to ${escapeHtml(next)}.</p>
`
}

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`)
}
