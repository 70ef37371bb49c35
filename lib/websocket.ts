import type { FastifyRequest } from 'fastify'

/**
 * Whether a request is a WebSocket handshake. `request.ws` is set by `@fastify/websocket`
 * when it is registered (and only once its own hook ran); the `Upgrade` header is what the
 * handshake itself carries, with or without that plugin. Either one is enough: treating a
 * doubtful request as a handshake can only make the answer a refusal (403).
 */
export function isWebSocketRequest (request: FastifyRequest): boolean {
  if ((request as { ws?: boolean }).ws === true) return true
  const upgrade = request.headers.upgrade
  return upgrade !== undefined && upgrade.toLowerCase().includes('websocket')
}
