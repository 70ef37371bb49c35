import type { AddressInfo } from 'node:net'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import WebSocket from 'ws'
import { AuthCredentials, AuthenticationError, SimpleUser, type AuthenticationBackend } from '../lib/index'

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
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => {
        resolve({ opened: false, status: response.statusCode ?? 0, headers: response.headers, body })
        socket.terminate()
      })
    })
    socket.on('error', reject)
  })
}

/** A pino destination that keeps every log line, for asserting what was (and was not) logged. */
export function logLines (): { stream: { write: (line: string) => void }, lines: string[], messages: () => string[] } {
  const lines: string[] = []
  return {
    stream: { write: (line: string) => { lines.push(line) } },
    lines,
    messages: () => lines.map((line) => {
      const { msg, err } = JSON.parse(line) as { msg?: string, err?: { message?: string } }
      return err?.message ?? msg ?? ''
    })
  }
}
