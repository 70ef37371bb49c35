// Cookie sessions (RFC 6265): reads the login data `login(request, data)` stored in the session of
// @fastify/secure-session or @fastify/session, and asks `load` who it stands for.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { checkResult, isThenable, type AuthenticationBackend, type AuthenticationResult, type BackendAnswer } from './contract'
import { isHeaderValue } from '../model/errors'
import { safeNext } from '../request/redirect'
import { checkOptionNames, isToken, recognised } from './shared'

/** Who the login data stored by `login` belongs to: `{ auth, user }`, or `null`/`undefined` for nobody (anonymous). Sync or async. */
export type LoadSession<Data> = (data: Data, request: FastifyRequest) => BackendAnswer | PromiseLike<BackendAnswer>

export interface SessionOptions<Data = unknown> {
  /**
   * The caller that the login data stored by `login(request, data)` stands for, read on every
   * request whose session holds some: `{ auth, user }`, or `null`/`undefined` (anonymous).
   */
  load: LoadSession<Data>
  /** The session key the login data is stored under. Default: `'fastify-authentication'`. */
  key?: string
  /**
   * The session cookie's name, for OpenAPI. Default: the session plugin's default name,
   * `'session'` for `@fastify/secure-session` and `'sessionId'` for `@fastify/session`. Give it
   * when you set the plugin's own `cookieName`, which this backend cannot read.
   */
  cookieName?: string
}

/** A backend over `request.session`, with the two calls that change who the session belongs to. */
export interface SessionBackend<Data = unknown> extends AuthenticationBackend {
  /**
   * Logs the session in as `data` (JSON, not `null`), after regenerating it: a new session id
   * with `@fastify/session`, every earlier value dropped with `@fastify/secure-session`. Takes
   * effect from the next request.
   */
  login (request: FastifyRequest, data: Data): Promise<void>
  /** Destroys the session: from the next request on, the caller is anonymous. */
  logout (request: FastifyRequest): Promise<void>
  /** OpenAPI: the session cookie, as an `apiKey` scheme named `session`. */
  readonly securityScheme: {
    readonly name: 'session'
    readonly definition: { readonly type: 'apiKey', readonly in: 'cookie', readonly name: string }
  }
}

const MODULE = 'fastify-authentication/session'
// The name each plugin gives its cookie unless told otherwise. @fastify/session first: when both are
// registered (secure-session under another sessionName), request.session is @fastify/session's.
const DEFAULT_COOKIES = [['@fastify/session', 'sessionId'], ['@fastify/secure-session', 'session']] as const
// Names @fastify/session's Session object keeps its own state and methods under: its set(key)
// assigns this[key], so storing under one of them would break the session.
const RESERVED = new Set([
  'cookie', 'sessionId', 'encryptedSessionId', 'get', 'set', 'regenerate', 'destroy', 'reload', 'save',
  'touch', 'options', 'isModified', 'isSaved', 'data', 'delete', 'changed', 'deleted', '__ts'
])

// RFC 9110 §15.5.2: a 401 "MUST send a WWW-Authenticate header field containing at least one
// challenge". No registered scheme (§16.4) names a login form: `Cookie` is the one the
// draft-broyer-http-cookie-auth proposal gives cookie logins, and no browser prompts for it.
const CHALLENGE = 'Cookie'

const missingPlugin = `${MODULE}: the session backend reads request.session: register @fastify/secure-session, ` +
  'or @fastify/cookie then @fastify/session, before fastify-authentication, in the same scope or a parent scope'

/**
 * Cookie sessions, over `@fastify/secure-session` or `@fastify/session`: the caller is what
 * `load` makes of the data `login(request, data)` stored in the session. A session without it is
 * anonymous, and so is one `load` answers `null` for: a guarded route asks it to log in, with
 * the route's `redirect` or a 401 whose challenge is `Cookie`. Every caller `load` recognises is
 * granted `authenticated` too.
 */
export function session<Data = unknown> (options: SessionOptions<Data>): SessionBackend<Data> {
  const { load, key, cookieName } = checkOptions(options)
  // The cookie name of the session plugin found at startup, for OpenAPI and the chain rule (the
  // last registration's, should one backend serve several apps).
  let found = 'session'

  return {
    challenge: CHALLENGE,
    get credential () {
      return `cookie:${cookieName ?? found}`
    },
    get securityScheme () {
      return { name: 'session', definition: { type: 'apiKey', in: 'cookie', name: cookieName ?? found } } as const
    },
    authenticate (request) {
      const current = (request as { session?: unknown }).session
      // The request decorator is there (setup checked), but no onRequest hook filled it before this one.
      if (current == null) {
        throw new Error(`${MODULE}: request.session was not loaded when fastify-authentication ran: register the session plugin, with its onRequest hook, before fastify-authentication`)
      }
      // @fastify/session leaves an empty object on routes outside its cookie path.
      if (typeof (current as { get?: unknown }).get !== 'function') return null
      const data = (current as { get: (key: string) => unknown }).get(key)
      if (data == null) return null
      return loaded(load(data as Data, request))
    },
    setup (fastify: FastifyInstance) {
      // The decorator comes with the plugin, so it is missing if the plugin is, or if it is registered later.
      if (!fastify.hasRequestDecorator('session')) throw new Error(missingPlugin)
      found = DEFAULT_COOKIES.find(([plugin]) => fastify.hasPlugin(plugin))?.[1] ?? found
    },
    async login (request, data) {
      const value = asJson(data)
      const current = sessionOf(request, 'login(request, data)')
      if (isStored(current)) {
        // A new id, the old one destroyed in the store: an id planted before login (CVE-2023-29019) logs nobody in.
        await current.regenerate()
        // regenerate() put the new session on the request.
        const fresh = sessionOf(request, 'login(request, data)') as StoredSession
        fresh.set(key, value)
        return
      }
      // No id to change: the cookie is the data. Regenerating means dropping every earlier value,
      // so nothing a planted cookie held survives the login.
      for (const name of Object.keys(current.data())) current.set(name, undefined)
      // A delete() earlier in this request would clear the cookie this login writes.
      current.deleted = false
      current.set(key, value)
    },
    async logout (request) {
      const current = sessionOf(request, 'logout(request)')
      if (isStored(current)) await current.destroy()
      else current.delete()
    }
  }
}

/**
 * A login page's `next` query value as a same-origin path to redirect to, or `fallback` when it
 * is anything else: not a string, not a path (`https://evil.example`, `javascript:…`, `''`), or a
 * path a browser would read as leaving the origin (`//evil.example`, `/\evil.example`,
 * `/\t/evil.example`), or one that cannot go into a `Location` header. It accepts exactly the
 * paths the plugin's redirects put in `next` (see `safeNext`): printable ASCII starting with one
 * `/` that no slash, backslash or control character follows.
 */
export function nextPath (value: unknown, fallback = '/'): string {
  return isHeaderValue(value) && safeNext(value) === value ? value : fallback
}

/** `load`'s answer, sync or async: checked against the contract; `null` is anonymous, a caller is `recognised`. */
function loaded (answer: BackendAnswer | PromiseLike<BackendAnswer>): AuthenticationResult | null | PromiseLike<AuthenticationResult | null> {
  return isThenable(answer) ? answer.then(callerOrAnonymous) : callerOrAnonymous(answer)
}

function callerOrAnonymous (answer: BackendAnswer): AuthenticationResult | null {
  const result = checkResult(answer)
  return result === null ? null : recognised(result)
}

/** What `@fastify/session` puts on `request.session`: an id in a server-side store. */
interface StoredSession {
  get (key: string): unknown
  set (key: string, value: unknown): void
  regenerate (): Promise<void>
  destroy (): Promise<void>
}

/** What `@fastify/secure-session` puts on `request.session`: the data itself, in an encrypted cookie. */
interface CookieSession {
  get (key: string): unknown
  set (key: string, value: unknown): void
  data (): Record<string, unknown>
  delete (): void
  deleted: boolean
}

/** The session on the request, of either plugin, or a TypeError that says why there is none. */
function sessionOf (request: FastifyRequest, call: string): StoredSession | CookieSession {
  const current = (request as { session?: unknown }).session
  if (current === undefined) {
    throw new TypeError(`${MODULE}: ${call} found no request.session on this route: register @fastify/secure-session, or @fastify/cookie then @fastify/session, in its scope or a parent scope`)
  }
  if (!isStored(current) && !isCookie(current)) {
    throw new TypeError(`${MODULE}: ${call} found no session in request.session: the session plugin did not load one for this request (with @fastify/session: a route outside its cookie path, or a session logout() destroyed)`)
  }
  return current
}

function isStored (value: unknown): value is StoredSession {
  const candidate = value as Partial<StoredSession> | null
  return typeof candidate?.regenerate === 'function' && typeof candidate.destroy === 'function' && typeof candidate.set === 'function'
}

function isCookie (value: unknown): value is CookieSession {
  const candidate = value as Partial<CookieSession> | null
  return typeof candidate?.data === 'function' && typeof candidate.delete === 'function' && typeof candidate.set === 'function'
}

/** `data` as the session will give it back on later requests: a JSON copy, so the login request reads what they read. */
function asJson (data: unknown): unknown {
  let text: string | undefined
  try {
    text = JSON.stringify(data)
  } catch (cause) {
    throw new TypeError(`${MODULE}: login(request, data): data must be JSON-serialisable, like { userId }`, { cause })
  }
  if (text === undefined || text === 'null') {
    throw new TypeError(`${MODULE}: login(request, data): data must be a JSON value other than null, like { userId } (to log out, call logout(request))`)
  }
  return JSON.parse(text)
}

/** The options, checked, with the default key. */
interface Settings<Data> {
  load: LoadSession<Data>
  key: string
  cookieName: string | undefined
}

function checkOptions<Data> (options: SessionOptions<Data>): Settings<Data> {
  checkOptionNames(options, ['load', 'key', 'cookieName'], MODULE, '{ load }')
  const { load, key = 'fastify-authentication', cookieName } = options
  if (typeof load !== 'function') {
    throw new TypeError(`${MODULE}: the load option must be a function (data, request)`)
  }
  if (typeof key !== 'string' || key === '' || RESERVED.has(key) || key in Object.prototype) {
    throw new TypeError(`${MODULE}: the key option must be a non-empty string that is not a name the session objects use themselves (like cookie, sessionId or __proto__)`)
  }
  if (cookieName !== undefined && !isToken(cookieName)) {
    throw new TypeError(`${MODULE}: the cookieName option must be a cookie name, like 'sessionId'`)
  }
  return { load, key, cookieName }
}
