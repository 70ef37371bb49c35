import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * Whether a request is a WebSocket handshake. `request.ws` is set by `@fastify/websocket`
 * when it is registered (and only once its own hook ran); the `Upgrade` header is what the
 * handshake itself carries, with or without that plugin. Either one is enough: treating a
 * doubtful request as a handshake can only make the answer a refusal (403).
 */
export function isWebSocketRequest (request: FastifyRequest): boolean {
  if ((request as { ws?: boolean | null }).ws === true) return true
  const upgrade = request.headers.upgrade
  return upgrade !== undefined && upgrade.toLowerCase().includes('websocket')
}

/**
 * Makes the server close a handshake's connection once it answered without upgrading
 * (an upgrade hijacks the reply, which then never finishes). Node closes its own connections
 * when the response says `Connection: close`; `@fastify/websocket` hands a handshake to Fastify
 * on a socket that no HTTP server watches and only its own `onResponse` hook destroys, and that
 * hook skips requests whose `onRequest` flag a refusal came before (RFC 6455 §4.2.2: a server
 * that does not accept the handshake answers with an HTTP status and may close).
 */
export function closeAfterAnswer (request: FastifyRequest, reply: FastifyReply): void {
  reply.raw.shouldKeepAlive = false
  reply.raw.once('finish', () => {
    const socket = request.raw.socket
    socket.end(() => socket.destroy())
  })
}
