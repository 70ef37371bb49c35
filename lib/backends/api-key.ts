import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AuthenticationBackend, BackendAnswer } from '../backend'
import { AuthenticationError } from '../errors'
import { admitted, checkOptionNames } from './recognised'

/** Who `key` belongs to: `{ auth, user }`, or `null`/`undefined` for an unknown key, sync or async. */
export type VerifyKey = (key: string, request: FastifyRequest) => BackendAnswer | PromiseLike<BackendAnswer>

/** Where the key is: exactly one of `header`, `cookie` or `query`. */
export type ApiKeyOptions =
  | { header: string, cookie?: never, query?: never, verify: VerifyKey }
  | { cookie: string, header?: never, query?: never, verify: VerifyKey }
  | { query: string, header?: never, cookie?: never, verify: VerifyKey }

// FastAPI's scheme name for API keys; there is no registered one.
const challenge = 'APIKey'
// Built once, thrown as often as needed (see admitted()).
const invalid = new AuthenticationError('Invalid API key', { statusCode: 401, challenge })
// A header field name (RFC 9110 §5.1) and a cookie name (RFC 6265 §4.1.1) are both tokens.
const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * An API key in a header, a cookie or the query string. No key: anonymous. An unknown key: 401
 * with `WWW-Authenticate: APIKey`. Every caller `verify` recognises is granted `authenticated` too.
 */
export function apiKey (options: ApiKeyOptions): AuthenticationBackend {
  const { verify, header, cookie, query } = checkOptions(options)
  const keyOf = reader(options)

  return {
    challenge,
    securityScheme: {
      name: 'apiKey',
      definition: header !== undefined
        ? { type: 'apiKey', in: 'header', name: header }
        : cookie !== undefined ? { type: 'apiKey', in: 'cookie', name: cookie } : { type: 'apiKey', in: 'query', name: query }
    },
    authenticate (request) {
      const key = keyOf(request)
      // An empty key is no key, as in FastAPI: nothing to verify.
      if (key === undefined || key === '') return null
      // Twice in the query (?key=a&key=b), or an object from a custom query parser: ambiguous, refused.
      if (typeof key !== 'string') throw invalid
      return admitted(verify(key, request), invalid)
    },
    setup (fastify: FastifyInstance) {
      // Its onRequest hook fills request.cookies, and must run before the plugin's.
      if (cookie !== undefined && !fastify.hasRequestDecorator('cookies')) {
        throw new Error('fastify-authentication/api-key: the cookie option reads request.cookies: register @fastify/cookie before fastify-authentication')
      }
    }
  }
}

/** Reads the key from the one place the options name; the value is whatever that place holds. */
function reader ({ header, cookie, query }: ApiKeyOptions): (request: FastifyRequest) => unknown {
  if (header !== undefined) {
    // Node lower-cases the names in request.headers.
    const name = header.toLowerCase()
    return (request) => request.headers[name]
  }
  if (cookie !== undefined) {
    return (request) => {
      const { cookies } = request as FastifyRequest & { cookies: Record<string, string | undefined> | null }
      if (cookies === null) {
        throw new Error('fastify-authentication/api-key: request.cookies was not parsed yet: register @fastify/cookie with its default hook, onRequest')
      }
      return cookies[cookie]
    }
  }
  return (request) => (request.query as Record<string, unknown>)[query as string]
}

function checkOptions (options: ApiKeyOptions): ApiKeyOptions {
  checkOptionNames(options, ['header', 'cookie', 'query', 'verify'], 'fastify-authentication/api-key', '{ header, verify }')
  const { header, cookie, query, verify } = options
  const places = [header, cookie, query].filter((place) => place !== undefined)
  if (places.length !== 1) {
    throw new TypeError('fastify-authentication/api-key: give exactly one of the header, cookie and query options')
  }
  if (header !== undefined && !isToken(header)) {
    throw new TypeError('fastify-authentication/api-key: the header option must be a header name, like \'x-api-key\'')
  }
  if (cookie !== undefined && !isToken(cookie)) {
    throw new TypeError('fastify-authentication/api-key: the cookie option must be a cookie name, like \'api_key\'')
  }
  if (query !== undefined && (typeof query !== 'string' || query === '')) {
    throw new TypeError('fastify-authentication/api-key: the query option must be a non-empty parameter name, like \'api_key\'')
  }
  if (typeof verify !== 'function') {
    throw new TypeError('fastify-authentication/api-key: the verify option must be a function (key, request)')
  }
  return options
}

function isToken (name: unknown): boolean {
  return typeof name === 'string' && token.test(name)
}
