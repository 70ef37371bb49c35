import type { Scope } from './types'

/** What the caller may do: the scopes the backend granted. Read-only once built. */
export class AuthCredentials {
  readonly #scopes: readonly Scope[]

  constructor (scopes: Iterable<Scope> = []) {
    // A string is iterable too: ['admin'] was meant, and 'admin' would grant 'a', 'd', …
    if (typeof scopes === 'string' || typeof scopes?.[Symbol.iterator] !== 'function') {
      throw new TypeError('AuthCredentials(scopes) takes an array of scope strings')
    }
    const list = Array.from(scopes)
    for (const scope of list as unknown[]) {
      if (typeof scope !== 'string' || scope === '') {
        throw new TypeError('AuthCredentials(scopes): every scope must be a non-empty string')
      }
    }
    this.#scopes = Object.freeze(list)
  }

  get scopes (): readonly Scope[] {
    return this.#scopes
  }
}
