import type { AuthenticationResult } from '../backend'
import { AuthCredentials, holds } from '../credentials'
import type { Scope } from '../types'

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
