import type { IncomingMessage } from 'node:http'
import type { FastifyRequest } from 'fastify'

interface ClosableSocket {
  close: (code: number, reason: string) => void
  removeAllListeners: (event: 'message') => unknown
  terminate: () => void
  once: (event: 'close', listener: () => void) => unknown
}
interface SocketServer {
  on: (event: 'connection', listener: (socket: ClosableSocket, request: IncomingMessage) => void) => unknown
}

// Node's timers fire at once past 2^31-1 ms (24.8 days): a longer wait is taken in steps.
const LONGEST_TIMER = 2 ** 31 - 1
// RFC 6455 §7.4.1: 1008, "policy violation", the generic code for a message against policy.
const POLICY_VIOLATION = 1008
const REASON = 'authentication credentials expired'
// How long the 1008 close frame has to reach the client before the connection is destroyed.
const GRACE = 1000

// When the credentials of an accepted handshake expire, until its socket opens.
const expiries = new WeakMap<IncomingMessage, number>()
const watched = new WeakSet<SocketServer>()

/**
 * Makes the socket of an accepted handshake close with 1008 when `request.auth` expires, hand
 * its handler nothing more, and be destroyed `GRACE` ms later (at once if they expired before it opened). The
 * handshake is upgraded by `@fastify/websocket` after the hooks ran, through its `ws` server:
 * its `connection` event hands over the socket with the raw request, which leads back here.
 */
export function closeWhenExpired (request: FastifyRequest, expiresAt: number): void {
  const server = (request.server as { websocketServer?: SocketServer }).websocketServer
  if (server === undefined) return
  expiries.set(request.raw, expiresAt)
  if (watched.has(server)) return
  watched.add(server)
  server.on('connection', (socket, raw) => {
    const at = expiries.get(raw)
    if (at !== undefined) closeAt(socket, at)
  })
}

function closeAt (socket: ClosableSocket, expiresAt: number): void {
  // Credentials that expired between the handshake's hooks and the upgrade: no socket for them.
  if (expiresAt <= Date.now()) return socket.terminate()
  let timer: NodeJS.Timeout | undefined
  const wait = (): void => {
    const left = expiresAt - Date.now()
    if (left > 0) {
      timer = setTimeout(wait, Math.min(left, LONGEST_TIMER))
      return
    }
    // After close(), ws reads on and emits every message until the client's close frame comes,
    // which a client may put off (RFC 6455 §5.5.1): the handler's listeners go, so that no
    // message reaches it past the expiry, while the close frame can still end the connection
    // cleanly; the grace bounds how long a client that ignores it keeps the connection.
    socket.close(POLICY_VIOLATION, REASON)
    socket.removeAllListeners('message')
    timer = setTimeout(() => socket.terminate(), GRACE)
  }
  // No timer outlives its socket, whoever closes it first.
  socket.once('close', () => clearTimeout(timer))
  wait()
}
