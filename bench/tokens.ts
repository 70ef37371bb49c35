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

/** The realm every Basic challenge names. */
export const REALM = 'api'

/** The user-id and password the Basic variants know; a request with another password is denied. */
export const BASIC_USER = 'alice'
export const BASIC_PASSWORD = 'correct horse battery staple'

export function basicCredentials (username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
}

/** The HS256 secret the JWT variants verify with (RFC 7518 §3.2: at least 32 bytes), and one they do not know. */
export const JWT_SECRET = 'jwt-secret-of-thirty-two-bytes-or-more'
export const FOREIGN_JWT_SECRET = 'another-secret-the-servers-do-not-know'

/**
 * `count` distinct valid tokens (each its own `sub`), HS256, holding SCOPE, valid for a day,
 * signed with `secret`: made before the load, so that signing is not measured.
 */
export async function jwtTokens (count: number, secret = JWT_SECRET): Promise<string[]> {
  const { SignJWT } = await import('jose')
  const key = new TextEncoder().encode(secret)
  const tokens: string[] = []
  for (let i = 0; i < count; i++) {
    tokens.push(await new SignJWT({ scope: SCOPE }).setProtectedHeader({ alg: 'HS256' }).setSubject(`user-${i}`).setIssuedAt().setExpirationTime('1d').sign(key))
  }
  return tokens
}
