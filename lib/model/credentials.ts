import type { Scope } from './types'

export interface AuthCredentialsOptions {
  /** When the credentials stop being valid: a `Date` or epoch milliseconds. Open WebSockets are closed then. */
  expiresAt?: Date | number
}

// Set by the class's static block: let the functions below read the private fields without making them public.
let isCredentials: (value: object) => boolean
let holdsScope: (auth: AuthCredentials, scope: Scope) => boolean

const NONE: readonly Scope[] = Object.freeze([])
const NOTHING_TO_SCAN: readonly Scope[] = []
// Past this many scopes a Set answers faster than a scan; below it, building one costs more than it saves.
const SCAN_LIMIT = 16

/** What the caller may do: the scopes the backend granted. Read-only once built. */
export class AuthCredentials {
  // Frozen: what `scopes` hands out.
  readonly #scopes: readonly Scope[]
  // A short list is scanned in a copy that is not frozen: V8 reads a frozen array's elements through
  // a generic load, not an inlined one, and this runs on every guarded request.
  readonly #scan: readonly Scope[] | undefined
  // A long one is looked up in a Set built on its first check, so credentials reused across requests pay for it once.
  #set: ReadonlySet<Scope> | undefined
  /** When these credentials expire, in epoch milliseconds; `undefined` if they do not. */
  readonly expiresAt: number | undefined

  static {
    isCredentials = (value) => #scopes in value
    holdsScope = (auth, scope) => {
      const scan = auth.#scan
      if (scan === undefined) return (auth.#set ??= new Set(auth.#scopes)).has(scope)
      for (let i = 0; i < scan.length; i++) {
        if (scan[i] === scope) return true
      }
      return false
    }
  }

  constructor (scopes?: Iterable<Scope>, options: AuthCredentialsOptions = {}) {
    const list = scopes === undefined ? NOTHING_TO_SCAN : checkedCopy(scopes)
    const short = list.length <= SCAN_LIMIT
    this.#scan = short ? list : undefined
    // A short list is frozen in a copy of its own: the one scanned must not be.
    this.#scopes = list.length === 0 ? NONE : Object.freeze(short ? list.slice() : list)
    this.expiresAt = expiryOf(options)
  }

  get scopes (): readonly Scope[] {
    return this.#scopes
  }
}

function checkedCopy (scopes: Iterable<Scope>): Scope[] {
  // A string is iterable too: ['admin'] was meant, and 'admin' would grant 'a', 'd', …
  if (typeof scopes === 'string' || typeof scopes?.[Symbol.iterator] !== 'function') {
    throw new TypeError('AuthCredentials(scopes) takes an array of scope strings')
  }
  const list: unknown[] = Array.isArray(scopes) ? scopes.slice() : Array.from(scopes)
  for (let i = 0; i < list.length; i++) {
    const scope = list[i]
    if (typeof scope !== 'string' || scope === '') {
      throw new TypeError('AuthCredentials(scopes): every scope must be a non-empty string')
    }
  }
  return list as Scope[]
}

function expiryOf (options: AuthCredentialsOptions): number | undefined {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('AuthCredentials(scopes, options): options must be an object like { expiresAt }')
  }
  const { expiresAt } = options
  if (expiresAt === undefined) return undefined
  const time = expiresAt instanceof Date ? expiresAt.getTime() : expiresAt
  if (typeof time !== 'number' || !Number.isFinite(time)) {
    throw new TypeError('AuthCredentials(scopes, { expiresAt }): expiresAt must be a valid Date or epoch milliseconds')
  }
  return time
}

/**
 * Whether `value` was built by the constructor: an object that only shares the prototype
 * (`instanceof` is fooled by it) or was never constructed is not credentials.
 */
export function areCredentials (value: unknown): value is AuthCredentials {
  return typeof value === 'object' && value !== null && isCredentials(value)
}

/** Whether the credentials' `expiresAt` has passed: expired credentials count as none. */
export function hasExpired (auth: AuthCredentials): boolean {
  return auth.expiresAt !== undefined && auth.expiresAt <= Date.now()
}

/**
 * Whether the credentials hold `scope`, read from the checked list (a subclass's getter cannot
 * change it); a look-alike an app put on `request.auth` holds nothing.
 */
export function holds (auth: AuthCredentials, scope: Scope): boolean {
  return areCredentials(auth) && holdsScope(auth, scope)
}
