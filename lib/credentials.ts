import type { Scope } from './types'

// Set by the class's static block: lets scopesOf() below read #scopes without making it public.
let checkedScopes: (value: object) => readonly Scope[] | undefined

/** What the caller may do: the scopes the backend granted. Read-only once built. */
export class AuthCredentials {
  readonly #scopes: readonly Scope[]

  static {
    checkedScopes = (value) => #scopes in value ? (value as AuthCredentials).#scopes : undefined
  }

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

/**
 * The scopes the constructor checked, or `undefined` for anything it did not build: an object
 * that only shares the prototype (`instanceof` is fooled by it) or was never constructed.
 * A subclass cannot change them by overriding the getter either.
 */
export function scopesOf (value: unknown): readonly Scope[] | undefined {
  return typeof value === 'object' && value !== null ? checkedScopes(value) : undefined
}
