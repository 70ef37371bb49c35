import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, BaseUser, requires } from 'fastify-authentication'
import { bearer } from 'fastify-authentication/bearer'

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

// A real app would look tokens up in a database (bearer({ verify (token) { … } })) or verify a JWT.
// The bearer backend grants 'authenticated' to every caller it knows, on top of these scopes.
export const backend = bearer({
  realm: 'example',
  tokens: {
    'alice-token': { auth: new AuthCredentials([]), user: new ApiUser('alice') },
    'admin-token': { auth: new AuthCredentials(['admin']), user: new ApiUser('root') }
  }
})

export async function buildApp (logger: boolean): Promise<FastifyInstance> {
  const app = Fastify({ logger })
  await app.register(websocket)
  await app.register(authentication, { backend })

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

  app.get('/login', async (request, reply) => {
    const next = (request.query as { next?: string }).next ?? '/'
    return reply.type('text/html').send(`<h1>Log in</h1><p>Then go back to ${escapeHtml(next)}.</p>`)
  })

  // The same guard as /api/me, yet a WebSocket handshake is refused with 403: Starlette's rule.
  app.get('/ws', { websocket: true, preHandler: requires('authenticated') }, (socket, request) => {
    socket.send(`hello ${request.user.displayName}`)
    socket.on('message', (message) => socket.send(`echo: ${String(message)}`))
  })

  app.get('/health', { config: { authenticate: false } }, async () => ({ ok: true }))
  return app
}

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`)
}
