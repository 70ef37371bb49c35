import type { FastifyRequest } from 'fastify'

/**
 * The credentials of an `Authorization: <scheme> <credentials>` header, or `undefined` when the
 * header is missing or names another scheme. The scheme is case-insensitive (RFC 9110 §11.1);
 * `credentials = auth-scheme [ 1*SP ( token68 / … ) ]` (§11.4), so the credentials are what
 * follows the first run of spaces: `''` when there is none.
 */
export function credentialsOf (request: FastifyRequest, scheme: string): string | undefined {
  const header = request.headers.authorization
  if (header === undefined || header.length < scheme.length) return undefined
  if (header.length > scheme.length && header.charCodeAt(scheme.length) !== 0x20) return undefined
  if (header.slice(0, scheme.length).toLowerCase() !== scheme) return undefined
  let start = scheme.length
  while (header.charCodeAt(start) === 0x20) start++
  return header.slice(start)
}

/**
 * A challenge: `Scheme name="value", …` (RFC 9110 §11.2), each value a quoted-string with `"`
 * and `\` escaped. Parameters whose value is `undefined` are left out.
 */
export function formatChallenge (scheme: string, params: Record<string, string | undefined> = {}): string {
  const pairs: string[] = []
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) pairs.push(`${name}="${value.replace(/["\\]/g, '\\$&')}"`)
  }
  return pairs.length === 0 ? scheme : `${scheme} ${pairs.join(', ')}`
}
