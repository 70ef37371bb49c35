// The rules the ready-made backends share, each written once: the option names, the realm and
// token syntax they accept, the `Authorization` header they read and the challenges they send
// (RFC 9110 §11), and what they make of the app's answer (checked, then granted `authenticated`).
import type { FastifyRequest } from 'fastify'
import { checkResult, isThenable, type AuthenticationResult, type BackendAnswer } from './contract'
import { AuthCredentials, holds } from '../model/credentials'
import { isHeaderValue, type AuthenticationError } from '../model/errors'
import type { Scope } from '../model/types'

// RFC 9110 §5.6.2: token = 1*tchar. A header field name (§5.1) and a cookie name (RFC 6265 §4.1.1) are tokens.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

// Credentials reused across requests (static tokens, cached tokens) gain the scope once.
const withAuthenticated = new WeakMap<AuthCredentials, AuthCredentials>()

/**
 * A backend's options: an object whose every key is one of `names`, else a TypeError from
 * `module`. `echo: false` leaves the unknown name out of the message, for options where a
 * mistake could put a credential in the key.
 */
export function checkOptionNames (options: unknown, names: readonly string[], module: string, example: string, echo = true): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${module}: options must be an object like ${example}`)
  }
  const known = names.length === 1 ? `the only option is ${names[0]}` : `the options are ${names.slice(0, -1).join(', ')} and ${names.at(-1)}`
  for (const name of Object.keys(options)) {
    if (!names.includes(name)) {
      throw new TypeError(`${module}: unknown option${echo ? ` "${name}"` : ' (not named here: it could be a credential)'}; ${known}`)
    }
  }
}

/**
 * The `realm` option, checked: challenges quote it, so it must be what a header may carry, with
 * no leading space for a client to trim. `undefined` stays `undefined`.
 */
export function checkRealm (realm: unknown, module: string): string | undefined {
  if (realm === undefined || isHeaderValue(realm)) return realm
  throw new TypeError(`${module}: the realm option must be a non-empty string of printable ASCII`)
}

/** Whether `value` is a token (RFC 9110 §5.6.2): a header field name, or a cookie name. */
export function isToken (value: unknown): value is string {
  return typeof value === 'string' && TOKEN.test(value)
}

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

/**
 * The ready-made backends grant `authenticated` to every caller they recognise, on top of the
 * scopes the app gave it: the result as it is when it holds the scope already, else a copy that does.
 */
export function recognised (result: AuthenticationResult): AuthenticationResult {
  const { auth, user } = result
  if (holds(auth, 'authenticated' as Scope)) return result
  let granted = withAuthenticated.get(auth)
  if (granted === undefined) {
    granted = new AuthCredentials([...auth.scopes, 'authenticated' as Scope], { expiresAt: auth.expiresAt })
    withAuthenticated.set(auth, granted)
  }
  return { auth: granted, user }
}

/**
 * What a ready-made backend makes of its `verify`'s answer, sync or async: checked against the
 * contract before its scopes are read; a caller it does not know is refused with `unknown`, one
 * it knows is `recognised`. A refusal carries nothing of the request, so a backend builds it once
 * and throws it as often as needed: no stack trace is captured per refused request.
 */
export function admitted (
  answer: BackendAnswer | PromiseLike<BackendAnswer>, unknown: AuthenticationError
): AuthenticationResult | PromiseLike<AuthenticationResult> {
  return isThenable(answer) ? answer.then((settled) => callerOrRefusal(settled, unknown)) : callerOrRefusal(answer, unknown)
}

function callerOrRefusal (answer: BackendAnswer, unknown: AuthenticationError): AuthenticationResult {
  const result = checkResult(answer)
  if (result === null) throw unknown
  return recognised(result)
}
