// The benchmarked servers: the same job (a bearer token, one scope, a JSON hello) done seven ways.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type HookHandlerDoneFunction, type RouteShorthandOptions } from 'fastify'
import fastifyAuth from '@fastify/auth'
import bearerAuth from '@fastify/bearer-auth'
import websocket from '@fastify/websocket'
import fastifyGuard from 'fastify-guard'
import authentication, { AuthCredentials, SimpleUser, requires, type AuthenticationBackend, type AuthenticationResult } from 'fastify-authentication'
import { SCOPE, tokenOf, tokenTable } from './tokens'

export interface Variant {
  /** Registers what the variant needs and returns the route options that guard a route. */
  setup: (app: FastifyInstance) => Promise<RouteShorthandOptions>
  /** Whether the variant refuses requests (bare Fastify lets everything through). */
  denies: boolean
  /** Whether the handshake path is measured for it (with @fastify/websocket). */
  websocket: boolean
}

const HELLO = { hello: 'world' }
const JSON_TYPE = 'application/json; charset=utf-8'
const FORBIDDEN = JSON.stringify({ statusCode: 403, error: 'Forbidden', message: 'Missing required scope' })

const table = tokenTable()

function scopesOf (request: FastifyRequest): readonly string[] | undefined {
  const token = tokenOf(request.headers.authorization)
  return token === undefined ? undefined : table.get(token)
}

/** The floor any auth layer pays: read the header, look the token up, refuse with a JSON 403. */
function inlineCheck (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (scopesOf(request)?.includes(SCOPE) === true) return done()
  reply.code(403).header('content-type', JSON_TYPE).send(FORBIDDEN)
}

/** A sync backend doing the inline check's Map lookup; the answers are built once, per token. */
const answers = new Map<string, AuthenticationResult>()
for (const [token, scopes] of table) {
  answers.set(token, { auth: new AuthCredentials(scopes), user: new SimpleUser(token) })
}
const backend: AuthenticationBackend = {
  authenticate (request) {
    const token = tokenOf(request.headers.authorization)
    return token === undefined ? null : answers.get(token)
  }
}

export const variants = {
  bare: {
    denies: false,
    websocket: true,
    async setup () { return {} }
  },
  inline: {
    denies: true,
    websocket: true,
    async setup (app) {
      app.addHook('onRequest', inlineCheck)
      return {}
    }
  },
  'plugin-requires': {
    denies: true,
    websocket: true,
    async setup (app) {
      await app.register(authentication, { backend })
      return { preHandler: requires(SCOPE) }
    }
  },
  'plugin-config': {
    denies: true,
    websocket: true,
    async setup (app) {
      await app.register(authentication, { backend })
      return { config: { requires: SCOPE } }
    }
  },
  'fastify-auth': {
    denies: true,
    websocket: false,
    async setup (app) {
      await app.register(fastifyAuth)
      const verify = (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
        if (scopesOf(request)?.includes(SCOPE) !== true) throw Object.assign(new Error('Missing required scope'), { statusCode: 403 })
        done()
      }
      return { onRequest: app.auth([verify]) }
    }
  },
  'bearer-auth': {
    denies: true,
    websocket: false,
    async setup (app) {
      await app.register(bearerAuth, { keys: [], auth: (key) => table.get(key)?.includes(SCOPE) === true })
      return {}
    }
  },
  'fastify-guard': {
    denies: true,
    websocket: false,
    async setup (app) {
      await app.register(fastifyGuard)
      // fastify-guard reads request.user.scope: a hook puts the caller's scopes there. (The
      // cast: this project's types say request.user is the plugin's user; here it is not.)
      app.decorateRequest('user', null as never)
      app.addHook('onRequest', (request, _reply, done) => {
        (request as { user: unknown }).user = { scope: scopesOf(request) ?? [] }
        done()
      })
      return { preHandler: app.guard.scope(SCOPE) }
    }
  }
} satisfies Record<string, Variant>

export type VariantName = keyof typeof variants
export const variantNames = Object.keys(variants) as VariantName[]

/** A server for one variant: `GET /hello` over HTTP, or `GET /ws` as a WebSocket route. */
export async function build (name: VariantName, mode: 'http' | 'ws'): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  if (mode === 'ws') await app.register(websocket)
  const guard = await (variants[name] as Variant).setup(app)
  if (mode === 'ws') {
    app.get('/ws', { ...guard, websocket: true }, () => {})
  } else {
    app.get('/hello', guard, (_request, reply) => { reply.send(HELLO) })
  }
  return app
}
