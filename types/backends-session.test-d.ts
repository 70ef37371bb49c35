// The session backend: load's data is the app's own type, login takes the same, and what load
// returns is checked against the app's AuthenticationTypes (augmented here: an ApiUser, three scopes).
import Fastify, { type FastifyRequest } from 'fastify'
import { expectAssignable, expectError, expectType } from 'tsd'
import authentication, { AuthCredentials, SimpleUser, type AuthenticationBackend } from 'fastify-authentication'
import { nextPath, session, type LoadSession, type SessionBackend, type SessionOptions } from 'fastify-authentication/session'
import { ApiUser } from './app'

interface Login { userId: number }
const caller = { auth: new AuthCredentials(['read']), user: new ApiUser(1) }
declare const request: FastifyRequest

// load's data types login's.
const sessions = session({
  load (data: Login, request) {
    expectType<Login>(data)
    expectType<FastifyRequest>(request)
    return data.userId === 1 ? caller : null
  }
})
expectType<SessionBackend<Login>>(sessions)
expectAssignable<AuthenticationBackend>(sessions)
expectType<Promise<void>>(sessions.login(request, { userId: 1 }))
expectType<Promise<void>>(sessions.logout(request))
expectError(sessions.login(request, { userId: '1' }))
expectError(sessions.login(request, { user: 1 }))
expectError(sessions.login(request))
expectError(sessions.logout())
expectType<'session'>(sessions.securityScheme.name)
expectType<'apiKey'>(sessions.securityScheme.definition.type)
expectType<'cookie'>(sessions.securityScheme.definition.in)
expectType<string>(sessions.securityScheme.definition.name)

// Without a type for data, it is unknown, and login takes anything.
const untyped = session({
  load (data) {
    expectType<unknown>(data)
    return null
  }
})
expectType<SessionBackend<unknown>>(untyped)
expectType<Promise<void>>(untyped.login(request, { anything: true }))

// Sync or async; null or undefined; the key and cookieName options.
session({ load: async () => caller, key: 'staff', cookieName: 'sid' })
session({ load: () => undefined })
session({ load: async (data: Login) => data.userId > 0 ? caller : null })
expectAssignable<SessionOptions<Login>>({ load: async (data: Login) => data.userId > 0 ? caller : null })
expectAssignable<LoadSession<Login>>(async () => null)

// What load returns: the app's user, with the app's scopes.
expectError(session({ load: () => ({ auth: new AuthCredentials(['read']), user: new SimpleUser('tom') }) }))
expectError(session({ load: () => ({ auth: new AuthCredentials(['admni']), user: new ApiUser(1) }) }))
expectError(session({ load: async () => ({ user: new ApiUser(1) }) }))
expectError(session({ load: () => 'tom' }))
expectError(session({}))
expectError(session({ load: () => caller, key: 42 }))
expectError(session({ load: () => caller, cookieName: true }))
expectError(session({ load: () => caller, verify: () => caller }))

// nextPath takes anything a query parser gives, and always returns a path.
expectType<string>(nextPath('/ok'))
expectType<string>(nextPath(undefined, '/home'))
expectType<string>(nextPath((request.query as { next?: unknown }).next))
expectType<string>(nextPath(['/a', '/b']))
expectError(nextPath('/ok', 42))

// It plugs into the plugin, alone or in a chain.
const app = Fastify()
app.register(authentication, { backend: sessions })
app.register(authentication, { backend: [sessions, untyped] })
