// What the benchmarked servers and the load share: tokens, secrets, callers, and the pieces every
// hand-written check is made of (a Map lookup, a refusal serialized once).
import { STATUS_CODES } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteShorthandOptions } from 'fastify'
import { AuthCredentials, SimpleUser, type AuthenticationBackend, type AuthenticationResult } from 'fastify-authentication'

/** The scope every core route needs; the accepted token holds it, the denied one does not. */
export const SCOPE = 'read'
export const ACCEPTED_TOKEN = 'token-accepted'
export const DENIED_TOKEN = 'token-denied'
export const REALM = 'api'
export const BASIC_USER = 'alice'
export const BASIC_PASSWORD = 'correct horse battery staple'
/** HS256 secrets (RFC 7518 §3.2: at least 32 bytes): the servers', and one they do not know. */
export const JWT_SECRET = 'jwt-secret-of-thirty-two-bytes-or-more'
export const FOREIGN_JWT_SECRET = 'another-secret-the-servers-do-not-know'

export type Check = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void

export function bearer (token: string): string {
  return `Bearer ${token}`
}

export function basicCredentials (username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
}

/** The token in an `Authorization: Bearer <token>` header, or undefined. */
export function tokenOf (header: string | undefined): string | undefined {
  return header !== undefined && header.startsWith('Bearer ') ? header.slice(7) : undefined
}

/** The core callers, token → scopes, with 2,000 more users so that the Map is not trivially small. */
export function tokenTable (): Map<string, readonly string[]> {
  const table = new Map<string, readonly string[]>([[ACCEPTED_TOKEN, [SCOPE, 'profile']], [DENIED_TOKEN, ['profile']]])
  for (let i = 0; i < 2000; i++) table.set(`token-user-${i}`, i % 2 === 0 ? [SCOPE, 'profile'] : ['profile'])
  return table
}

/** Each caller's `{ auth, user }`, built once, as a backend with a user store would keep them. */
export function answersOf (table: ReadonlyMap<string, readonly string[]>): Map<string, AuthenticationResult> {
  return new Map([...table].map(([token, scopes]) => [token, { auth: new AuthCredentials(scopes), user: new SimpleUser(token) }]))
}

export function lookUp<T> (table: ReadonlyMap<string, T>, request: FastifyRequest): T | undefined {
  const token = tokenOf(request.headers.authorization)
  return token === undefined ? undefined : table.get(token)
}

/** A sync backend doing the inline check's Map lookup. */
export function tableBackend (answers: ReadonlyMap<string, AuthenticationResult>): AuthenticationBackend {
  return { authenticate: (request) => lookUp(answers, request) }
}

const bodies: Record<number, string> = {}

/** How a hand-written check refuses: Fastify's `{ statusCode, error, message }`, serialized once per status. */
export function refuse (reply: FastifyReply, statusCode: 401 | 403, challenge?: string): FastifyReply {
  const body = bodies[statusCode] ??= JSON.stringify({
    statusCode, error: STATUS_CODES[statusCode], message: statusCode === 401 ? 'Authentication required' : 'Missing required scope'
  })
  if (challenge !== undefined) reply.header('www-authenticate', challenge)
  return reply.code(statusCode).type('application/json; charset=utf-8').send(body)
}

/** The floor any auth layer pays: read the header, look the token up, refuse with a JSON 403. */
export function inlineCheck (table: ReadonlyMap<string, readonly string[]>): Check {
  return function inlineCheck (request, reply, done) {
    if (lookUp(table, request)?.includes(SCOPE) === true) return done()
    refuse(reply, 403)
  }
}

const HELLO = { hello: 'world' }

export function sendHello (_request: FastifyRequest, reply: FastifyReply): void {
  reply.send(HELLO)
}

/** A server's setup: registers what it needs and its routes. */
export type App = (app: FastifyInstance) => Promise<void>

/** An app serving `GET /hello` with the route options `setup` returns. */
export function hello (setup: (app: FastifyInstance) => Promise<RouteShorthandOptions>): App {
  return async (app) => {
    app.get('/hello', await setup(app), sendHello)
  }
}

/** `count` distinct HS256 tokens (each its own `sub`), valid for a day: signed before the load. */
export async function jwtTokens (count: number, secret = JWT_SECRET): Promise<string[]> {
  const { SignJWT } = await import('jose')
  const key = new TextEncoder().encode(secret)
  const tokens: string[] = []
  for (let i = 0; i < count; i++) {
    tokens.push(await new SignJWT({ scope: SCOPE }).setProtectedHeader({ alg: 'HS256' }).setSubject(`user-${i}`).setIssuedAt().setExpirationTime('1d').sign(key))
  }
  return tokens
}
