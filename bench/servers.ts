// The benchmarked servers. The core ones do the same job (a bearer token, one scope, a JSON
// hello) seven ways, the inline one twice; backends.ts and scale.ts add the ready-made backends
// against their peers, and the plugin at scale, each next to the same job written by hand.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import fastifyAuth from '@fastify/auth'
import bearerAuth from '@fastify/bearer-auth'
import websocket from '@fastify/websocket'
import fastifyGuard from 'fastify-guard'
import authentication, { requires } from 'fastify-authentication'
import { backendVariants } from './backends'
import { scaleVariants } from './scale'
import { SCOPE, tokenTable } from './tokens'
import { hello, inlineCheck, lookUp, tableBackend, type Mode, type Variant } from './variant'

const table = tokenTable()
const backend = tableBackend(table)
const inline = hello(async (app) => {
  app.addHook('onRequest', inlineCheck(table))
  return {}
})

export const coreVariants = {
  bare: hello(async () => ({})),
  inline,
  // The same server again, in a process of its own: its ratio to inline is what noise alone gives.
  'inline-twin': inline,
  'plugin-requires': hello(async (app) => {
    await app.register(authentication, { backend })
    return { preHandler: requires(SCOPE) }
  }),
  'plugin-config': hello(async (app) => {
    await app.register(authentication, { backend })
    return { config: { requires: SCOPE } }
  }),
  'fastify-auth': hello(async (app) => {
    await app.register(fastifyAuth)
    const verify = (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
      if (lookUp(table, request)?.includes(SCOPE) !== true) throw Object.assign(new Error('Missing required scope'), { statusCode: 403 })
      done()
    }
    return { onRequest: app.auth([verify]) }
  }),
  'bearer-auth': hello(async (app) => {
    await app.register(bearerAuth, { keys: [], auth: (key) => table.get(key)?.includes(SCOPE) === true })
    return {}
  }),
  'fastify-guard': hello(async (app) => {
    await app.register(fastifyGuard)
    // fastify-guard reads request.user.scope: a hook puts the caller's scopes there. (The
    // cast: this project's types say request.user is the plugin's user; here it is not.)
    app.decorateRequest('user', null as never)
    app.addHook('onRequest', (request, _reply, done) => {
      (request as { user: unknown }).user = { scope: lookUp(table, request) ?? [] }
      done()
    })
    return { preHandler: app.guard.scope(SCOPE) }
  })
} satisfies Record<string, Variant>

export const variants = { ...coreVariants, ...backendVariants, ...scaleVariants } satisfies Record<string, Variant>

export type VariantName = keyof typeof variants
export type CoreVariantName = keyof typeof coreVariants
export const coreVariantNames = Object.keys(coreVariants) as CoreVariantName[]

/** A server for one variant, over HTTP or for WebSocket handshakes. */
export async function build (name: VariantName, mode: Mode): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  if (mode === 'ws') await app.register(websocket)
  await (variants[name] as Variant).build(app, mode)
  return app
}
