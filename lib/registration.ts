import type { FastifyInstance } from 'fastify'
import type { AuthenticationBackend } from './backends/contract'
import type { Deadlines } from './request/deadlines'
import type { Lockout } from './request/lockout'
import type { OnError } from './request/on-error'
import type { OriginCheck } from './websocket/origins'

/** One `app.register(authentication, …)`: what governs the routes of its scope and its children. */
export interface Registration {
  readonly backends: readonly AuthenticationBackend[]
  readonly onError: OnError | undefined
  /** The timeout option's waits, when it is set. */
  readonly deadlines: Deadlines | undefined
  /** Whether a handshake's `Origin` may open a WebSocket here. */
  readonly allowsOrigin: OriginCheck
  /** Every challenge a guard's 401 carries: the backends' and the `challenge` option's, each once. */
  readonly challenges: string | string[] | undefined
  /** The lockout option's counts of rejected credentials, when it is set. */
  readonly lockout: Lockout | undefined
}

const kRegistration = Symbol('fastify-authentication.registration')
// Shared by every copy of the package in the process (two versions of it, say): each copy checks
// at startup that a registration covers every guarded route, and another copy's counts.
const kCovered = Symbol.for('fastify-authentication.covered')
type Scope = FastifyInstance & { [kRegistration]?: Registration, [kCovered]?: true }

/**
 * Stores the registration on its scope. A child scope is created from its parent with
 * `Object.create`, so a lookup from any scope finds the nearest registration above it, and a
 * registration in a child scope shadows its parent's.
 */
export function storeRegistration (fastify: FastifyInstance, registration: Registration): void {
  if (Object.hasOwn(fastify, kRegistration)) {
    throw new Error('fastify-authentication is registered twice in the same scope: register it once per scope (a child scope may have its own registration, which governs its routes)')
  }
  const scope = fastify as Scope
  scope[kRegistration] = registration
  scope[kCovered] = true
}

/** The registration nearest to the scope a route was declared in, or `undefined` if none covers it. */
export function registrationOf (scope: FastifyInstance): Registration | undefined {
  return (scope as Scope)[kRegistration]
}

/** Whether a registration, of this copy of the package or another, covers the scope. */
export function isCovered (scope: FastifyInstance): boolean {
  return (scope as Scope)[kCovered] === true
}

/** The root instance: every scope descends from it through the prototype chain. */
export function rootOf (fastify: FastifyInstance): FastifyInstance {
  let scope = fastify
  for (let parent = Object.getPrototypeOf(scope); parent !== Object.prototype; parent = Object.getPrototypeOf(scope)) {
    scope = parent
  }
  return scope
}
