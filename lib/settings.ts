import type { FastifyInstance, FastifyRequest } from 'fastify'

/** What the registered plugin tells the guards, which are built before it (by `requires()`). */
export interface Settings {
  readonly challenge: string | undefined
}

const kSettings = Symbol('fastify-authentication.settings')

export function storeSettings (fastify: FastifyInstance, settings: Settings): void {
  fastify.decorate(kSettings, settings)
}

/** The settings of the plugin that covers this request's route (guards call it only when it does). */
export function settingsOf (request: FastifyRequest): Settings {
  return (request.server as FastifyInstance & { [kSettings]: Settings })[kSettings]
}
