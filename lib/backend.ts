import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Deadlines } from './deadlines'
import { areCredentials, type AuthCredentials } from './credentials'
import {
  AuthenticationError, AuthenticationPluginError, backendContractError, backendFailed, backendThrewNonError, backendTimeoutError, describe
} from './errors'
import type { AuthenticatedUser, Scope } from './types'
import type { BaseUser } from './users'

/** Who is calling, as a backend found out. */
export interface AuthenticationResult {
  auth: AuthCredentials
  user: AuthenticatedUser
}

export type BackendAnswer = AuthenticationResult | null | undefined

/**
 * Decides who is calling. Return the caller, `null`/`undefined` for a caller it does not
 * recognise (the next backend gets its say), or throw `AuthenticationError` for credentials
 * that are present but wrong.
 */
export interface AuthenticationBackend {
  authenticate (request: FastifyRequest): BackendAnswer | PromiseLike<BackendAnswer>
  /**
   * The `WWW-Authenticate` value for a caller who sent no credentials, like `Bearer realm="api"`
   * (RFC 9110 §11.6.1). A guard answers an anonymous caller with 401 and every backend's challenge.
   */
  readonly challenge?: string
  /**
   * The `WWW-Authenticate` value for a caller this backend recognised who lacks `scopes`, sent
   * with the guard's 403 (RFC 6750 §3.1: `error="insufficient_scope"`).
   */
  insufficientScope?: (scopes: readonly Scope[]) => string
  /**
   * Runs once when the plugin is registered, in the scope it is registered in: the place to
   * check for a plugin this backend needs, or load a peer dependency. A throw fails startup.
   */
  setup?: (fastify: FastifyInstance) => void | PromiseLike<void>
  /**
   * How OpenAPI documents this backend (`fastify-authentication/openapi`): its key in
   * `components.securitySchemes` and its Security Scheme Object, like
   * `{ name: 'bearer', definition: { type: 'http', scheme: 'bearer' } }`.
   */
  readonly securityScheme?: { readonly name: string, readonly definition: Readonly<Record<string, unknown>> }
}

/** The backend that recognised the caller, kept on the request for the refusal's challenge. */
export const kRecognisedBy = Symbol('fastify-authentication.recognisedBy')

declare module 'fastify' {
  interface FastifyRequest {
    /** Absent for an anonymous caller. */
    [kRecognisedBy]: AuthenticationBackend | undefined
  }
}

/**
 * Asks each backend in turn; the first that recognises the caller wins, and stays synchronous
 * while the backends are, so sync backends cost no promise. An `AuthenticationError` does not
 * stop the chain: a later backend may still recognise the caller (it can only admit one it
 * recognises itself). If none does, the first `AuthenticationError` is thrown (see `kept`).
 * Any other error stops the chain at once. With `deadlines` (the timeout option), a chain that went
 * async rejects with 503 once it has run that long, and asks no further backend.
 */
export function runBackends (
  backends: readonly AuthenticationBackend[], request: FastifyRequest, deadlines: Deadlines | undefined
): BackendAnswer | Promise<BackendAnswer> {
  let firstError: AuthenticationError | undefined
  for (let i = 0; i < backends.length; i++) {
    let answer: BackendAnswer | PromiseLike<BackendAnswer>
    try {
      answer = backends[i].authenticate(request)
    } catch (error) {
      firstError = kept(firstError, refusal(error))
      continue
    }
    if (isThenable(answer)) return finishChain(answer, backends, request, i, firstError, deadlines)
    if (answer != null) return recognisedBy(backends[i], answer, request)
  }
  if (firstError !== undefined) throw firstError
  return null
}

/** The rest of the chain once backend `from` answered with a promise. */
function finishChain (
  pending: PromiseLike<BackendAnswer>, backends: readonly AuthenticationBackend[], request: FastifyRequest,
  from: number, firstError: AuthenticationError | undefined, deadlines: Deadlines | undefined
): Promise<BackendAnswer> {
  let timedOut = false
  async function settle (): Promise<BackendAnswer> {
    let answer: BackendAnswer | PromiseLike<BackendAnswer> = pending
    for (let i = from; i < backends.length; i++) {
      // Set by the timer: once the request got its 503, no further backend is asked.
      if (timedOut) break
      try {
        if (i > from) answer = backends[i].authenticate(request)
        // Awaiting tames odd thenables too: one that calls back twice, or returns nothing from then().
        const settled = await answer
        if (settled != null) return recognisedBy(backends[i], settled, request)
      } catch (error) {
        firstError = kept(firstError, refusal(error))
      }
    }
    if (firstError !== undefined) throw firstError
    return null
  }
  if (deadlines === undefined) return settle()
  // The wait never outlives the chain, and a late answer is ignored.
  return new Promise((resolve, reject) => {
    const waiting = deadlines.start(() => {
      timedOut = true
      reject(backendTimeoutError(deadlines.ms))
    })
    settle().then(
      (value) => { deadlines.cancel(waiting); resolve(value) },
      (error) => { deadlines.cancel(waiting); reject(error) }
    )
  })
}

/**
 * The refusal a chain that recognised nobody answers with: the first, unless a later backend could
 * not decide (a 5xx, like an unreachable key set): the credentials may then be good, and the
 * caller must not be told they are not.
 */
function kept (first: AuthenticationError | undefined, next: AuthenticationError): AuthenticationError {
  return first === undefined || (next.statusCode >= 500 && first.statusCode < 500) ? next : first
}

/** Backends refuse credentials with `AuthenticationError`; anything else thrown stops the chain. */
function refusal (error: unknown): AuthenticationError {
  if (error instanceof AuthenticationError) return error
  throw error
}

function recognisedBy (backend: AuthenticationBackend, answer: AuthenticationResult, request: FastifyRequest): AuthenticationResult {
  request[kRecognisedBy] = backend
  return answer
}

export function isThenable<T> (value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === 'function'
}

/**
 * Checks a backend's answer against the contract, reading each field once (a getter may answer
 * differently the second time). Throws an error that names what is wrong, never the values.
 */
export function checkResult (answer: unknown): AuthenticationResult | null {
  if (answer == null) return null
  const { auth, user } = fieldsOf(answer)
  return { auth: checkedAuth(auth), user: checkedUser(user) }
}

/**
 * Sets `request.auth` and `request.user` from a backend's answer, checked as `checkResult` does
 * but without a copy of the result: the per-request path. Returns whether a caller was recognised.
 */
export function adoptResult (request: FastifyRequest, answer: BackendAnswer): boolean {
  if (answer == null) return false
  const { auth, user } = fieldsOf(answer)
  request.auth = checkedAuth(auth)
  request.user = checkedUser(user)
  return true
}

function fieldsOf (answer: unknown): Partial<AuthenticationResult> {
  if (typeof answer !== 'object' || Array.isArray(answer)) throw backendContractError(`returned ${describe(answer)}`)
  return answer as Partial<AuthenticationResult>
}

function checkedAuth (auth: unknown): AuthCredentials {
  if (areCredentials(auth)) return auth
  throw backendContractError(`its auth is ${describe(auth)}, not an AuthCredentials (build it with new AuthCredentials([...scopes]))`)
}

function checkedUser (user: unknown): AuthenticatedUser {
  if (isUser(user)) return user
  throw backendContractError(`its user is ${describe(user)}, not a BaseUser (isAuthenticated: boolean, displayName: string, identity: string)`)
}

function isUser (user: unknown): user is AuthenticatedUser {
  if (typeof user !== 'object' || user === null) return false
  const { isAuthenticated, displayName, identity } = user as BaseUser
  return typeof isAuthenticated === 'boolean' && typeof displayName === 'string' && typeof identity === 'string'
}

/** What a failure that is not an `AuthenticationError` becomes: a plugin error, or a plain 500 with it as the cause. */
export function asPluginError (error: unknown): Error {
  if (error instanceof AuthenticationPluginError) return error
  return error instanceof Error ? backendFailed(error) : backendThrewNonError(error)
}
