import type { FastifyInstance } from 'fastify'
import { authenticate, judge } from './authenticate'
import { checkOptions, type AuthenticationOptions } from './options'
import { prepareRoute, refuseMisplacedScopeGuards } from './prepare-route'
import { rootOf, storeRegistration } from './registration'

const kInstalled = Symbol('fastify-authentication.installed')

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
  root.decorateRequest('auth', null as never)
  root.decorateRequest('user', null as never)
  // The plugin's own state (kRecognisedBy, kFailure) is no decorator: Fastify would set it on
  // every request through a megamorphic keyed store; it is written only where it has a value.
  // addHook on the root reaches every scope, those created before this registration too.
  root.addHook('onRequest', authenticate)
  root.addHook('preParsing', judge)
  root.addHook('onReady', refuseMisplacedScopeGuards)
}
