import type { FastifyRequest } from 'fastify'
import { scopesOf, type AuthCredentials } from './credentials'
import { backendContractError, describe } from './errors'
import type { AuthenticatedUser } from './types'
import type { BaseUser } from './users'

/** Who is calling, as a backend found out. */
export interface AuthenticationResult {
  auth: AuthCredentials
  user: AuthenticatedUser
}

type Answer = AuthenticationResult | null | undefined

/**
 * Decides who is calling. Return the caller, `null`/`undefined` for an anonymous caller,
 * or throw `AuthenticationError` for credentials that are present but wrong.
 */
export interface AuthenticationBackend {
  authenticate (request: FastifyRequest): Answer | PromiseLike<Answer>
}

/**
 * Asks each backend in turn; the first that recognises the caller wins. Stays synchronous
 * while the backends are, so sync backends cost no promise.
 */
export function runBackends (backends: readonly AuthenticationBackend[], request: FastifyRequest, from = 0): Answer | PromiseLike<Answer> {
  for (let i = from; i < backends.length; i++) {
    const answer = backends[i].authenticate(request)
    if (isThenable(answer)) {
      // Promise.resolve tames odd thenables: one that calls back twice, or returns nothing from then().
      return Promise.resolve(answer).then((settled) => settled ?? runBackends(backends, request, i + 1))
    }
    if (answer != null) return answer
  }
  return null
}

export function isThenable<T> (value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === 'function'
}

/** Checks a backend's answer against the contract; throws an error that names what is wrong, never the values. */
export function checkResult (answer: unknown): AuthenticationResult | null {
  if (answer == null) return null
  if (typeof answer !== 'object' || Array.isArray(answer)) throw backendContractError(`returned ${describe(answer)}`)
  const { auth, user } = answer as Partial<AuthenticationResult>
  if (scopesOf(auth) === undefined) {
    throw backendContractError(`its auth is ${describe(auth)}, not an AuthCredentials (build it with new AuthCredentials([...scopes]))`)
  }
  if (!isUser(user)) {
    throw backendContractError(`its user is ${describe(user)}, not a BaseUser (isAuthenticated: boolean, displayName: string, identity: string)`)
  }
  return answer as AuthenticationResult
}

function isUser (user: unknown): user is BaseUser {
  if (typeof user !== 'object' || user === null) return false
  const { isAuthenticated, displayName, identity } = user as BaseUser
  return typeof isAuthenticated === 'boolean' && typeof displayName === 'string' && typeof identity === 'string'
}
