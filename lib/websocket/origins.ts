import type { FastifyRequest } from 'fastify'

/**
 * Which pages may open a WebSocket: `'same-origin'` (the default), `'*'` (no check), or a list
 * of origins like `'https://app.example'`, which may name `'same-origin'` too.
 */
export type OriginsOption = 'same-origin' | '*' | readonly string[]

/** Whether a handshake's `Origin` is allowed. */
export type OriginCheck = (request: FastifyRequest) => boolean

const anyOrigin: OriginCheck = () => true

/**
 * A browser names the page that opens a WebSocket in `Origin` (RFC 6455 §4.1, §10.2), and sends
 * the user's cookies along whatever the page: without this check, any site could open a socket
 * as the user (cross-site WebSocket hijacking). A handshake without `Origin` is not a browser's.
 */
export function originCheck (origins: OriginsOption = 'same-origin'): OriginCheck {
  if (origins === '*') return anyOrigin
  if (origins === 'same-origin') return (request) => allowed(request, (origin) => isSameOrigin(request, origin))
  if (!Array.isArray(origins) || origins.length === 0) {
    throw new TypeError('fastify-authentication: the origins option must be \'same-origin\', \'*\' or a non-empty array of origins like \'https://app.example\' (it may name \'same-origin\' too)')
  }
  // Browsers send the origin serialized (lower case, no default port, no slash): compared as such.
  const listed = new Set(origins.filter((origin) => origin !== 'same-origin').map(checkedOrigin))
  if (!origins.includes('same-origin')) return (request) => allowed(request, (origin) => listed.has(origin))
  return (request) => allowed(request, (origin) => listed.has(origin) || isSameOrigin(request, origin))
}

function allowed (request: FastifyRequest, matches: (origin: string) => boolean): boolean {
  const origin = request.headers.origin
  return origin === undefined || matches(origin)
}

function isSameOrigin (request: FastifyRequest, origin: string): boolean {
  const own = ownOrigin(request)
  return own !== undefined && originOf(origin) === own
}

/**
 * The request's own origin, serialized: scheme, host and port (RFC 6454 §4), all three compared,
 * so a page of `https://host` opens no socket on `http://host`. The scheme and host are the ones
 * Fastify reports, so behind a TLS proxy they are the client's with `trustProxy`, and only then.
 */
function ownOrigin (request: FastifyRequest): string | undefined {
  // No Host (HTTP/1.0), or one with a path or credentials: no origin, and nothing matches it.
  return originOf(`${request.protocol}://${request.host}`)
}

/** The origin `value` names, serialized, or `undefined` when it is not one: `null`, a path, credentials, not a URL. */
function originOf (value: string): string | undefined {
  const url = URL.canParse(value) ? new URL(value) : undefined
  if (url === undefined || url.origin === 'null' || url.username !== '' || url.password !== '') return undefined
  return url.href === url.origin + '/' && !value.endsWith('/') ? url.origin : undefined
}

function checkedOrigin (origin: unknown): string {
  const serialized = typeof origin === 'string' ? originOf(origin) : undefined
  if (serialized === undefined) {
    throw new TypeError(`fastify-authentication: every entry of the origins option must be an origin like 'https://app.example' (scheme, host and port only), not ${JSON.stringify(origin)}`)
  }
  return serialized
}
