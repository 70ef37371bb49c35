/**
 * Why the plugin refused a request: a stable code, the same in the `fastify-authentication:refused`
 * event, the debug log line, `error.reason` for `onError`, and the JSON body sent to the client
 * (where `code` is `FST_AUTHENTICATION_` and the reason in upper snake case). See docs/refusals.md.
 */
export type RefusalReason = keyof typeof REASON_WORDS

/** Each reason, and what it means in words: the debug log line says it. */
const REASON_WORDS = {
  'missing-credentials': 'no credentials were sent, and the route needs a caller',
  'malformed-credentials': 'the credentials do not follow their scheme\'s syntax',
  'invalid-signature': 'the token\'s signature does not verify',
  expired: 'the token has expired',
  'not-yet-valid': 'the token is not valid yet (nbf, or iat in the future)',
  'wrong-audience': 'the token is meant for another audience (aud)',
  'wrong-issuer': 'the token comes from another issuer (iss)',
  'unknown-key': 'no key verifies the token (its kid or alg matches none)',
  revoked: 'the token was revoked',
  'unknown-token': 'the backend does not know the token or key, or its claims name no caller',
  'wrong-password': 'the user-id and password match no user',
  'missing-scopes': 'the caller lacks the scopes a guard needs',
  'foreign-origin': 'a WebSocket handshake came from a page of another origin',
  unavailable: 'what the backend needs (a key set, store or upstream) cannot be reached',
  timeout: 'the backends took longer than the timeout option',
  'backend-error': 'a backend failed or broke its contract',
  'not-covered': 'a guard runs on a route no registration of the plugin covers',
  'locked-out': 'too many rejected credentials from this client or for this identity'
} as const

const REFUSAL_REASONS = Object.keys(REASON_WORDS) as RefusalReason[]

/** The debug log line of each reason, built once. */
const LOG_LINES = new Map(REFUSAL_REASONS.map((reason) => [reason, `fastify-authentication: refused (${reason}): ${REASON_WORDS[reason]}`]))

export function isRefusalReason (value: unknown): value is RefusalReason {
  return typeof value === 'string' && Object.hasOwn(REASON_WORDS, value)
}

/** The debug log line of a refusal: the reason in words. */
// The fields of each reason's log line, built once: a refusal's debug line allocates nothing.
const LOG_FIELDS = new Map(REFUSAL_REASONS.map((reason) => [reason, Object.freeze({ reason })]))

/** The fields of a refusal's log line: `{ reason }`. */
export function logFieldsOf (reason: RefusalReason): { readonly reason: RefusalReason } {
  return LOG_FIELDS.get(reason) as { readonly reason: RefusalReason }
}

export function logLineOf (reason: RefusalReason): string {
  return LOG_LINES.get(reason) as string
}

/** The `code` of a refusal's JSON body: `expired` → `FST_AUTHENTICATION_EXPIRED`. */
export function codeOf (reason: RefusalReason): string {
  return 'FST_AUTHENTICATION_' + reason.toUpperCase().replaceAll('-', '_')
}

export interface AuthenticationErrorOptions extends ErrorOptions {
  /** The status the default `onError` answers with: 400 (Starlette's) unless given. */
  statusCode?: number
  /** A `WWW-Authenticate` value the default `onError` sends, like `Bearer error="invalid_token"`. */
  challenge?: string
  /** Seconds the client should wait before trying again: the default `onError` sends them as `Retry-After` (RFC 9110 §10.2.3). */
  retryAfter?: number
  /**
   * Why, as a `RefusalReason`. Unless given: `malformed-credentials` for a 400, `unavailable` for a
   * 5xx, `unknown-token` for any other status.
   */
  reason?: RefusalReason
}

/**
 * Thrown by a backend for credentials that are present but wrong. Its message is sent to the
 * client by the default `onError`, with `statusCode` and `challenge`.
 */
export class AuthenticationError extends Error {
  readonly statusCode: number
  readonly challenge: string | undefined
  readonly retryAfter: number | undefined
  readonly reason: RefusalReason

  constructor (message = 'Invalid authentication credentials', options: AuthenticationErrorOptions = {}) {
    super(message, options)
    const { statusCode = 400, challenge, retryAfter, reason = defaultReason(statusCode) } = options
    if (!Number.isInteger(statusCode) || statusCode < 400 || statusCode > 599) {
      throw new RangeError('AuthenticationError: statusCode must be an integer from 400 to 599')
    }
    if (challenge !== undefined && !isHeaderValue(challenge)) {
      throw new TypeError('AuthenticationError: challenge must be a WWW-Authenticate value like \'Bearer error="invalid_token"\'')
    }
    if (retryAfter !== undefined && !(Number.isInteger(retryAfter) && retryAfter >= 0)) {
      throw new RangeError('AuthenticationError: retryAfter must be a whole number of seconds, 0 or more')
    }
    if (!isRefusalReason(reason)) {
      throw new RangeError(`AuthenticationError: reason must be one of ${REFUSAL_REASONS.join(', ')}`)
    }
    this.name = 'AuthenticationError'
    this.statusCode = statusCode
    this.challenge = challenge
    this.retryAfter = retryAfter
    this.reason = reason
  }

  /** The `code` of the JSON body the default `onError` sends, like `FST_AUTHENTICATION_EXPIRED`. */
  get code (): string {
    return codeOf(this.reason)
  }
}

function defaultReason (statusCode: number): RefusalReason {
  return statusCode === 400 ? 'malformed-credentials' : statusCode >= 500 ? 'unavailable' : 'unknown-token'
}

/** Printable ASCII that does not start with a space: what Node accepts in a header, and what a challenge is. */
export function isHeaderValue (value: unknown): value is string {
  return typeof value === 'string' && /^[\x21-\x7e][\x20-\x7e]*$/.test(value)
}

/** A failure of the plugin's own contracts: Fastify's error handler answers it with `statusCode`. */
export class AuthenticationPluginError extends Error {
  readonly code: string
  readonly statusCode: number
  /** The refusal's reason: `backend-error` unless the failure says otherwise. */
  readonly reason: RefusalReason

  constructor (code: string, statusCode: number, message: string, options: ErrorOptions & { reason?: RefusalReason } = {}) {
    super(message, options)
    this.name = 'AuthenticationPluginError'
    this.code = code
    this.statusCode = statusCode
    this.reason = options.reason ?? 'backend-error'
  }
}

export function backendContractError (problem: string): AuthenticationPluginError {
  return new AuthenticationPluginError('FST_AUTHENTICATION_BAD_RESULT', 500,
    `fastify-authentication: backend.authenticate(request) must return { auth: AuthCredentials, user: BaseUser }, null or undefined (or throw AuthenticationError), but ${problem}`)
}

export function backendThrewNonError (thrown: unknown): AuthenticationPluginError {
  return new AuthenticationPluginError('FST_AUTHENTICATION_BAD_THROW', 500,
    `fastify-authentication: backend.authenticate(request) threw ${describe(thrown)} instead of an Error; throw AuthenticationError for bad credentials`)
}

/**
 * What the client learns of a backend that failed: a 500 that names neither the error's message
 * nor its status or headers, which may carry internals. The error itself is the cause, for the log.
 */
export function backendFailed (cause: Error): AuthenticationPluginError {
  return new AuthenticationPluginError('FST_AUTHENTICATION_BACKEND_FAILED', 500,
    'fastify-authentication: the backend failed (its error is logged as the cause)', { cause })
}

export function backendTimeoutError (timeout: number): AuthenticationPluginError {
  return new AuthenticationPluginError('FST_AUTHENTICATION_TIMEOUT', 503,
    `fastify-authentication: backend.authenticate(request) did not answer within ${timeout} ms (the plugin's timeout option)`, { reason: 'timeout' })
}

export function notCoveredError (): AuthenticationPluginError {
  return new AuthenticationPluginError('FST_AUTHENTICATION_NOT_REGISTERED', 500,
    'fastify-authentication: this route checks scopes, but the plugin does not cover it: register it with `await app.register(authentication, { backend })` in this scope or a parent scope (not a sibling one)', { reason: 'not-covered' })
}

export function onErrorDidNotReply (): AuthenticationPluginError {
  return new AuthenticationPluginError('FST_AUTHENTICATION_ON_ERROR', 500,
    'fastify-authentication: onError(error, request, reply) neither sent a reply nor returned a payload; call reply.send() or return the body')
}

/** Names the kind of a value without ever printing it: it may be a credential. */
export function describe (value: unknown): string {
  if (value == null) return String(value)
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}
