import { KeyObject, hash, webcrypto } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { JWTVerifyGetKey, JWTVerifyOptions } from 'jose' with { 'resolution-mode': 'import' }
import { isThenable, type AuthenticationBackend, type AuthenticationResult, type BackendAnswer } from '../backend'
import { AuthCredentials } from '../credentials'
import { AuthenticationError } from '../errors'
import type { AuthenticatedUser, Scope } from '../types'
import { BaseUser } from '../users'
import { bearer, type BearerVerify } from './bearer'
import { checkOptionNames, recognised } from './recognised'

type Jose = typeof import('jose', { with: { 'resolution-mode': 'import' } })

const ALGORITHM_NAMES = [
  'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'ML-DSA-44', 'ML-DSA-65', 'ML-DSA-87'
] as const

/** A verified token's payload (RFC 7519 §4.1), frozen. */
export interface JwtClaims {
  readonly iss?: string
  readonly sub?: string
  readonly aud?: string | readonly string[]
  readonly exp?: number
  readonly nbf?: number
  readonly iat?: number
  readonly jti?: string
  readonly [claim: string]: unknown
}

/** The default user: known by `sub`, named by `name`, else `preferred_username`, else `sub`. */
export class JwtUser extends BaseUser {
  readonly claims: JwtClaims & { readonly sub: string }

  constructor (claims: JwtClaims & { readonly sub: string }) {
    super()
    this.claims = claims
  }

  get isAuthenticated (): boolean { return true }
  get identity (): string { return this.claims.sub }
  get displayName (): string {
    const { name, preferred_username: username, sub } = this.claims
    return typeof name === 'string' && name !== ''
      ? name
      : typeof username === 'string' && username !== '' ? username : sub
  }
}

type Awaitable<T> = T | PromiseLike<T>

/** The JWS algorithms jose verifies; `none` is not one of them. */
export type JwtAlgorithm = typeof ALGORITHM_NAMES[number]

interface JwtCommonOptions {
  /** The algorithms to accept, like `['RS256']` (RFC 8725 §3.1). Required. */
  algorithms: readonly JwtAlgorithm[]
  /** Accept only tokens with this `iss` (or one of these). */
  issuer?: string | readonly string[]
  /** Accept only tokens whose `aud` holds this audience (or one of these). */
  audience?: string | readonly string[]
  /** Seconds of leeway for `exp` and `nbf`. */
  clockTolerance?: number
  /** The protection space named in every challenge: `Bearer realm="…"`. */
  realm?: string
  /** The caller's scopes; by default from `scope` (space-separated) or `scp`. Runs once per token. */
  scopes?: (claims: JwtClaims) => Awaitable<readonly Scope[]>
  /** Whether a verified token has been revoked: checked on every request, cached token or not. */
  isRevoked?: (claims: JwtClaims, request: FastifyRequest) => Awaitable<boolean>
}

type JwtUserFactory = (claims: JwtClaims) => Awaitable<AuthenticatedUser | null | undefined>

/** `user` may be left out only when a `JwtUser` is a user of the app (see `AuthenticationTypes`). */
type JwtUserOption = JwtUser extends AuthenticatedUser
  ? { /** The caller; `null` refuses the token. By default a `JwtUser`. Runs once per token. */ user?: JwtUserFactory }
  : { /** The caller; `null` refuses the token. Runs once per token. */ user: JwtUserFactory }

type JwtKeyOption =
  | { /** An HMAC secret, or a public key. */ secret: string | Uint8Array | KeyObject, jwks?: never }
  | { /** The URL of a JSON Web Key Set, like `'https://issuer.example/.well-known/jwks.json'`. */ jwks: string, secret?: never }

export type JwtOptions = JwtKeyOption & JwtCommonOptions & JwtUserOption

const OPTION_NAMES = ['secret', 'jwks', 'algorithms', 'issuer', 'audience', 'clockTolerance', 'realm', 'scopes', 'user', 'isRevoked'] as const
const ALGORITHMS = new Set<string>(ALGORITHM_NAMES)
const HMAC = /^HS(\d+)$/
// An http: key set is only trusted on the machine itself.
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])
// Verified tokens remembered at most; past it the oldest is forgotten.
const CACHE_SIZE = 10_000

interface Settings {
  key: Uint8Array | KeyObject | URL
  verifyOptions: JWTVerifyOptions
  scopes: (claims: JwtClaims) => Awaitable<readonly Scope[] | undefined>
  user: JwtUserFactory
  isRevoked: JwtCommonOptions['isRevoked']
}

/**
 * JSON Web Tokens (RFC 7519) in `Authorization: Bearer`, verified with jose: `bearer()` with a
 * `verify` that checks the signature and claims, so every RFC 6750 answer is bearer's. A token
 * it cannot verify is a 401 `invalid_token`; a key set it cannot fetch is a 503.
 */
export function jwt (options: JwtOptions): AuthenticationBackend {
  const settings = checkOptions(options)
  const { algorithms } = options
  let verifyToken: BearerVerify = notSetUp
  return {
    ...bearer({ verify: (token, request) => verifyToken(token, request), realm: options.realm }),
    securityScheme: { name: 'jwt', definition: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    async setup (fastify) {
      const jose = await loadJose()
      const { key } = settings
      if (key instanceof URL) {
        verifyToken = verifier(settings, jose, remoteKeySet(jose, key))
        return
      }
      await checkKeyFits(jose, key, algorithms)
      const short = shortSecret(key, algorithms)
      if (short !== undefined) fastify.log.warn(short)
      verifyToken = verifier(settings, jose, await staticKey(key, algorithms))
    }
  }
}

function notSetUp (): never {
  throw new Error('fastify-authentication/jwt: the backend is not set up: pass it to the plugin, whose registration loads jose')
}

async function loadJose (): Promise<Jose> {
  try {
    return await import('jose')
  } catch (cause) {
    throw new Error('fastify-authentication/jwt needs jose: npm install jose', { cause })
  }
}

interface Verified {
  result: AuthenticationResult
  claims: JwtClaims
}

/**
 * jose verifies a forged token with each algorithm: a key that suits it fails on the signature,
 * one that does not (an RSA key for ES256, a secret for RS256) fails here, at startup.
 */
async function checkKeyFits (jose: Jose, key: Uint8Array | KeyObject, algorithms: readonly string[]): Promise<void> {
  for (const alg of algorithms) {
    const forged = `${jose.base64url.encode(JSON.stringify({ alg }))}.${jose.base64url.encode('{}')}.AA`
    const failure: unknown = await jose.jwtVerify(forged, key, { algorithms: [alg] }).catch((error: unknown) => error)
    if (!(failure instanceof jose.errors.JWSSignatureVerificationFailed)) {
      throw new TypeError(`fastify-authentication/jwt: the secret option cannot verify ${alg} tokens (${(failure as Error).message})`, { cause: failure })
    }
  }
}

/**
 * A secret or public key as jose's key function. An HMAC secret is imported into WebCrypto once
 * for each algorithm: given as bytes, jose would import it again for every token it verifies.
 * A public key goes as it is: jose keeps its WebCrypto form.
 */
async function staticKey (key: Uint8Array | KeyObject, algorithms: readonly string[]): Promise<JWTVerifyGetKey> {
  const secret = key instanceof KeyObject ? (key.type === 'secret' ? key.export() : undefined) : key
  if (secret === undefined) return () => key
  // checkKeyFits let a secret through: every algorithm is HS256, HS384 or HS512.
  const imported = new Map<string, webcrypto.CryptoKey>()
  for (const alg of algorithms) {
    imported.set(alg, await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify']))
  }
  // jose asks only for an algorithm the options allow.
  return (header) => imported.get(header.alg as string) as webcrypto.CryptoKey
}

function verifier (settings: Settings, jose: Jose, key: JWTVerifyGetKey): BearerVerify {
  const { verifyOptions, isRevoked } = settings
  const verifyJwt = (token: string) => jose.jwtVerify(token, key, verifyOptions)
  // By the SHA-256 digest of the token; an entry never outlives the token's exp.
  const cache = new Map<string, Verified & { expiresAt: number }>()

  async function verifyAndRemember (token: string, digest: string, request: FastifyRequest): Promise<BackendAnswer> {
    let claims: JwtClaims
    try {
      claims = frozen((await verifyJwt(token)).payload)
    } catch (error) {
      // jose's own errors are the token's fault: a bad signature, a claim, an algorithm, no matching key.
      if (error instanceof jose.errors.JOSEError) return null
      throw error
    }
    const verified = await caller(claims, settings)
    if (verified === null) return null
    const expiresAt = verified.result.auth.expiresAt
    if (expiresAt !== undefined && expiresAt > Date.now()) {
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string)
      cache.set(digest, { ...verified, expiresAt })
    }
    return unlessRevoked(verified, request, isRevoked)
  }

  return (token, request) => {
    const digest = hash('sha256', token)
    const cached = cache.get(digest)
    if (cached === undefined) return verifyAndRemember(token, digest, request)
    if (cached.expiresAt > Date.now()) return unlessRevoked(cached, request, isRevoked)
    cache.delete(digest)
    return verifyAndRemember(token, digest, request)
  }
}

/**
 * The key set at the configured URL only, never one the token names (`jku`, `x5u`). jose caches
 * it and refetches at most once per cooldown for an unknown `kid`, so unknown kids cause no storm.
 * A key set it cannot fetch or read is the server's failure: 503, not the token's 401.
 */
function remoteKeySet (jose: Jose, url: URL): JWTVerifyGetKey {
  const keySet = jose.createRemoteJWKSet(url)
  return async (header, token) => {
    try {
      return await keySet(header, token)
    } catch (error) {
      if (error instanceof jose.errors.JWKSNoMatchingKey || error instanceof jose.errors.JWKSMultipleMatchingKeys) throw error
      throw new AuthenticationError('Bearer tokens cannot be verified right now', { statusCode: 503, cause: error })
    }
  }
}

/** Who a verified token names, or `null` when its claims do not make a caller. */
async function caller (claims: JwtClaims, settings: Settings): Promise<Verified | null> {
  const scopes = await settings.scopes(claims)
  if (scopes === undefined) return null
  const user = await settings.user(claims)
  if (user == null) return null
  const { exp } = claims
  const auth = new AuthCredentials(scopes, { expiresAt: exp === undefined ? undefined : exp * 1000 })
  // Granted once per token here, so that bearer finds a cached caller complete and passes it on as it is.
  return { result: recognised({ auth, user }), claims }
}

function unlessRevoked (verified: Verified, request: FastifyRequest, isRevoked: Settings['isRevoked']): BackendAnswer | PromiseLike<BackendAnswer> {
  if (isRevoked === undefined) return verified.result
  const revoked = isRevoked(verified.claims, request)
  return isThenable(revoked) ? revoked.then((settled) => answer(verified, settled)) : answer(verified, revoked)
}

function answer (verified: Verified, revoked: unknown): BackendAnswer {
  if (typeof revoked !== 'boolean') throw new TypeError('fastify-authentication/jwt: isRevoked(claims, request) must return true or false')
  return revoked ? null : verified.result
}

/**
 * RFC 9068 §2.2.3 / RFC 8693 §4.2: `scope` is a space-separated string; `scp` (a common
 * alternative) a string or an array. `undefined` when they are malformed: the token is refused.
 */
function scopesOfClaims (claims: JwtClaims): readonly Scope[] | undefined {
  const { scope, scp } = claims
  if (scope !== undefined) return typeof scope === 'string' ? spaceSeparated(scope) : undefined
  if (scp === undefined) return []
  if (typeof scp === 'string') return spaceSeparated(scp)
  // The token's scopes are whatever its issuer wrote: an app that narrowed Scope matches only its own.
  return Array.isArray(scp) && scp.every(isNonEmptyString) ? scp as Scope[] : undefined
}

function spaceSeparated (scopes: string): Scope[] {
  return scopes.split(' ').filter(isNonEmptyString) as Scope[]
}

/** A token without a subject names nobody: refused. (The types ask for `user` when a JwtUser is not one of the app's users.) */
function defaultUser (claims: JwtClaims): AuthenticatedUser | null {
  return isNonEmptyString(claims.sub) ? new JwtUser(claims as JwtClaims & { sub: string }) as BaseUser as AuthenticatedUser : null
}

/** The payload is JSON from the token: freezing it keeps a cached caller the same on every request. */
function frozen<T> (value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) frozen(item)
    Object.freeze(value)
  }
  return value
}

function checkOptions (options: JwtOptions): Settings {
  checkOptionNames(options, OPTION_NAMES, 'fastify-authentication/jwt', '{ secret or jwks, algorithms }')
  const { secret, jwks, algorithms, issuer, audience, clockTolerance, scopes, user, isRevoked }: Partial<Record<typeof OPTION_NAMES[number], unknown>> = options
  if ((secret === undefined) === (jwks === undefined)) {
    throw new TypeError('fastify-authentication/jwt: give exactly one of the secret and jwks options')
  }
  checkAlgorithms(algorithms)
  for (const [name, value] of Object.entries({ issuer, audience })) {
    if (value !== undefined && !isNonEmptyString(value) && !(Array.isArray(value) && value.length > 0 && value.every(isNonEmptyString))) {
      throw new TypeError(`fastify-authentication/jwt: the ${name} option must be a non-empty string or a non-empty array of them`)
    }
  }
  if (clockTolerance !== undefined && !(typeof clockTolerance === 'number' && clockTolerance >= 0 && Number.isFinite(clockTolerance))) {
    throw new TypeError('fastify-authentication/jwt: the clockTolerance option must be a number of seconds, 0 or more')
  }
  for (const [name, value] of Object.entries({ scopes, user, isRevoked })) {
    if (value !== undefined && typeof value !== 'function') throw new TypeError(`fastify-authentication/jwt: the ${name} option must be a function`)
  }
  return {
    key: jwks === undefined ? secretKey(secret) : keySetUrl(jwks, algorithms),
    verifyOptions: { algorithms: [...algorithms], issuer, audience, clockTolerance } as JWTVerifyOptions,
    scopes: (scopes ?? scopesOfClaims) as Settings['scopes'],
    user: (user ?? defaultUser) as JwtUserFactory,
    isRevoked: isRevoked as Settings['isRevoked']
  }
}

function checkAlgorithms (algorithms: unknown): asserts algorithms is readonly string[] {
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new TypeError('fastify-authentication/jwt: the algorithms option is required: the algorithms to accept, like [\'RS256\'] (RFC 8725 §3.1)')
  }
  for (let i = 0; i < algorithms.length; i++) {
    if (!ALGORITHMS.has(algorithms[i])) {
      throw new TypeError(`fastify-authentication/jwt: algorithms[${i}] is not a JWS algorithm jose verifies (one of ${[...ALGORITHMS].join(', ')}; never none)`)
    }
  }
}

/** A secret or a public key: a copy, so that changing the caller's buffer changes nothing. */
function secretKey (secret: unknown): Uint8Array | KeyObject {
  // Whether a key fits each algorithm (a private key fits none) is jose's to say: see checkKeyFits.
  if (secret instanceof KeyObject) return secret
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret instanceof Uint8Array ? new Uint8Array(secret) : undefined
  if (bytes === undefined) throw new TypeError('fastify-authentication/jwt: the secret option must be a string, a Uint8Array or a KeyObject')
  return bytes
}

/**
 * RFC 7518 §3.2: an HMAC key as long as the hash output, at least. A shorter one still verifies
 * (jose and the issuers that share it accept it), so it is a warning at startup, not a refusal.
 */
function shortSecret (key: Uint8Array | KeyObject, algorithms: readonly string[]): string | undefined {
  const length = key instanceof KeyObject ? (key.type === 'secret' ? key.export().length : Infinity) : key.length
  for (const algorithm of algorithms) {
    const bits = HMAC.exec(algorithm)?.[1]
    if (bits !== undefined && length * 8 < Number(bits)) {
      return `fastify-authentication/jwt: the secret is shorter than the ${Number(bits) / 8} bytes RFC 7518 §3.2 requires for ${algorithm}; use a longer random secret`
    }
  }
  return undefined
}

function keySetUrl (jwks: unknown, algorithms: readonly string[]): URL {
  const url = typeof jwks === 'string' && URL.canParse(jwks) ? new URL(jwks) : undefined
  if (url === undefined || !(url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname)))) {
    throw new TypeError('fastify-authentication/jwt: the jwks option must be the https: URL of a JSON Web Key Set (http: only for localhost)')
  }
  const hmac = algorithms.find((algorithm) => HMAC.test(algorithm))
  if (hmac !== undefined) {
    throw new TypeError(`fastify-authentication/jwt: the algorithms option lists ${hmac}, but a JSON Web Key Set holds public keys; an HMAC secret goes in the secret option`)
  }
  return url
}

function isNonEmptyString (value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}
