import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { request, type Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http'
import { text } from 'node:stream/consumers'
import { connect, type AddressInfo, type Server } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { AuthCredentials, AuthenticationError, SimpleUser, type AuthenticationBackend } from '../lib/index'
import type { AuthenticatedMessage, RefusedMessage } from '../lib/request/events'

/** Starlette's test backend: HTTP Basic, any password, every user gets 'authenticated'. */
export const basicAuth: AuthenticationBackend = {
  authenticate (request: FastifyRequest) {
    const header = request.headers.authorization
    if (header === undefined) return null
    const [scheme, credentials, ...rest] = header.split(' ')
    const decoded = Buffer.from(credentials ?? '', 'base64').toString('latin1')
    if (scheme.toLowerCase() !== 'basic' || rest.length > 0 || !decoded.includes(':')) {
      throw new AuthenticationError('Invalid basic auth credentials')
    }
    return { auth: new AuthCredentials(['authenticated']), user: new SimpleUser(decoded.slice(0, decoded.indexOf(':'))) }
  }
}

export function basic (username: string, password = 'example'): string {
  return 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64')
}

/** Listens on 127.0.0.1 with an ephemeral port; closes with the test. */
export async function listen (app: FastifyInstance, t: { teardown: (fn: () => unknown) => void }): Promise<{ http: string, ws: string }> {
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  return { http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` }
}

export interface Answer { status: number, headers: IncomingHttpHeaders, body: string }

/**
 * One real GET with node:http, which sends the path and headers as given (no normalisation).
 * Without an agent the request has a connection of its own, closed with the answer whatever the
 * headers ask. A request not answered within `timeout` ms fails; `timeout: false` sets no
 * client-side timer, for tests that count the live timers.
 */
export function get (
  origin: string,
  path: string,
  headers: OutgoingHttpHeaders = {},
  { agent = false, timeout = 5000 }: { agent?: Agent | false, timeout?: number | false } = {}
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(origin)
    const req = request({ host: hostname, port, path, headers, agent })
    if (timeout !== false) req.setTimeout(timeout, () => req.destroy(new Error(`no answer to ${JSON.stringify(path)} within ${timeout} ms`)))
    req.on('response', (res) => {
      text(res).then((body) => {
        if (agent === false) req.destroy()
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body })
      }, reject)
    })
    // The server upgraded the request (101): the answer, without keeping the socket.
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' })
    })
    req.on('error', reject)
    req.end()
  })
}

/**
 * A real WebSocket handshake: 101 if the server upgraded (the socket is then dropped), else the
 * refusal's status once the client has let go of the socket; 0 if nothing answered in time.
 */
export function upgradeStatus (url: string, headers: Record<string, string> = {}, timeout = 5000): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers, handshakeTimeout: timeout })
    socket.on('upgrade', () => { socket.terminate(); resolve(101) })
    socket.on('unexpected-response', (request, response) => {
      response.resume()
      response.on('end', () => {
        request.destroy()
        resolve(response.statusCode ?? 0)
      })
    })
    socket.on('error', () => resolve(0))
  })
}

/** Polls (for up to 5 s) until the server holds no connection; returns the last count. */
export async function drained (server: Server): Promise<number> {
  const connections = (): Promise<number> => new Promise((resolve, reject) => {
    server.getConnections((error, count) => error === null ? resolve(count) : reject(error))
  })
  let count = await connections()
  for (let i = 0; i < 250 && count > 0; i++) {
    await sleep(20)
    count = await connections()
  }
  return count
}

export type Handshake =
  | { opened: true, message: string }
  | { opened: false, status: number, headers: Record<string, string | string[] | undefined>, body: string }

/**
 * Opens a real WebSocket: either the first message the server sends once it upgraded,
 * or the HTTP response that refused the upgrade, with its headers and body.
 */
export function handshake (url: string, headers: Record<string, string> = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers })
    socket.on('message', (data) => {
      resolve({ opened: true, message: String(data) })
      socket.close()
    })
    socket.on('unexpected-response', (_request, response) => {
      text(response).then((body) => {
        resolve({ opened: false, status: response.statusCode ?? 0, headers: response.headers, body })
        socket.terminate()
      }, reject)
    })
    socket.on('error', reject)
  })
}

/** A pino destination that keeps every log line (one per write), for asserting what was (and was not) logged. */
export function logLines (): {
  stream: { write: (line: string) => void }
  lines: string[]
  entries: () => Array<Record<string, unknown>>
  messages: () => string[]
} {
  const lines: string[] = []
  const entries = (): Array<Record<string, unknown>> => lines.map((line) => JSON.parse(line))
  return {
    stream: { write: (line: string) => { lines.push(line) } },
    lines,
    entries,
    messages: () => entries().map((entry) => {
      const { msg, err } = entry as { msg?: string, err?: { message?: string } }
      return err?.message ?? msg ?? ''
    })
  }
}

/** An answer read off a raw socket: the status line's code, the head as sent, and the body. */
export interface RawAnswer { status: number, head: string, body: string }

/**
 * One request written on a raw TCP connection exactly as given: `Upgrade: websocket` with no
 * `Connection: upgrade` is what the stolen ticket was sent with. Resolves once the whole answer
 * (Content-Length) came.
 */
export async function rawRequest (origin: string, method: string, path: string, headers: Record<string, string>): Promise<RawAnswer> {
  const { hostname, port } = new URL(origin)
  const socket = connect(Number(port), hostname)
  socket.on('error', () => {})
  await once(socket, 'connect')
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)]
  socket.write(lines.join('\r\n') + '\r\n\r\n')
  let received = ''
  socket.setEncoding('latin1')
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no whole answer to ${method} ${path} within 5 s: ${received}`)) }, 5000)
    socket.on('data', (chunk: string) => {
      received += chunk
      const end = received.indexOf('\r\n\r\n')
      const length = /\r\ncontent-length: (\d+)/i.exec(received.slice(0, end))
      if (end === -1 || length === null || received.length < end + 4 + Number(length[1])) return
      clearTimeout(timer)
      socket.destroy()
      resolve({ status: Number(received.slice(9, 12)), head: received.slice(0, end), body: received.slice(end + 4) })
    })
  })
}

/** The messages the plugin publishes while the test runs: its refusals and the callers it recognised. */
export function record (t: Test): { refused: RefusedMessage[], authenticated: AuthenticatedMessage[] } {
  const refused: RefusedMessage[] = []
  const authenticated: AuthenticatedMessage[] = []
  const onRefused = (message: unknown): void => { refused.push(message as RefusedMessage) }
  const onAuthenticated = (message: unknown): void => { authenticated.push(message as AuthenticatedMessage) }
  subscribe('fastify-authentication:refused', onRefused)
  subscribe('fastify-authentication:authenticated', onAuthenticated)
  t.teardown(() => {
    unsubscribe('fastify-authentication:refused', onRefused)
    unsubscribe('fastify-authentication:authenticated', onAuthenticated)
  })
  return { refused, authenticated }
}

/** A real handshake offering `demo` and the ticket, as the demo page does: the greeting, or the refusal's status. */
export function withTicket (url: string, ticket: string): Promise<{ protocol: string, message: string } | { status: number }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, ['demo', 'ticket.' + ticket])
    socket.on('message', (data) => { resolve({ protocol: socket.protocol, message: String(data) }); socket.close() })
    socket.on('unexpected-response', (request, response) => { response.resume(); request.destroy(); resolve({ status: response.statusCode ?? 0 }) })
    socket.on('error', reject)
  })
}

/** The JSON body of a refusal the plugin sends: Fastify's error shape plus the reason (issue 23). */
export function refusalBody (statusCode: number, message: string, reason: string): string {
  const error = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 503: 'Service Unavailable' }[statusCode]
  return JSON.stringify({ statusCode, code: 'FST_AUTHENTICATION_' + reason.toUpperCase().replaceAll('-', '_'), error, message, reason })
}
