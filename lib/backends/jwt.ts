// JSON Web Tokens (RFC 7519) as bearer tokens: reads `Authorization: Bearer <JWT>` (RFC 6750)
// through bearer(), and verifies the token's signature (RFC 7515) and claims with jose, with a
// secret, a public key, or a JSON Web Key Set fetched from a URL (RFC 7517).
import { KeyObject, hash, webcrypto } from 'node:crypto'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { JWSHeaderParameters, JWTVerifyOptions } from 'jose' with { 'resolution-mode': 'import' }
import { isThenable, type AuthenticationBackend, type AuthenticationResult, type BackendAnswer } from './contract'
import { AuthCredentials } from '../model/credentials'
import { AuthenticationError } from '../model/errors'
import type { AuthenticatedUser, Scope } from '../model/types'
import { BaseUser } from '../model/users'
import { bearer, type BearerVerify } from './bearer'
import { bearerRefusals, type TokenReason } from './bearer-refusals'
import { checkOptionNames, checkRealm, recognised } from './shared'

type Jose = typeof import('jose', { with: { 'resolution-mode': 'import' } })
type JOSEError = InstanceType<Jose['errors']['JOSEError']>

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
  /** Seconds of leeway for `exp` and `nbf`; a token accepted within it expires that much later. */
  clockTolerance?: number
  /** Whether a token must carry `exp` (RFC 9068 §2.2). `true` unless `false` is given. */
  requireExpiration?: boolean
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

/** Accept only tokens with this `iss` (or one of these); `null` accepts any issuer. */
type JwtIssuer = string | readonly string[] | null
/** Accept only tokens whose `aud` holds this audience (or one of these); `null` accepts any audience. */
type JwtAudience = string | readonly string[] | null

/** With `jwks`, `issuer` and `audience` are required (RFC 8725 §3.8–3.9, RFC 9068 §4): `null` says any will do. */
type JwtKeyOption =
  | { /** An HMAC secret, or a public key. */ secret: string | Uint8Array | KeyObject, jwks?: never, issuer?: JwtIssuer, audience?: JwtAudience }
  | { /** The URL of a JSON Web Key Set, like `'https://issuer.example/.well-known/jwks.json'`. */ jwks: string, secret?: never, issuer: JwtIssuer, audience: JwtAudience }

export type JwtOptions = JwtKeyOption & JwtCommonOptions & JwtUserOption

const MODULE = 'fastify-authentication/jwt'
const ALGORITHM_NAMES = [
  'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'ML-DSA-44', 'ML-DSA-65', 'ML-DSA-87'
] as const
const OPTION_NAMES = ['secret', 'jwks', 'algorithms', 'issuer', 'audience', 'clockTolerance', 'requireExpiration', 'realm', 'scopes', 'user', 'isRevoked'] as const
const ALGORITHMS = new Set<string>(ALGORITHM_NAMES)
const HMAC = /^HS(\d+)$/
// An http: key set is only trusted on the machine itself.
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])
// Verified tokens remembered at most; past it the oldest is forgotten.
const CACHE_SIZE = 10_000
// While the key set cannot be fetched, the next fetch waits 1 s, twice as long after each failure, 60 s at most.
const FIRST_RETRY = 1000
const LAST_RETRY = 60_000
// The 503s while the key set cannot be fetched, by their Retry-After (see keySetUnavailable).
const UNAVAILABLE = new Map<number | undefined, AuthenticationError>()
// A claim jose found wrong, as a reason; any other claim (a missing exp, a malformed iat) is an unknown-token.
const CLAIM_REASONS = new Map<string, TokenReason>([['nbf', 'not-yet-valid'], ['iat', 'not-yet-valid'], ['aud', 'wrong-audience'], ['iss', 'wrong-issuer']])
// What each required option is, for the error that asks for it (RFC 8725 §3.8–3.9, RFC 9068 §4).
const REQUIRED_WITH_JWKS = {
  issuer: 'the iss of the tokens to accept, like \'https://issuer.example\' (RFC 8725 §3.8, RFC 9068 §4); issuer: null accepts any issuer',
  audience: 'the aud this API answers to, like \'https://api.example\' (RFC 8725 §3.9, RFC 9068 §4); audience: null accepts any audience'
}

/**
 * JSON Web Tokens (RFC 7519) in `Authorization: Bearer`, verified with jose: `bearer()` with a
 * `verify` that checks the signature and claims, so every RFC 6750 answer is bearer's. A token
 * it cannot verify is a 401 `invalid_token` whose reason and `error_description` say why
 * (docs/refusals.md); a key set it cannot fetch is a 503.
 */
export function jwt (options: JwtOptions): AuthenticationBackend {
  const settings = checkOptions(options)
  // bearer() reads the header and builds every refusal; the token is verified once setup has loaded jose.
  let verifyToken: BearerVerify = notSetUp
  const { credential, challenge, insufficientScope, refusalStatuses, authenticate } = bearer({ verify: (token, request) => verifyToken(token, request), realm: settings.realm })

  return {
    credential,
    challenge,
    insufficientScope,
    // A key set it cannot fetch is a 503.
    refusalStatuses: settings.key instanceof URL ? [...refusalStatuses!, 503] : refusalStatuses,
    securityScheme: { name: 'jwt', definition: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    authenticate,
    async setup (fastify) {
      const jose = await loadJose()
      const { key, algorithms } = settings
      const refusals = tokenRefusals(jose, settings.realm)
      if (key instanceof URL) {
        verifyToken = verifier(settings, jose, remoteKeySet(jose, key, fastify.log), refusals)
        return
      }
      await checkKeyFits(jose, key, algorithms)
      for (const warning of settings.warnings) fastify.log.warn(warning)
      verifyToken = verifier(settings, jose, await staticKey(key, algorithms), refusals)
    }
  }
}

function notSetUp (): never {
  throw new Error(`${MODULE}: the backend is not set up: pass it to the plugin, whose registration loads jose`)
}

async function loadJose (): Promise<Jose> {
  try {
    return await import('jose')
  } catch (cause) {
    throw new Error(`${MODULE} needs jose: npm install jose`, { cause })
  }
}

/** The key that verifies a token with this header: the secret, the public key, or one from the key set. */
type KeyOf = (header: JWSHeaderParameters) => Awaitable<VerificationKey>
type VerificationKey = webcrypto.CryptoKey | KeyObject

/** A verified token's caller, and the claims `isRevoked` is asked about. */
interface Verified {
  result: AuthenticationResult
  claims: JwtClaims
}

/** A verified token in the cache: until when, and the key that verified it, found by the token's header. */
interface Remembered extends Verified {
  expiresAt: number
  header: JWSHeaderParameters
  key: VerificationKey
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
      throw new TypeError(`${MODULE}: the secret option cannot verify ${alg} tokens (${(failure as Error).message})`, { cause: failure })
    }
  }
}

/**
 * A secret or public key as jose's key function. An HMAC secret is imported into WebCrypto once
 * for each algorithm: given as bytes, jose would import it again for every token it verifies.
 * A public key goes as it is: jose keeps its WebCrypto form.
 */
async function staticKey (key: Uint8Array | KeyObject, algorithms: readonly string[]): Promise<KeyOf> {
  if (key instanceof KeyObject && key.type !== 'secret') return () => key
  const secret = key instanceof KeyObject ? key.export() : key
  // checkKeyFits let a secret through: every algorithm is HS256, HS384 or HS512.
  const imported = new Map<string, webcrypto.CryptoKey>()
  for (const alg of algorithms) {
    imported.set(alg, await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify']))
  }
  // jose asks only for an algorithm the options allow.
  return (header) => imported.get(header.alg as string) as webcrypto.CryptoKey
}

/** The 401 for a token jose refused, and for a revoked one: one AuthenticationError per reason, built once. */
interface TokenRefusals {
  of: (error: JOSEError) => AuthenticationError
  revoked: AuthenticationError
}

function tokenRefusals (jose: Jose, realm: string | undefined): TokenRefusals {
  const { token } = bearerRefusals(realm)
  const { errors } = jose
  // Checked in order: JWTExpired is a claim failure too.
  const byClass: Array<[new (...args: never[]) => JOSEError, TokenReason]> = [
    [errors.JWTExpired, 'expired'],
    [errors.JWSSignatureVerificationFailed, 'invalid-signature'],
    // An algorithm the options do not allow (none among them) cannot make a signature this API accepts.
    [errors.JOSEAlgNotAllowed, 'invalid-signature'],
    [errors.JWKSNoMatchingKey, 'unknown-key'],
    [errors.JWKSMultipleMatchingKeys, 'unknown-key']
  ]
  return {
    of (error) {
      for (const [type, reason] of byClass) if (error instanceof type) return token[reason]
      if (error instanceof errors.JWTClaimValidationFailed) return token[CLAIM_REASONS.get(error.claim) ?? 'unknown-token']
      // A token jose cannot read (JWSInvalid, JWTInvalid), a crit header it does not support.
      return token['unknown-token']
    },
    revoked: token.revoked
  }
}

function verifier (settings: Settings, jose: Jose, keyOf: KeyOf, refusals: TokenRefusals): BearerVerify {
  const { verifyOptions, isRevoked } = settings
  // By the SHA-256 digest of the token; an entry never outlives the token's expiry, nor its key.
  const cache = new Map<string, Remembered>()

  async function verifyAndRemember (token: string, digest: string, request: FastifyRequest): Promise<BackendAnswer> {
    cache.delete(digest)
    let key: VerificationKey | undefined
    let claims: JwtClaims
    let header: JWSHeaderParameters
    try {
      const verified = await jose.jwtVerify(token, async (protectedHeader) => (key = await keyOf(protectedHeader)), verifyOptions)
      claims = frozen(verified.payload)
      header = verified.protectedHeader
    } catch (error) {
      // jose's own errors are the token's fault: a bad signature, a claim, an algorithm, no matching key.
      if (error instanceof jose.errors.JOSEError) throw refusals.of(error)
      throw error
    }
    const verified = await caller(claims, settings)
    if (verified === null) return null
    const expiresAt = verified.result.auth.expiresAt
    if (expiresAt !== undefined && expiresAt > Date.now()) {
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string)
      cache.set(digest, { ...verified, expiresAt, header, key: key as VerificationKey })
    }
    return unlessRevoked(verified, request, isRevoked, refusals.revoked)
  }

  return (token, request) => {
    const digest = hash('sha256', token)
    const remembered = cache.get(digest)
    if (remembered === undefined || remembered.expiresAt <= Date.now()) return verifyAndRemember(token, digest, request)
    // The token's header still has to find the key that verified it: once jose has refetched a key
    // set without it, or cannot fetch the set, the token is verified again, as a new one would be.
    // (jose imports each key of a fetched set anew, so after a refetch every token is verified once more.)
    const answer = (key: VerificationKey): BackendAnswer | PromiseLike<BackendAnswer> =>
      key === remembered.key ? unlessRevoked(remembered, request, isRevoked, refusals.revoked) : verifyAndRemember(token, digest, request)
    const key = keyOf(remembered.header)
    return isThenable(key) ? key.then(answer, () => verifyAndRemember(token, digest, request)) : answer(key)
  }
}

/**
 * The key set at the configured URL only, never one the token names (`jku`, `x5u`). jose caches
 * it and refetches at most once per cooldown for an unknown `kid`, so unknown kids cause no storm.
 * A key set it cannot fetch or read is the server's failure: 503, not the token's 401. While it
 * cannot be fetched, jose's fetches go through `fetchKeySet`, which lets one through per backoff
 * step (1 s, doubling, at most 60 s) and fails the others at once: requests that need the set get
 * a 503 with `Retry-After`, and those that do not (a fresh set, a known `kid`) go on as before.
 */
function remoteKeySet (jose: Jose, url: URL, log: FastifyBaseLogger): KeyOf {
  let failures = 0
  let retryAt = 0

  async function fetchKeySet (resource: string, init: RequestInit): Promise<Response> {
    if (Date.now() < retryAt) throw new Error('the JSON Web Key Set is not fetched again before the backoff ends')
    try {
      const response = await fetch(resource, init)
      // What jose takes: a 200 whose body is a key set. Anything else is a failed fetch.
      if (response.status !== 200) throw new Error(`the server answered ${response.status}`)
      const keySet: unknown = await response.json()
      jose.createLocalJWKSet(keySet as Parameters<Jose['createLocalJWKSet']>[0])
      if (failures > 0) log.info(`${MODULE}: the JSON Web Key Set at ${url.href} is fetched again, after ${failures} failed attempts`)
      failures = 0
      return Response.json(keySet)
    } catch (error) {
      if (failures === 0) {
        log.error({ err: error }, `${MODULE}: the JSON Web Key Set at ${url.href} cannot be fetched; tokens that need it get 503 until it can, and it is fetched again after 1 s, then less often (60 s at most)`)
      }
      retryAt = Date.now() + Math.min(FIRST_RETRY * 2 ** failures, LAST_RETRY)
      failures++
      throw error
    }
  }

  const keySet = jose.createRemoteJWKSet(url, { [jose.customFetch]: fetchKeySet })
  return async (header) => {
    try {
      return await keySet(header)
    } catch (error) {
      if (error instanceof jose.errors.JWKSNoMatchingKey || error instanceof jose.errors.JWKSMultipleMatchingKeys) throw error
      // RFC 9110 §10.2.3: Retry-After in seconds, here until the next fetch.
      throw keySetUnavailable(failures > 0 ? Math.max(1, Math.ceil((retryAt - Date.now()) / 1000)) : undefined)
    }
  }
}

/**
 * The 503 for a key set that cannot be fetched or read, one per `Retry-After` value (none, or 1 to
 * 60 s), built on first use and thrown as often as needed. It carries no cause: a failed fetch is
 * logged once, when the outage begins.
 */
function keySetUnavailable (retryAfter: number | undefined): AuthenticationError {
  let refusal = UNAVAILABLE.get(retryAfter)
  if (refusal === undefined) {
    refusal = new AuthenticationError('Bearer tokens cannot be verified right now', { statusCode: 503, retryAfter, reason: 'unavailable' })
    UNAVAILABLE.set(retryAfter, refusal)
  }
  return refusal
}

/** Who a verified token names, or `null` when its claims do not make a caller. */
async function caller (claims: JwtClaims, settings: Settings): Promise<Verified | null> {
  const scopes = await settings.scopes(claims)
  if (scopes === undefined) return null
  const user = await settings.user(claims)
  if (user == null) return null
  // jose accepts the token until exp + clockTolerance: the credentials expire then, not before.
  const { exp } = claims
  const auth = new AuthCredentials(scopes, { expiresAt: exp === undefined ? undefined : (exp + settings.clockTolerance) * 1000 })
  // Granted once per token here, so that bearer finds a cached caller complete and passes it on as it is.
  return { result: recognised({ auth, user }), claims }
}

function unlessRevoked (
  verified: Verified, request: FastifyRequest, isRevoked: Settings['isRevoked'], refusal: AuthenticationError
): BackendAnswer | PromiseLike<BackendAnswer> {
  if (isRevoked === undefined) return verified.result
  const revoked = isRevoked(verified.claims, request)
  const answer = (settled: unknown): BackendAnswer => {
    if (typeof settled !== 'boolean') throw new TypeError(`${MODULE}: isRevoked(claims, request) must return true or false`)
    if (settled) throw refusal
    return verified.result
  }
  return isThenable(revoked) ? revoked.then(answer) : answer(revoked)
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

/** The options, checked: the key to verify with, what jose checks, and what makes a caller of the claims. */
interface Settings {
  key: Uint8Array | KeyObject | URL
  algorithms: readonly string[]
  verifyOptions: JWTVerifyOptions
  clockTolerance: number
  scopes: (claims: JwtClaims) => Awaitable<readonly Scope[] | undefined>
  user: JwtUserFactory
  isRevoked: JwtCommonOptions['isRevoked']
  realm: string | undefined
  /** What setup logs once jose has found the key fit: a short secret, a missing audience. */
  warnings: readonly string[]
}

function checkOptions (options: JwtOptions): Settings {
  checkOptionNames(options, OPTION_NAMES, MODULE, '{ secret or jwks, algorithms }')
  const { secret, jwks, algorithms, issuer, audience, clockTolerance = 0, requireExpiration = true, scopes, user, isRevoked, realm }: Partial<Record<typeof OPTION_NAMES[number], unknown>> = options
  if ((secret === undefined) === (jwks === undefined)) {
    throw new TypeError(`${MODULE}: give exactly one of the secret and jwks options`)
  }
  checkAlgorithms(algorithms)
  for (const [name, value] of Object.entries({ issuer, audience })) {
    if (value === undefined && jwks !== undefined) {
      throw new TypeError(`${MODULE}: with jwks, the ${name} option is required: ${REQUIRED_WITH_JWKS[name as keyof typeof REQUIRED_WITH_JWKS]}`)
    }
    if (value != null && !isNonEmptyString(value) && !(Array.isArray(value) && value.length > 0 && value.every(isNonEmptyString))) {
      throw new TypeError(`${MODULE}: the ${name} option must be a non-empty string, a non-empty array of them, or null`)
    }
  }
  if (!(typeof clockTolerance === 'number' && clockTolerance >= 0 && Number.isFinite(clockTolerance))) {
    throw new TypeError(`${MODULE}: the clockTolerance option must be a number of seconds, 0 or more`)
  }
  if (typeof requireExpiration !== 'boolean') {
    throw new TypeError(`${MODULE}: the requireExpiration option must be true or false`)
  }
  for (const [name, value] of Object.entries({ scopes, user, isRevoked })) {
    if (value !== undefined && typeof value !== 'function') throw new TypeError(`${MODULE}: the ${name} option must be a function`)
  }
  const key = jwks === undefined ? secretKey(secret) : keySetUrl(jwks, algorithms)
  return {
    key,
    algorithms,
    // RFC 9068 §2.2: exp is required in an access token, unless the app waives it.
    verifyOptions: {
      algorithms: [...algorithms], issuer: issuer ?? undefined, audience: audience ?? undefined, clockTolerance, requiredClaims: requireExpiration ? ['exp'] : []
    } as JWTVerifyOptions,
    clockTolerance,
    scopes: (scopes ?? scopesOfClaims) as Settings['scopes'],
    user: (user ?? defaultUser) as JwtUserFactory,
    isRevoked: isRevoked as Settings['isRevoked'],
    realm: checkRealm(realm, MODULE),
    warnings: key instanceof URL ? [] : secretWarnings(key, algorithms, audience)
  }
}

function checkAlgorithms (algorithms: unknown): asserts algorithms is readonly string[] {
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new TypeError(`${MODULE}: the algorithms option is required: the algorithms to accept, like ['RS256'] (RFC 8725 §3.1)`)
  }
  for (let i = 0; i < algorithms.length; i++) {
    if (!ALGORITHMS.has(algorithms[i])) {
      throw new TypeError(`${MODULE}: algorithms[${i}] is not a JWS algorithm jose verifies (one of ${[...ALGORITHMS].join(', ')}; never none)`)
    }
  }
}

/** A secret or a public key: a copy, so that changing the caller's buffer changes nothing. */
function secretKey (secret: unknown): Uint8Array | KeyObject {
  // Whether a key fits each algorithm (a private key fits none) is jose's to say: see checkKeyFits.
  if (secret instanceof KeyObject) return secret
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret instanceof Uint8Array ? new Uint8Array(secret) : undefined
  if (bytes === undefined) throw new TypeError(`${MODULE}: the secret option must be a string, a Uint8Array or a KeyObject`)
  return bytes
}

/**
 * What a secret or public key may still be wrong about, said at startup:
 * - RFC 7518 §3.2: an HMAC key as long as the hash output, at least. A shorter one still verifies
 *   (jose and the issuers that share it accept it), so it is a warning, not a refusal.
 * - RFC 8725 §3.9: with no audience, a token signed with the key is accepted whatever its aud.
 */
function secretWarnings (key: Uint8Array | KeyObject, algorithms: readonly string[], audience: unknown): string[] {
  const warnings: string[] = []
  const length = key instanceof KeyObject ? (key.type === 'secret' ? key.export().length : Infinity) : key.length
  const short = algorithms.find((algorithm) => length * 8 < Number(HMAC.exec(algorithm)?.[1] ?? 0))
  if (short !== undefined) {
    warnings.push(`${MODULE}: the secret is shorter than the ${Number(short.slice(2)) / 8} bytes RFC 7518 §3.2 requires for ${short}; use a longer random secret`)
  }
  if (audience === undefined) {
    warnings.push(`${MODULE}: no audience option, so a token signed with the secret is accepted whatever its aud (RFC 8725 §3.9); give the audience option, or audience: null to accept any`)
  }
  return warnings
}

function keySetUrl (jwks: unknown, algorithms: readonly string[]): URL {
  const url = typeof jwks === 'string' && URL.canParse(jwks) ? new URL(jwks) : undefined
  if (url === undefined || !(url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname)))) {
    throw new TypeError(`${MODULE}: the jwks option must be the https: URL of a JSON Web Key Set (http: only for localhost)`)
  }
  // fetch refuses them, and the URL is named in the log when the set cannot be fetched.
  if (url.username !== '' || url.password !== '') {
    throw new TypeError(`${MODULE}: the jwks option must not carry a user name or password: fetch refuses them`)
  }
  const hmac = algorithms.find((algorithm) => HMAC.test(algorithm))
  if (hmac !== undefined) {
    throw new TypeError(`${MODULE}: the algorithms option lists ${hmac}, but a JSON Web Key Set holds public keys; an HMAC secret goes in the secret option`)
  }
  return url
}

function isNonEmptyString (value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}
