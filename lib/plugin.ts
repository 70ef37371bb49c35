import type { FastifyInstance, FastifyRequest } from 'fastify'
import { authenticate, judge } from './request/authenticate'
import { checkOptions, type AuthenticationOptions } from './options'
import { prepareRoute } from './routes/prepare'
import { rootOf, storeRegistration } from './registration'

const kInstalled = Symbol('fastify-authentication.installed')
const kAuth = Symbol('fastify-authentication.auth')
const kUser = Symbol('fastify-authentication.user')

/** Where a request keeps its `auth` and `user`, once the plugin's hook has set them. */
type Kept = FastifyRequest & { [kAuth]?: FastifyRequest['auth'], [kUser]?: FastifyRequest['user'] }

/**
 * Registers one scope's authentication. The per-request hook is installed once, at the root,
 * so that it runs for every route of the app: each request is then authenticated by the
 * registration nearest to its route, and a route that none covers cannot slip through.
 */
export async function registerAuthentication (fastify: FastifyInstance, options: AuthenticationOptions): Promise<void> {
  const registration = checkOptions(options)
  storeRegistration(fastify, registration)
  for (const backend of registration.backends) await backend.setup?.(fastify)
  fastify.addHook('onRoute', prepareRoute)
  const root = rootOf(fastify) as FastifyInstance & { [kInstalled]?: true }
  if (root[kInstalled] === true) return
  root[kInstalled] = true
  // Accessors on the request's prototype, null until the plugin's hook sets them: Fastify sets a
  // value decorator on every request through a megamorphic keyed store, about 170 instructions
  // each. The plugin's own state (kRecognisedBy, kFailure) is no decorator at all for the same
  // reason: it is written only where it has a value.
  root.decorateRequest('auth', {
    getter (this: Kept) { return this[kAuth] ?? null as never },
    setter (this: Kept, auth) { this[kAuth] = auth }
  })
  root.decorateRequest('user', {
    getter (this: Kept) { return this[kUser] ?? null as never },
    setter (this: Kept, user) { this[kUser] = user }
  })
  // addHook on the root reaches every scope, those created before this registration too.
  root.addHook('onRequest', authenticate)
  root.addHook('preParsing', judge)
}
