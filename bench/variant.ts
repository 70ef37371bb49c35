// What the benchmarked servers are made of: a variant registers what it needs and its routes;
// the hand-written checks refuse with answers serialized once; the plugin's sync backends look
// the caller up in a Map, as the inline check does.
import { STATUS_CODES } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteShorthandOptions } from 'fastify'
import { AuthCredentials, SimpleUser, type AuthenticationBackend, type AuthenticationResult } from 'fastify-authentication'
import { SCOPE, tokenOf } from './tokens'

export type Mode = 'http' | 'ws'

export interface Variant {
  /** Registers what the variant needs, and its routes (`@fastify/websocket` is registered first in ws mode). */
  build: (app: FastifyInstance, mode: Mode) => Promise<void>
}

const HELLO = { hello: 'world' }
const JSON_TYPE = 'application/json; charset=utf-8'
const bodies = new Map<number, string>()

/**
 * How a hand-written check refuses: Fastify's `{ statusCode, error, message }` shape, serialized
 * once per status, with a `WWW-Authenticate` challenge for a 401.
 */
export function refuse (reply: FastifyReply, statusCode: 401 | 403, challenge?: string): FastifyReply {
  let body = bodies.get(statusCode)
  if (body === undefined) {
    body = JSON.stringify({ statusCode, error: STATUS_CODES[statusCode], message: statusCode === 401 ? 'Authentication required' : 'Missing required scope' })
    bodies.set(statusCode, body)
  }
  if (challenge !== undefined) reply.header('www-authenticate', challenge)
  return reply.code(statusCode).header('content-type', JSON_TYPE).send(body)
}

/** Every HTTP route's handler. */
export function sendHello (_request: FastifyRequest, reply: FastifyReply): void {
  reply.send(HELLO)
}

/** A variant serving `GET /hello` (or the WebSocket route `GET /ws`), with the route options `setup` returns. */
export function hello (setup: (app: FastifyInstance) => Promise<RouteShorthandOptions>): Variant {
  return {
    async build (app, mode) {
      const guard = await setup(app)
      if (mode === 'ws') {
        app.get('/ws', { ...guard, websocket: true }, () => {})
      } else {
        app.get('/hello', guard, sendHello)
      }
    }
  }
}

/** The caller's entry in a table keyed by bearer token, or undefined. */
export function lookUp<T> (table: ReadonlyMap<string, T>, request: FastifyRequest): T | undefined {
  const token = tokenOf(request.headers.authorization)
  return token === undefined ? undefined : table.get(token)
}

/** The same, a microtask later: what an async backend, or an async hand-written check, waits for. */
export async function lookUpLater<T> (table: ReadonlyMap<string, T>, request: FastifyRequest): Promise<T | undefined> {
  return lookUp(table, request)
}

/** The floor any auth layer pays: read the header, look the token up, refuse with a JSON 403. */
export function inlineCheck (table: ReadonlyMap<string, readonly string[]>): (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
  return function inlineCheck (request, reply, done) {
    if (lookUp(table, request)?.includes(SCOPE) === true) return done()
    refuse(reply, 403)
  }
}

/** Each caller's `{ auth, user }`, built once per token, as a backend with a user store would keep them. */
export function answersOf (table: ReadonlyMap<string, readonly string[]>): Map<string, AuthenticationResult> {
  const answers = new Map<string, AuthenticationResult>()
  for (const [token, scopes] of table) {
    answers.set(token, { auth: new AuthCredentials(scopes), user: new SimpleUser(token) })
  }
  return answers
}

/** A sync backend doing the inline check's Map lookup. */
export function tableBackend (table: ReadonlyMap<string, readonly string[]>): AuthenticationBackend {
  const answers = answersOf(table)
  return { authenticate: (request) => lookUp(answers, request) }
}
