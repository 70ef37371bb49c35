/** Thrown by a backend for credentials that are present but wrong. Its message is sent to the client. */
export class AuthenticationError extends Error {
  constructor (message = 'Invalid authentication credentials', options?: ErrorOptions) {
    super(message, options)
    this.name = 'AuthenticationError'
  }
}

/** A failure of the plugin's own contracts: Fastify's error handler answers it with `statusCode`. */
export class AuthenticationPluginError extends Error {
  readonly code: string
  readonly statusCode: number

  constructor (code: string, statusCode: number, message: string) {
    super(message)
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

export function backendTimeoutError (timeout: number): AuthenticationPluginError {
  return new AuthenticationPluginError('FST_AUTHENTICATION_TIMEOUT', 503,
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
