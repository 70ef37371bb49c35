import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, AuthenticationError, BaseUser, requires, type AuthenticationBackend } from 'fastify-authentication'

/** The app's own user: what the backend hands to every handler as request.user. */
export class ApiUser extends BaseUser {
  constructor (readonly name: string) { super() }
  get isAuthenticated (): boolean { return true }
  get displayName (): string { return this.name }
  get identity (): string { return this.name }
}

// Narrows request.user and every scope name for the whole app: a misspelt scope no longer compiles.
declare module 'fastify-authentication' {
  interface AuthenticationTypes {
    user: ApiUser
    scope: 'authenticated' | 'admin'
  }
}

// A real app would look tokens up in a database or verify a JWT here.
const tokens = new Map<string, { name: string, scopes: Array<'authenticated' | 'admin'> }>([
  ['alice-token', { name: 'alice', scopes: ['authenticated'] }],
  ['admin-token', { name: 'root', scopes: ['authenticated', 'admin'] }]
])

export const bearerTokens: AuthenticationBackend = {
  authenticate (request: FastifyRequest) {
    const header = request.headers.authorization
    if (header === undefined) return null
    const [scheme, token] = header.split(' ')
    const known = scheme === 'Bearer' ? tokens.get(token) : undefined
    if (known === undefined) throw new AuthenticationError('Invalid bearer token')
    return { auth: new AuthCredentials(known.scopes), user: new ApiUser(known.name) }
  }
}

export async function buildApp (logger: boolean): Promise<FastifyInstance> {
  const app = Fastify({ logger })
  await app.register(websocket)
  await app.register(authentication, { backend: bearerTokens, challenge: 'Bearer realm="example"' })

  app.get('/', async (request) => ({
    authenticated: request.user.isAuthenticated,
    user: request.user.displayName,
    scopes: request.auth.scopes
  }))

  // An API route: 401 with a challenge, so that clients know how to authenticate.
  app.get('/api/me', { preHandler: requires('authenticated', { statusCode: 401 }) }, async (request) => ({
    user: request.user.displayName
  }))

  // A page for browsers: send them to the login page, and back here afterwards.
  app.get('/admin', { config: { requires: { scopes: 'admin', redirect: '/login' } } }, async (request, reply) => {
    return reply.type('text/html').send(`<h1>Admin</h1><p>Welcome, ${escapeHtml(request.user.displayName)}.</p>`)
  })

  app.get('/login', async (request, reply) => {
    const next = (request.query as { next?: string }).next ?? '/'
    return reply.type('text/html').send(`<h1>Log in</h1><p>Then go back to ${escapeHtml(next)}.</p>`)
  })

  // The same guard as /api/me, yet a WebSocket handshake is refused with 403: Starlette's rule.
  app.get('/ws', { websocket: true, preHandler: requires('authenticated', { statusCode: 403 }) }, (socket, request) => {
    socket.send(`hello ${request.user.displayName}`)
    socket.on('message', (message) => socket.send(`echo: ${String(message)}`))
  })

  app.get('/health', { config: { authenticate: false } }, async () => ({ ok: true }))
  return app
}

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`)
}
