export interface AuthenticationErrorOptions extends ErrorOptions {
  /** The status the default `onError` answers with: 400 (Starlette's) unless given. */
  statusCode?: number
  /** A `WWW-Authenticate` value the default `onError` sends, like `Bearer error="invalid_token"`. */
  challenge?: string
  /** Seconds the client should wait before trying again: the default `onError` sends them as `Retry-After` (RFC 9110 §10.2.3). */
  retryAfter?: number
}

/**
 * Thrown by a backend for credentials that are present but wrong. Its message is sent to the
 * client by the default `onError`, with `statusCode` and `challenge`.
 */
export class AuthenticationError extends Error {
  readonly statusCode: number
  readonly challenge: string | undefined
  readonly retryAfter: number | undefined

  constructor (message = 'Invalid authentication credentials', options: AuthenticationErrorOptions = {}) {
    super(message, options)
    const { statusCode = 400, challenge, retryAfter } = options
    if (!Number.isInteger(statusCode) || statusCode < 400 || statusCode > 599) {
      throw new RangeError('AuthenticationError: statusCode must be an integer from 400 to 599')
    }
    if (challenge !== undefined && !isHeaderValue(challenge)) {
      throw new TypeError('AuthenticationError: challenge must be a WWW-Authenticate value like \'Bearer error="invalid_token"\'')
    }
    if (retryAfter !== undefined && !(Number.isInteger(retryAfter) && retryAfter >= 0)) {
      throw new RangeError('AuthenticationError: retryAfter must be a whole number of seconds, 0 or more')
    }
    this.name = 'AuthenticationError'
    this.statusCode = statusCode
    this.challenge = challenge
    this.retryAfter = retryAfter
  }
}

/** Printable ASCII that does not start with a space: what Node accepts in a header, and what a challenge is. */
export function isHeaderValue (value: unknown): value is string {
  return typeof value === 'string' && /^[\x21-\x7e][\x20-\x7e]*$/.test(value)
}

/** A failure of the plugin's own contracts: Fastify's error handler answers it with `statusCode`. */
export class AuthenticationPluginError extends Error {
  readonly code: string
  readonly statusCode: number

  constructor (code: string, statusCode: number, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'AuthenticationPluginError'
    this.code = code
    this.statusCode = statusCode
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

const TIMEOUT = 'FST_AUTHENTICATION_TIMEOUT'

export function isTimeoutError (error: unknown): boolean {
  return error instanceof AuthenticationPluginError && error.code === TIMEOUT
}

export function backendTimeoutError (timeout: number): AuthenticationPluginError {
  return new AuthenticationPluginError(TIMEOUT, 503,
    `fastify-authentication: backend.authenticate(request) did not answer within ${timeout} ms (the plugin's timeout option)`)
}

export function notCoveredError (): AuthenticationPluginError {
  return new AuthenticationPluginError('FST_AUTHENTICATION_NOT_REGISTERED', 500,
    'fastify-authentication: this route checks scopes, but the plugin does not cover it: register it with `await app.register(authentication, { backend })` in this scope or a parent scope (not a sibling one)')
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
