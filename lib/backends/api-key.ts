// API keys: reads a key from a request header or a cookie (RFC 9110 §5, RFC 6265 §5.4), and asks
// `verify` who it belongs to. No RFC names a scheme for them: the challenge is FastAPI's.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AuthenticationBackend, BackendAnswer } from './contract'
import { AuthenticationError } from '../model/errors'
import { admitted, checkOptionNames, isToken } from './shared'

/** Who `key` belongs to: `{ auth, user }`, or `null`/`undefined` for an unknown key, sync or async. */
export type VerifyKey = (key: string, request: FastifyRequest) => BackendAnswer | PromiseLike<BackendAnswer>

/** Where the key is: exactly one of `header` and `cookie`. */
export type ApiKeyOptions =
  | { header: string, cookie?: never, verify: VerifyKey }
  | { cookie: string, header?: never, verify: VerifyKey }

const MODULE = 'fastify-authentication/api-key'
// FastAPI's scheme name for API keys; there is no registered one.
const challenge = 'APIKey'
// Built once, thrown as often as needed (see admitted()).
const invalid = new AuthenticationError('Invalid API key', { statusCode: 401, challenge, reason: 'unknown-token' })
const repeated = new AuthenticationError('The API key header was sent more than once', { statusCode: 400, reason: 'malformed-credentials' })

/**
 * An API key in a header or a cookie. No key: anonymous. An unknown key: 401 with
 * `WWW-Authenticate: APIKey`; a header sent twice: 400. Every caller `verify` recognises is
 * granted `authenticated` too.
 */
export function apiKey (options: ApiKeyOptions): AuthenticationBackend {
  const { verify, header, cookie } = checkOptions(options)
  // Header names are case-insensitive (RFC 9110 §5.1), cookie names are not.
  const name = header?.toLowerCase()
  const keyOf = name !== undefined ? headerReader(name) : cookieReader(cookie as string)

  return {
    credential: name !== undefined ? `header:${name}` : `cookie:${cookie}`,
    challenge,
    refusalStatuses: [400, 401],
    securityScheme: {
      name: 'apiKey',
      definition: header !== undefined ? { type: 'apiKey', in: 'header', name: header } : { type: 'apiKey', in: 'cookie', name: cookie }
    },
    authenticate (request) {
      const key = keyOf(request)
      // An empty key is no key, as in FastAPI: nothing to verify.
      if (key === undefined || key === '') return null
      return admitted(verify(key, request), invalid)
    },
    setup (fastify: FastifyInstance) {
      // Its onRequest hook fills request.cookies, and must run before the plugin's.
      if (cookie !== undefined && !fastify.hasRequestDecorator('cookies')) {
        throw new Error(`${MODULE}: the cookie option reads request.cookies: register @fastify/cookie before fastify-authentication`)
      }
    }
  }
}

type KeyReader = (request: FastifyRequest) => string | undefined

/**
 * The header `name` (lower case), read from the raw headers: Node joins a repeated header's
 * values with ", " in `request.headers`, or keeps only the first (for `authorization`, say).
 * Twice is ambiguous, and refused: never `"attacker, victim"` nor the first of two keys.
 */
function headerReader (name: string): KeyReader {
  return (request) => {
    const raw = request.raw.rawHeaders
    let key: string | undefined
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i].length !== name.length || raw[i].toLowerCase() !== name) continue
      if (key !== undefined) throw repeated
      key = raw[i + 1]
    }
    return key
  }
}

function cookieReader (name: string): KeyReader {
  return (request) => {
    const { cookies } = request as FastifyRequest & { cookies: Record<string, string | undefined> | null }
    if (cookies === null) {
      throw new Error(`${MODULE}: request.cookies was not parsed yet: register @fastify/cookie with its default hook, onRequest`)
    }
    return cookies[name]
  }
}

/** The options, checked: exactly one of `header` and `cookie`, each a name as given. */
interface Settings {
  verify: VerifyKey
  header: string | undefined
  cookie: string | undefined
}

function checkOptions (options: ApiKeyOptions): Settings {
  // Fastify logs every request's URL at info level before any hook runs, and so do proxies: a key
  // there leaks, whatever this backend does.
  if (typeof options === 'object' && options !== null && 'query' in options) {
    throw new TypeError(`${MODULE}: the query option is not supported: the query string is written to request logs and proxies; send the key in a header (header: 'x-api-key') or a cookie (cookie: 'api_key')`)
  }
  checkOptionNames(options, ['header', 'cookie', 'verify'], MODULE, '{ header, verify }')
  const { header, cookie, verify } = options
  if ((header === undefined) === (cookie === undefined)) {
    throw new TypeError(`${MODULE}: give exactly one of the header and cookie options`)
  }
  if (header !== undefined && !isToken(header)) {
    throw new TypeError(`${MODULE}: the header option must be a header name, like 'x-api-key'`)
  }
  if (cookie !== undefined && !isToken(cookie)) {
    throw new TypeError(`${MODULE}: the cookie option must be a cookie name, like 'api_key'`)
  }
  if (typeof verify !== 'function') {
    throw new TypeError(`${MODULE}: the verify option must be a function (key, request)`)
  }
  return { verify, header, cookie }
}
