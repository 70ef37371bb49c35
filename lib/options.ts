import type { AuthenticationBackend } from './backends/contract'
import { Deadlines } from './request/deadlines'
import { isHeaderValue } from './model/errors'
import type { Registration } from './registration'
import { checkLockout, Lockout, type LockoutOptions } from './request/lockout'
import { isStore, MemoryStore, type AuthenticationStore } from './store/memory'
import type { OnError } from './request/on-error'
import { originCheck, type OriginsOption } from './websocket/origins'

export interface AuthenticationOptions {
  /** Decides who is calling; with an array, the first backend that recognises the caller wins. */
  backend: AuthenticationBackend | readonly AuthenticationBackend[]
  /**
   * What an HTTP request gets when the backends throw `AuthenticationError`. Default: the
   * error's `statusCode` (400), its `challenge` as `WWW-Authenticate` (set before a custom `onError`
   * runs), and JSON with its message and `reason`.
   */
  onError?: OnError
  /** A `WWW-Authenticate` value sent with every 401 from a guard, besides the backends' own, like `Bearer realm="api"`. */
  challenge?: string
  /** Milliseconds the backends may take; past that the request fails with 503. */
  timeout?: number
  /**
   * Which pages may open a WebSocket: `'same-origin'` (default), `'*'` (no check), or a list of
   * origins, which may name `'same-origin'` too. A browser's handshake from another origin is refused with 403 before any backend runs.
   */
  origins?: OriginsOption
  /**
   * Failed logins limited: once a client IP (`request.ip`), or an identity a backend names (Basic's
   * user-id), has had `max` rejected credentials within `windowMs`, its requests are refused with
   * 429 and `Retry-After` before any backend runs, until the window ends. `true` takes the
   * defaults, `{ max: 10, windowMs: 900000 }` (15 minutes). Off unless given.
   */
  lockout?: boolean | LockoutOptions
  /**
   * Where state shared between requests lives (the lockout's counts): a `MemoryStore` of this
   * registration unless given, or `redisStore(client)` from `fastify-authentication/redis`, which
   * instances share.
   */
  store?: AuthenticationStore
}

// Fastify's own register options reach the plugin too; they are not typos.
const optionNames = new Set(['backend', 'onError', 'challenge', 'timeout', 'origins', 'lockout', 'store', 'prefix', 'logLevel', 'logSerializers'])

/** Checks the options at registration, naming the one that is wrong, and turns them into a registration. */
export function checkOptions (options: AuthenticationOptions): Registration {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('fastify-authentication: options must be an object like { backend }')
  }
  for (const name of Object.keys(options)) {
    if (!optionNames.has(name)) {
      throw new TypeError(`fastify-authentication: unknown option "${name}"; the options are backend, onError, challenge, timeout, origins, lockout and store`)
    }
  }
  const { backend, onError, challenge, timeout, origins, store } = options
  const backends = Array.isArray(backend) ? [...backend] : [backend]
  if (backends.length === 0 || !backends.every((candidate) => typeof candidate?.authenticate === 'function')) {
    throw new TypeError('fastify-authentication: the backend option must be an object with an authenticate(request) method, or a non-empty array of them')
  }
  if (onError !== undefined && typeof onError !== 'function') {
    throw new TypeError('fastify-authentication: the onError option must be a function (error, request, reply)')
  }
  if (challenge !== undefined && !isHeaderValue(challenge)) {
    throw new TypeError('fastify-authentication: the challenge option must be a WWW-Authenticate value like \'Basic realm="api"\'')
  }
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout <= 0 || timeout > 2 ** 31 - 1)) {
    throw new RangeError('fastify-authentication: the timeout option must be a whole number of milliseconds greater than 0')
  }
  if (store !== undefined && !isStore(store)) {
    throw new TypeError('fastify-authentication: the store option must have increment(key, windowMs) and get(key) methods, like redisStore(client) from fastify-authentication/redis')
  }
  const lockout = checkLockout(options.lockout)
  for (const { challenge } of backends) {
    if (challenge !== undefined && !isHeaderValue(challenge)) {
      throw new TypeError('fastify-authentication: a backend\'s challenge must be a WWW-Authenticate value like \'Bearer realm="api"\'')
    }
  }
  const challenges = [...new Set([...backends.map((backend) => backend.challenge), challenge].filter((value) => value !== undefined))]
  return {
    backends,
    onError,
    deadlines: timeout === undefined ? undefined : new Deadlines(timeout),
    allowsOrigin: originCheck(origins),
    // One challenge is one header; several are one WWW-Authenticate line each (RFC 9110 §11.6.1).
    challenges: challenges.length <= 1 ? challenges[0] : challenges,
    lockout: lockout === undefined ? undefined : new Lockout(lockout, store ?? new MemoryStore(), backends)
  }
}
