import type { FastifyRequest } from 'fastify'
import { scopesOf, type AuthCredentials } from './credentials'
import { notCoveredError } from './errors'
import type { Scope } from './types'

export type ScopeMatch = 'all' | 'any'

const NONE: readonly Scope[] = Object.freeze([])

/**
 * Exact matches only: a scope is never granted by a prefix, a substring or an object key.
 * Plain loops, no callbacks: this runs on every guarded request.
 */
export function grants (auth: AuthCredentials, scopes: readonly Scope[], match: ScopeMatch): boolean {
  // The checked scopes, never what a look-alike's `scopes` says (a string would match substrings).
  const granted = scopesOf(auth) ?? NONE
  // 'all' stops at the first scope missing, 'any' at the first one held.
  const wanted = match === 'all'
  for (let i = 0; i < scopes.length; i++) {
    if (granted.includes(scopes[i]) !== wanted) return !wanted
  }
  return wanted
}

/** Starlette's `has_required_scope`: whether the caller holds every one of `scopes`. */
export function hasRequiredScope (request: FastifyRequest, scopes: Scope | readonly Scope[]): boolean {
  if (request.auth == null) throw notCoveredError()
  return grants(request.auth, typeof scopes === 'string' ? [scopes] : scopes, 'all')
}
