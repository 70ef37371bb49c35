import type { FastifyRequest } from 'fastify'
import type { AuthCredentials } from './credentials'
import { notCoveredError } from './errors'
import type { Scope } from './types'

export type ScopeMatch = 'all' | 'any'

/** Exact matches only: a scope is never granted by a prefix, a substring or an object key. */
export function grants (auth: AuthCredentials, scopes: readonly Scope[], match: ScopeMatch): boolean {
  const granted = auth.scopes
  return match === 'all'
    ? scopes.every((scope) => granted.includes(scope))
    : scopes.some((scope) => granted.includes(scope))
}

/** Starlette's `has_required_scope`: whether the caller holds every one of `scopes`. */
export function hasRequiredScope (request: FastifyRequest, scopes: Scope | readonly Scope[]): boolean {
  if (request.auth == null) throw notCoveredError()
  return grants(request.auth, typeof scopes === 'string' ? [scopes] : scopes, 'all')
}
