// Where the plugin keeps state that outlives a request and may be shared between instances (the
// lockout's counts of rejected credentials): the AuthenticationStore contract, and the default
// store, a bounded Map in this process. `redisStore` (fastify-authentication/redis) shares it.

/** A count and when its window ends (milliseconds since the epoch). */
export interface StoreCount {
  count: number
  resetAt: number
}

/**
 * The registration's `store` option. `increment` adds one to the count at `key`, starting a new
 * window of `windowMs` when the key has none or its window has ended, and must do so in one step
 * (Redis: INCR and PEXPIRE in one script), so that two instances never lose a count. `get` gives
 * the count of a window that has not ended yet, or `null`/`undefined`. Either may answer sync or
 * async; a throw or a rejection refuses the request with 503 (fail closed).
 */
export interface AuthenticationStore {
  increment (key: string, windowMs: number): StoreCount | PromiseLike<StoreCount>
  get (key: string): StoreCount | null | undefined | PromiseLike<StoreCount | null | undefined>
}

export interface MemoryStoreOptions {
  /** Keys held at most (100 000 unless given); when full, the oldest window is forgotten first. */
  maxEntries?: number
}

/**
 * The default store: a `Map` in this process, bounded, with no timer. A window is checked for its
 * end when it is read; ended windows at the old end are dropped whenever a window starts, and the
 * oldest live ones too when the store is full, so that no number of callers grows it past
 * `maxEntries`.
 */
export class MemoryStore implements AuthenticationStore {
  // Oldest window first: a Map keeps insertion order, and a key is inserted when its window starts.
  readonly #counts = new Map<string, StoreCount>()
  readonly #maxEntries: number

  constructor (options: MemoryStoreOptions = {}) {
    this.#maxEntries = checkOptions(options)
  }

  /** How many keys are held, ended windows not dropped yet included. */
  get size (): number {
    return this.#counts.size
  }

  increment (key: string, windowMs: number): StoreCount {
    const now = Date.now()
    let entry = this.#counts.get(key)
    if (entry === undefined || entry.resetAt <= now) {
      this.#counts.delete(key)
      this.#makeRoom(now)
      entry = { count: 0, resetAt: now + windowMs }
      this.#counts.set(key, entry)
    }
    entry.count++
    return { ...entry }
  }

  get (key: string): StoreCount | undefined {
    const entry = this.#counts.get(key)
    return entry !== undefined && entry.resetAt > Date.now() ? { ...entry } : undefined
  }

  #makeRoom (now: number): void {
    for (const [key, entry] of this.#counts) {
      if (entry.resetAt > now && this.#counts.size < this.#maxEntries) break
      this.#counts.delete(key)
    }
  }
}

function checkOptions ({ maxEntries = 100_000, ...others }: MemoryStoreOptions): number {
  const unknown = Object.keys(others)
  if (unknown.length > 0) {
    throw new TypeError(`fastify-authentication: new MemoryStore(options): unknown option "${unknown[0]}"; the only option is maxEntries`)
  }
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new RangeError('fastify-authentication: new MemoryStore(options): maxEntries must be a positive integer')
  }
  return maxEntries
}

/** Whether `value` has a store's two methods: checked at startup, for the `store` option. */
export function isStore (value: unknown): value is AuthenticationStore {
  const store = value as Partial<AuthenticationStore> | null | undefined
  return typeof store?.increment === 'function' && typeof store.get === 'function'
}
