// The callers every variant knows: one table of token → scopes, shared by the servers and the load.

/** The scope every benchmarked route needs. */
export const SCOPE = 'read'

/** A token that holds SCOPE (its requests are accepted) and one that does not (denied). */
export const ACCEPTED_TOKEN = 'token-accepted'
export const DENIED_TOKEN = 'token-denied'

/** Distinct users for the memory run: half of them hold SCOPE, half do not. */
export const USER_COUNT = 2000

export function userToken (i: number): string {
  return `token-user-${i}`
}

export function tokenTable (): Map<string, readonly string[]> {
  const table = new Map<string, readonly string[]>([
    [ACCEPTED_TOKEN, [SCOPE, 'profile']],
    [DENIED_TOKEN, ['profile']]
  ])
  for (let i = 0; i < USER_COUNT; i++) {
    table.set(userToken(i), i % 2 === 0 ? [SCOPE, 'profile'] : ['profile'])
  }
  return table
}

export function bearer (token: string): string {
  return `Bearer ${token}`
}

/** The token in an `Authorization: Bearer <token>` header, or undefined. */
export function tokenOf (header: string | undefined): string | undefined {
  return header !== undefined && header.startsWith('Bearer ') ? header.slice(7) : undefined
}
