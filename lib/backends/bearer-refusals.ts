// What bearer() and jwt() tell a client whose token they refuse (RFC 6750 §3): the challenges and
// the refusals, each built once per backend.
import { AuthenticationError } from '../model/errors'
import type { ScopeMatch } from '../model/scopes'
import type { Scope } from '../model/types'
import { formatChallenge } from './shared'

// RFC 6750 §3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/**
 * A token that is not good: the JSON message, and the challenge's `error_description`. RFC 6750
 * §3: "error_description: Human-readable ASCII text providing additional information, used to
 * assist the client developer in understanding the error that occurred" (no `"` nor `\`).
 */
const TOKEN_REFUSALS = {
  'unknown-token': ['Invalid bearer token', 'token unknown'],
  'invalid-signature': ['Invalid bearer token signature', 'signature invalid'],
  expired: ['Expired bearer token', 'token expired'],
  'not-yet-valid': ['Bearer token not valid yet', 'token not valid yet'],
  'wrong-audience': ['Bearer token for another audience', 'audience not accepted'],
  'wrong-issuer': ['Bearer token from another issuer', 'issuer not accepted'],
  'unknown-key': ['No key verifies the bearer token', 'key unknown'],
  revoked: ['Revoked bearer token', 'token revoked']
} as const

export type TokenReason = keyof typeof TOKEN_REFUSALS

export interface BearerRefusals {
  /** `Bearer realm="…"`: the challenge of a 401 to a caller without credentials. */
  anonymous: string
  insufficientScope: (scopes: readonly Scope[], match?: ScopeMatch) => string
  /** 400 `invalid_request`: `Bearer` with no token. */
  missing: AuthenticationError
  /** 400 `invalid_request`: a token outside b64token syntax. */
  malformed: AuthenticationError
  /** 401 `invalid_token`, one for each reason. */
  token: Readonly<Record<TokenReason, AuthenticationError>>
}

/** RFC 6750 §3: every `WWW-Authenticate` value and refusal of a bearer backend, built once. */
export function bearerRefusals (realm: string | undefined): BearerRefusals {
  const invalidRequest = (message: string, description: string): AuthenticationError => new AuthenticationError(message, {
    statusCode: 400, reason: 'malformed-credentials', challenge: formatChallenge('Bearer', { realm, error: 'invalid_request', error_description: description })
  })
  const token = {} as Record<TokenReason, AuthenticationError>
  for (const [reason, [message, description]] of Object.entries(TOKEN_REFUSALS) as Array<[TokenReason, readonly [string, string]]>) {
    token[reason] = new AuthenticationError(message, {
      statusCode: 401, reason, challenge: formatChallenge('Bearer', { realm, error: 'invalid_token', error_description: description })
    })
  }
  return {
    anonymous: formatChallenge('Bearer', { realm }),
    // RFC 6750 §3: scope = scope-token *( SP scope-token ). A scope outside that syntax cannot be
    // named there: the attribute is left out. `scope` lists what is needed; when any one of the
    // scopes is enough, error_description says so (its syntax, §3, admits every scope-token).
    insufficientScope: (scopes, match) => {
      const scope = scopes.every((name) => SCOPE_TOKEN.test(name)) ? scopes.join(' ') : undefined
      const description = match === 'any' && scope !== undefined ? `any one of these scopes: ${scope}` : undefined
      return formatChallenge('Bearer', { realm, error: 'insufficient_scope', error_description: description, scope })
    },
    missing: invalidRequest('Missing bearer token', 'token missing'),
    malformed: invalidRequest('Malformed bearer token', 'token malformed'),
    token
  }
}
