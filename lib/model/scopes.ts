import type { FastifyRequest } from 'fastify'
import { holds, type AuthCredentials } from './credentials'
import { notCoveredError } from './errors'
import type { Scope } from './types'

export type ScopeMatch = 'all' | 'any'

/**
 * Exact matches only: a scope is never granted by a prefix, a substring or an object key.
 * Each scope costs one look-up, whatever the number held. Plain loops: this runs on every guarded request.
 */
export function grants (auth: AuthCredentials, scopes: readonly Scope[], match: ScopeMatch): boolean {
  // 'all' stops at the first scope missing, 'any' at the first one held.
  const wanted = match === 'all'
  for (let i = 0; i < scopes.length; i++) {
    if (holds(auth, scopes[i]) !== wanted) return !wanted
  }
  return wanted
}

/** A scope or a non-empty array of them, as a list; anything else throws, naming `where`. */
export function scopeList (scopes: Scope | readonly Scope[], where: string): readonly Scope[] {
  const list = typeof scopes === 'string' ? [scopes] : scopes
  if (!Array.isArray(list) || list.length === 0 || !list.every((scope) => typeof scope === 'string' && scope !== '')) {
    throw new TypeError(`${where}: scopes must be a non-empty scope name or a non-empty array of them`)
  }
  return list
}

/** Starlette's `has_required_scope`: whether the caller holds every one of `scopes`. */
export function hasRequiredScope (request: FastifyRequest, scopes: Scope | readonly Scope[]): boolean {
  const list = scopeList(scopes, 'hasRequiredScope(request, scopes)')
  if (request.auth == null) throw notCoveredError()
  return grants(request.auth, list, 'all')
}
