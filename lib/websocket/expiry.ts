import type { IncomingMessage } from 'node:http'
import type { FastifyRequest } from 'fastify'

interface ClosableSocket {
  close: (code: number, reason: string) => void
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

// When the credentials of an accepted handshake expire, until its socket opens.
const expiries = new WeakMap<IncomingMessage, number>()
const watched = new WeakSet<SocketServer>()

/**
 * Makes the socket of an accepted handshake close with 1008 when `request.auth` expires. The
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
  let timer: NodeJS.Timeout | undefined
  const wait = (): void => {
    const left = expiresAt - Date.now()
    if (left <= 0) return socket.close(POLICY_VIOLATION, REASON)
    timer = setTimeout(wait, Math.min(left, LONGEST_TIMER))
  }
  // No timer outlives its socket, whoever closes it first.
  socket.once('close', () => clearTimeout(timer))
  wait()
}
