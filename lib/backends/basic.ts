// HTTP Basic authentication (RFC 7617): reads `Authorization: Basic <base64 user-id:password>`,
// and asks `verify` who the pair belongs to.
import { hash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { AuthenticationBackend, BackendAnswer } from './contract'
import { AuthenticationError } from '../model/errors'
import { admitted, checkOptionNames, checkRealm, credentialsOf, formatChallenge } from './shared'

export interface BasicOptions {
  /**
   * Who the user-id and password belong to: `{ auth, user }`, or `null`/`undefined` for an unknown
   * pair, sync or async. Compare secrets with `safeEqual`.
   */
  verify: (username: string, password: string, request: FastifyRequest) => BackendAnswer | PromiseLike<BackendAnswer>
  /** The protection space named in the challenge, shown by browsers in their prompt. Default: `'api'`. */
  realm?: string
}

const MODULE = 'fastify-authentication/basic'
// Decodes every byte or throws: RFC 7617 §2.1 names UTF-8, and a stray byte means malformed, not U+FFFD.
// A leading BOM stays part of the user-id, as any other character would.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
// RFC 7617 §2: neither the user-id nor the password may contain a CTL; with charset="UTF-8" their
// PRECIS profiles (§2.1, RFC 8265) refuse the C1 controls as well. \p{Cc} is both.
const control = /\p{Cc}/u

/**
 * HTTP Basic authentication (RFC 7617). No `Authorization` header, or another scheme: anonymous.
 * Malformed or unknown credentials: 401 with the challenge, so that a browser prompts again.
 * Every caller `verify` recognises is granted `authenticated` too.
 */
export function basic (options: BasicOptions): AuthenticationBackend {
  const { verify, realm } = checkOptions(options)
  const challenge = formatChallenge('Basic', { realm, charset: 'UTF-8' })
  // Built once, thrown as often as needed (see admitted()).
  const malformed = new AuthenticationError('Malformed Basic credentials', { statusCode: 401, challenge, reason: 'malformed-credentials' })
  // One refusal for any pair verify does not know: nothing the client sees says whether the
  // user-id or the password was wrong (the reason is the server's: wrong-password).
  const unknown = new AuthenticationError('Invalid username or password', { statusCode: 401, challenge, reason: 'wrong-password' })

  return {
    credential: 'authorization:basic',
    challenge,
    refusalStatuses: [401],
    securityScheme: { name: 'basic', definition: { type: 'http', scheme: 'basic' } },
    authenticate (request) {
      const credentials = credentialsOf(request, 'basic')
      if (credentials === undefined) return null
      const pair = decode(credentials)
      if (pair === undefined) throw malformed
      return admitted(verify(pair.username, pair.password, request), unknown)
    },
    claimedIdentity (request) {
      const credentials = credentialsOf(request, 'basic')
      return credentials === undefined ? undefined : decode(credentials)?.username
    }
  }
}

/**
 * Whether two strings are equal, in a time that tells nothing about where they differ or how long
 * either is: compares fixed-size SHA-256 digests with `timingSafeEqual`. For `verify`:
 * `safeEqual(password, user.password)`.
 */
export function safeEqual (a: string, b: string): boolean {
  // Hashed as UTF-16 code units: a string's UTF-8 encoding turns every lone surrogate into U+FFFD,
  // which would make '\uD800' equal '\uDC00'.
  return timingSafeEqual(digest(a), digest(b))
}

/** The user-id and password that `credentials` encode, or `undefined` if they do not follow RFC 7617 §2. */
function decode (credentials: string): { username: string, password: string } | undefined {
  const bytes = Buffer.from(credentials, 'base64')
  // Buffer.from skips foreign characters and accepts base64url and missing padding: only the
  // canonical encoding of what it decoded is strict base64 (RFC 4648 §4).
  if (bytes.toString('base64') !== credentials) return undefined
  let userPass: string
  try {
    userPass = utf8.decode(bytes)
  } catch {
    return undefined
  }
  // user-pass = user-id ":" password, and a user-id has no colon: the first one splits them.
  const colon = userPass.indexOf(':')
  if (colon === -1 || control.test(userPass)) return undefined
  return { username: userPass.slice(0, colon), password: userPass.slice(colon + 1) }
}

function digest (text: string): Buffer {
  return hash('sha256', Buffer.from(text, 'utf16le'), 'buffer')
}

/** The options, checked, with the default realm. */
interface Settings {
  verify: BasicOptions['verify']
  realm: string
}

function checkOptions (options: BasicOptions): Settings {
  checkOptionNames(options, ['verify', 'realm'], MODULE, '{ verify, realm }')
  const { verify, realm } = options
  if (typeof verify !== 'function') {
    throw new TypeError(`${MODULE}: the verify option must be a function (username, password, request)`)
  }
  return { verify, realm: checkRealm(realm, MODULE) ?? 'api' }
}
