import { checkResult, isThenable, type AuthenticationResult, type BackendAnswer } from './contract'
import { AuthCredentials, holds } from '../model/credentials'
import type { AuthenticationError } from '../model/errors'
import type { Scope } from '../model/types'

// Credentials reused across requests (static tokens, cached tokens) gain the scope once.
const withAuthenticated = new WeakMap<AuthCredentials, AuthCredentials>()

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
  return isThenable(answer) ? answer.then((settled) => known(settled, unknown)) : known(answer, unknown)
}

function known (answer: BackendAnswer, unknown: AuthenticationError): AuthenticationResult {
  const result = checkResult(answer)
  if (result === null) throw unknown
  return recognised(result)
}

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
