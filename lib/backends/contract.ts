import type { FastifyInstance, FastifyRequest } from 'fastify'
import { areCredentials, type AuthCredentials } from '../model/credentials'
import {
  backendContractError, describe
} from '../model/errors'
import type { ScopeMatch } from '../model/scopes'
import type { AuthenticatedUser, Scope } from '../model/types'
import type { BaseUser } from '../model/users'

/** Who is calling, as a backend found out. */
export interface AuthenticationResult {
  auth: AuthCredentials
  user: AuthenticatedUser
}

export type BackendAnswer = AuthenticationResult | null | undefined

/**
 * Decides who is calling. Return the caller, `null`/`undefined` for a caller it does not
 * recognise (the next backend gets its say), or throw `AuthenticationError` for credentials
 * that are present but wrong. Credentials whose `expiresAt` has passed count as none: the
 * caller is anonymous, and the next backend gets its say.
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
   * with the guard's 403 (RFC 6750 §3.1: `error="insufficient_scope"`). `match` is the guard's:
   * `'all'` when every scope is needed, `'any'` when one of them is enough.
   */
  insufficientScope?: (scopes: readonly Scope[], match: ScopeMatch) => string
  /**
   * The statuses of the `AuthenticationError`s this backend throws, like `[400, 401]`: OpenAPI
   * documents them on the routes it guards (`fastify-authentication/openapi`).
   */
  readonly refusalStatuses?: readonly number[]
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
  /**
   * What the backend reads, for the chain rule: two backends with the same `credential` read the
   * same credential, like `'authorization:bearer'` or `'header:x-api-key'`; a backend that
   * declares nothing reads a credential of its own. A chain moves past a rejection only to
   * backends that read the same credential: a rejected credential refuses the request.
   */
  readonly credential?: string
  /**
   * The identity the request's credentials name, before they are verified (Basic's user-id), or
   * `undefined`: the `lockout` option counts rejected credentials against it as well as against
   * the client's IP, and refuses a locked-out identity before any backend runs.
   */
  claimedIdentity?: (request: FastifyRequest) => string | undefined
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
