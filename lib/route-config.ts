import type { FastifyContextConfig, FastifyRequest } from 'fastify'

export type RouteConfig = FastifyContextConfig & { url?: string, method?: string | string[] }

/** Reads the public getter, which builds a 12-field object on every read to hand out one field. */
const publicConfig = (request: FastifyRequest): RouteConfig => request.routeOptions.config
let read: ((request: FastifyRequest) => RouteConfig) | undefined

/**
 * The config of the request's route. Fastify keeps it on the route context under a symbol;
 * on the first request that symbol is looked up by its description and kept only if it gives
 * the very object the public getter does. Otherwise (a future Fastify) the getter is used.
 */
export function routeConfig (request: FastifyRequest): RouteConfig {
  return (read ??= reader(request))(request)
}

function reader (request: FastifyRequest): (request: FastifyRequest) => RouteConfig {
  const kContext = Object.getOwnPropertySymbols(request).find((symbol) => symbol.description === 'fastify.context')
  type WithContext = FastifyRequest & Record<symbol, { config?: RouteConfig } | undefined>
  if (kContext === undefined || (request as WithContext)[kContext]?.config !== publicConfig(request)) return publicConfig
  return (request) => (request as WithContext)[kContext]!.config!
}
