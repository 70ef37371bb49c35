// Without augmentation: scopes are strings and request.user is a BaseUser.
import Fastify, { type FastifyRequest, type preHandlerHookHandler } from 'fastify'
import { expectAssignable, expectError, expectType } from 'tsd'
import authentication, {
  AuthCredentials, AuthenticationError, BaseUser, SimpleUser, UnauthenticatedUser, hasRequiredScope, requires,
  type AuthenticationBackend, type AuthenticationOptions, type AuthenticationResult, type RequiresOptions
} from 'fastify-authentication'

const backend: AuthenticationBackend = {
  authenticate (request) {
    expectType<FastifyRequest>(request)
    return { auth: new AuthCredentials(['read']), user: new SimpleUser('tom') }
  }
}
expectAssignable<AuthenticationBackend>({ authenticate: () => null })
expectAssignable<AuthenticationBackend>({ authenticate: async () => undefined })
expectAssignable<AuthenticationBackend>({ authenticate: async (): Promise<AuthenticationResult> => ({ auth: new AuthCredentials(), user: new SimpleUser('a') }) })
expectError<AuthenticationBackend>({ authenticate: () => ({ auth: ['read'], user: new SimpleUser('a') }) })
expectError<AuthenticationBackend>({ authenticate: () => ({ auth: new AuthCredentials() }) })

const app = Fastify()
app.register(authentication, { backend })
app.register(authentication, { backend: [backend, backend], challenge: 'Basic realm="api"', timeout: 1000 })
app.register(authentication, {
  backend,
  onError (error, request, reply) {
    expectType<AuthenticationError>(error)
    expectType<FastifyRequest>(request)
    return reply.code(401).send({ error: error.message })
  }
})
expectError(app.register(authentication, {}))
expectError(app.register(authentication, { backend, timeout: '1s' }))
expectAssignable<AuthenticationOptions>({ backend })

expectType<preHandlerHookHandler>(requires('read'))
requires(['read', 'write'], { statusCode: 401, redirect: '/login', match: 'any' })
expectError(requires('read', { statusCode: '401' }))
expectError(requires('read', { match: 'some' }))
expectError(requires(42))
expectAssignable<RequiresOptions>({ statusCode: 401 })

app.get('/', { preHandler: [requires('read'), async () => {}] }, async (request) => {
  expectType<AuthCredentials>(request.auth)
  expectType<readonly string[]>(request.auth.scopes)
  expectType<BaseUser | UnauthenticatedUser>(request.user)
  expectType<boolean>(request.user.isAuthenticated)
  expectType<boolean>(hasRequiredScope(request, ['read']))
  return request.user.displayName
})
app.get('/config', { config: { requires: 'read', authenticate: true } }, async () => 'ok')
app.get('/config-all', { config: { requires: { scopes: ['a', 'b'], statusCode: 401, match: 'all' } } }, async () => 'ok')
expectError(app.get('/typo', { config: { requires: { scope: 'read' } } }, async () => 'ok'))
expectError(app.get('/typo', { config: { authenticate: 'no' } }, async () => 'ok'))

// The classes are values and types.
class ApiUser extends BaseUser {
  get isAuthenticated () { return true }
  get displayName () { return 'api' }
  get identity () { return 'api' }
}
expectAssignable<BaseUser>(new ApiUser())
expectType<readonly string[]>(new AuthCredentials().scopes)
expectError(new AuthCredentials().scopes.push('admin'))
expectAssignable<Error>(new AuthenticationError('bad'))

// CommonJS shape: the plugin carries the API and .default.
expectType<typeof authentication>(authentication.default)
expectType<typeof requires>(authentication.requires)
