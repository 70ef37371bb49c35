import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * Whether a request may be a WebSocket handshake, for REFUSING: `request.ws` is set by
 * `@fastify/websocket` when it is registered (and only once its own hook ran); the `Upgrade`
 * header is what the handshake itself carries, with or without that plugin. Either one is
 * enough: here treating a doubtful request as a handshake can only turn the answer into a
 * refusal (403). Never use it to admit a caller: see `isUpgrade`.
 */
export function isWebSocketRequest (request: FastifyRequest): boolean {
  if ((request as { ws?: boolean | null }).ws === true) return true
  const upgrade = request.headers.upgrade
  return upgrade !== undefined && upgrade.toLowerCase().includes('websocket')
}

/**
 * Whether a request is a WebSocket handshake as Node and `ws` see it, for ADMITTING (tickets):
 * a `GET` with `Upgrade: websocket` (RFC 6455 §4.1, §4.2.1) that Node handed to its upgrade
 * path. Node's HTTP parser leaves `upgrade` true on the request only then: with
 * `Connection: upgrade` too, on a server that listens for upgrades. With the `Upgrade` header
 * alone the request is ordinary HTTP, answered by the route's handler, which a credential good
 * for handshakes only must never reach.
 */
export function isUpgrade (request: FastifyRequest): boolean {
  // `IncomingMessage.upgrade`: set on every request Node parses, though its type definitions leave it out.
  return (request.raw as { upgrade?: unknown }).upgrade === true && request.method === 'GET' &&
    request.headers.upgrade?.toLowerCase() === 'websocket'
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
