// Bearer tokens (RFC 6750): reads `Authorization: Bearer <token>`, and asks `verify`, or looks the
// token up among static `tokens`, for who holds it.
import { hash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { checkResult, type AuthenticationBackend, type AuthenticationResult, type BackendAnswer } from './contract'
import type { AuthenticationError } from '../model/errors'
import { bearerRefusals } from './bearer-refusals'
import { admitted, checkOptionNames, checkRealm, credentialsOf, recognised } from './shared'

/** Who holds `token`: `{ auth, user }`, or `null`/`undefined` for a token it does not know. Sync or async. */
export type BearerVerify = (token: string, request: FastifyRequest) => BackendAnswer | PromiseLike<BackendAnswer>

/** Static tokens: each token and who holds it. */
export type BearerTokens = ReadonlyMap<string, AuthenticationResult> | Readonly<Record<string, AuthenticationResult>>

/** Exactly one of `verify` and `tokens`; `realm` goes into every challenge. */
export type BearerOptions =
  | { verify: BearerVerify, tokens?: never, realm?: string }
  | { tokens: BearerTokens, verify?: never, realm?: string }

const MODULE = 'fastify-authentication/bearer'
// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

/**
 * `Authorization: Bearer <token>` (RFC 6750 §2.1). No header, or another scheme: anonymous, and
 * the next backend has its say. A token that is missing or not b64token syntax: 400
 * `invalid_request`. A token that `verify` (or `tokens`) does not know: 401 `invalid_token`.
 * Every caller it recognises also gets the `authenticated` scope.
 */
export function bearer (options: BearerOptions): AuthenticationBackend {
  const settings = checkOptions(options)
  // Built once, thrown as often as needed (see admitted()).
  const { anonymous, insufficientScope, missing, malformed, token: { 'unknown-token': invalid } } = bearerRefusals(settings.realm)
  const lookup = 'verify' in settings ? verifiedTokens(settings.verify, invalid) : staticTokens(settings.byDigest, invalid)

  return {
    credential: 'authorization:bearer',
    challenge: anonymous,
    insufficientScope,
    refusalStatuses: [400, 401],
    securityScheme: { name: 'bearer', definition: { type: 'http', scheme: 'bearer' } },
    authenticate (request) {
      const token = credentialsOf(request, 'bearer')
      if (token === undefined) return null
      if (!B64TOKEN.test(token)) throw token === '' ? missing : malformed
      return lookup(token, request)
    }
  }
}

type Lookup = (token: string, request: FastifyRequest) => AuthenticationResult | PromiseLike<AuthenticationResult>

/** `verify`'s answer, checked: an unknown token is a 401, a known one gains `authenticated`. */
function verifiedTokens (verify: BearerVerify, invalid: AuthenticationError): Lookup {
  return (token, request) => admitted(verify(token, request), invalid)
}

/**
 * Tokens keyed by their SHA-256 digest: the lookup compares digests, so its timing says nothing
 * about the length or any prefix of a stored token.
 */
function staticTokens (byDigest: ReadonlyMap<string, AuthenticationResult>, invalid: AuthenticationError): Lookup {
  return (token) => {
    const result = byDigest.get(hash('sha256', token))
    if (result === undefined) throw invalid
    return result
  }
}

/** The options, checked: `verify`, or the static tokens by their digest, each caller checked and `recognised`. */
type Settings = { realm: string | undefined } & ({ verify: BearerVerify } | { byDigest: ReadonlyMap<string, AuthenticationResult> })

function checkOptions (options: BearerOptions): Settings {
  // An unknown name is not echoed: bearer({ [token]: … }) for bearer({ tokens: { [token]: … } }) would print a token.
  checkOptionNames(options, ['verify', 'tokens', 'realm'], MODULE, '{ verify } or { tokens }, with an optional realm', false)
  const { verify, tokens, realm } = options as { verify?: unknown, tokens?: unknown, realm?: unknown }
  if ((verify === undefined) === (tokens === undefined)) {
    throw new TypeError(`${MODULE}: give exactly one of the verify and tokens options`)
  }
  if (verify !== undefined && typeof verify !== 'function') {
    throw new TypeError(`${MODULE}: the verify option must be a function (token, request)`)
  }
  const checkedRealm = checkRealm(realm, MODULE)
  return verify !== undefined
    ? { realm: checkedRealm, verify: verify as BearerVerify }
    : { realm: checkedRealm, byDigest: tokensByDigest(tokens) }
}

function tokensByDigest (tokens: unknown): Map<string, AuthenticationResult> {
  const entries = tokens instanceof Map ? [...tokens] : isPlainObject(tokens) ? Object.entries(tokens) : undefined
  if (entries === undefined || entries.length === 0) {
    throw new TypeError(`${MODULE}: the tokens option must be a non-empty Map or object from token to { auth, user }`)
  }
  const byDigest = new Map<string, AuthenticationResult>()
  for (const [token, result] of entries) {
    if (typeof token !== 'string' || !B64TOKEN.test(token)) {
      throw new TypeError(`${MODULE}: every key of the tokens option must be a token of RFC 6750 b64token syntax (letters, digits, -._~+/ then any =)`)
    }
    byDigest.set(hash('sha256', token), recognised(checkedEntry(result)))
  }
  return byDigest
}

function checkedEntry (value: unknown): AuthenticationResult {
  const problem = `${MODULE}: every value of the tokens option must be { auth: AuthCredentials, user: BaseUser }`
  let result: AuthenticationResult | null
  try {
    result = checkResult(value)
  } catch (cause) {
    throw new TypeError(problem, { cause })
  }
  if (result === null) throw new TypeError(problem)
  return result
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}
