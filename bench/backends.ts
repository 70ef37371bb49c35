// The ready-made backends against their peers, each next to the same job written by hand in an
// onRequest hook: a bearer key, a Basic user-id and password, an HS256 JWT. Every one of them
// answers a good credential with the hello and a bad one with 401; the plugin's route asks for
// `authenticated`, the scope its backends grant every caller they recognise, so that a request
// without credentials gets 401 too, as from the peers.
import { hash } from 'node:crypto'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import basicAuth from '@fastify/basic-auth'
import bearerAuth from '@fastify/bearer-auth'
import fastifyJwt from '@fastify/jwt'
import authentication, { AuthCredentials, SimpleUser, type AuthenticationResult } from 'fastify-authentication'
import { basic, safeEqual } from 'fastify-authentication/basic'
import { bearer } from 'fastify-authentication/bearer'
import { jwt } from 'fastify-authentication/jwt'
import { ACCEPTED_TOKEN, BASIC_PASSWORD, BASIC_USER, JWT_SECRET, REALM, SCOPE, tokenOf } from './tokens'
import { hello, refuse, type Variant } from './variant'

const caller: AuthenticationResult = { auth: new AuthCredentials([SCOPE]), user: new SimpleUser(BASIC_USER) }
const guarded = { config: { requires: 'authenticated' } }

/** A bearer token's SHA-256 digest: a lookup by digest says nothing, by its timing, about the keys held. */
function digest (token: string): string {
  return hash('sha256', token)
}

/** Both halves compared in constant time, whichever differs: the rule the three Basic variants follow. */
function checkPassword (username: string, password: string): boolean {
  const user = safeEqual(username, BASIC_USER)
  const secret = safeEqual(password, BASIC_PASSWORD)
  return user && secret
}

/** `Basic <base64 of user-id:password>` checked by hand: whether it names the user with the right password. */
function basicAccepts (header: string | undefined): boolean {
  if (header === undefined || !header.startsWith('Basic ')) return false
  const pair = Buffer.from(header.slice(6), 'base64').toString()
  const colon = pair.indexOf(':')
  return colon !== -1 && checkPassword(pair.slice(0, colon), pair.slice(colon + 1))
}

const BEARER_CHALLENGE = `Bearer realm="${REALM}"`
const BASIC_CHALLENGE = `Basic realm="${REALM}", charset="UTF-8"`

// One key: @fastify/bearer-auth compares the key sent with each key it holds, so one is its best case.
const keyDigests = new Set([digest(ACCEPTED_TOKEN)])

export const backendVariants = {
  'bearer-inline': hello(async () => ({
    onRequest (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
      const token = tokenOf(request.headers.authorization)
      if (token !== undefined && keyDigests.has(digest(token))) return done()
      refuse(reply, 401, BEARER_CHALLENGE)
    }
  })),
  'bearer-plugin': hello(async (app) => {
    await app.register(authentication, { backend: bearer({ tokens: { [ACCEPTED_TOKEN]: caller }, realm: REALM }) })
    return guarded
  }),
  'bearer-peer': hello(async (app) => {
    await app.register(bearerAuth, { keys: [ACCEPTED_TOKEN] })
    return {}
  }),
  'basic-inline': hello(async () => ({
    onRequest (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
      if (basicAccepts(request.headers.authorization)) return done()
      refuse(reply, 401, BASIC_CHALLENGE)
    }
  })),
  'basic-plugin': hello(async (app) => {
    const backend = basic({ verify: (username, password) => checkPassword(username, password) ? caller : null, realm: REALM })
    await app.register(authentication, { backend })
    return guarded
  }),
  'basic-peer': hello(async (app) => {
    await app.register(basicAuth, {
      validate (username, password, _request, _reply, done) {
        done(checkPassword(username, password) ? undefined : new Error('Invalid username or password'))
      },
      // The challenge on every 401, as the plugin's basic() sends it.
      authenticate: { realm: REALM }
    })
    return { onRequest: app.basicAuth }
  }),
  'jwt-inline': hello(async () => {
    const { jwtVerify } = await import('jose')
    const key = new TextEncoder().encode(JWT_SECRET)
    const accepts = async (header: string | undefined): Promise<boolean> => {
      const token = tokenOf(header)
      if (token === undefined) return false
      try {
        await jwtVerify(token, key, { algorithms: ['HS256'] })
        return true
      } catch {
        return false
      }
    }
    return {
      async onRequest (request: FastifyRequest, reply: FastifyReply) {
        if (!await accepts(request.headers.authorization)) return refuse(reply, 401, BEARER_CHALLENGE)
      }
    }
  }),
  'jwt-plugin': hello(async (app) => {
    await app.register(authentication, { backend: jwt({ secret: JWT_SECRET, algorithms: ['HS256'], realm: REALM }) })
    return guarded
  }),
  // @fastify/jwt in its default configuration, verified as its README does.
  'jwt-peer': hello(async (app) => {
    await app.register(fastifyJwt, { secret: JWT_SECRET })
    return {
      async onRequest (request: FastifyRequest, reply: FastifyReply) {
        try {
          await request.jwtVerify()
        } catch (error) {
          return reply.send(error)
        }
      }
    }
  })
} satisfies Record<string, Variant>
