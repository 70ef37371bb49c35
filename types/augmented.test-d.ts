// With AuthenticationTypes augmented: request.user is the app's user, and a misspelt scope does not compile.
import Fastify from 'fastify'
import { expectError, expectType } from 'tsd'
import authentication, { AuthCredentials, UnauthenticatedUser, hasRequiredScope, requires } from 'fastify-authentication'
import { ApiUser } from './app'

const app = Fastify()
app.register(authentication, {
  backend: { authenticate: () => ({ auth: new AuthCredentials(['admin']), user: new ApiUser(1) }) }
})
expectError(app.register(authentication, {
  backend: { authenticate: () => ({ auth: new AuthCredentials(['admin']), user: new UnauthenticatedUser() }) }
}))
expectError(new AuthCredentials(['admn']))

requires('admin')
requires(['authenticated', 'admin'], { match: 'any' })
expectError(requires('admn'))
expectError(requires(['authenticated', 'Admin']))

app.get('/me', { preHandler: requires('authenticated') }, async (request) => {
  expectType<ApiUser | UnauthenticatedUser>(request.user)
  expectType<readonly ('authenticated' | 'read' | 'admin')[]>(request.auth.scopes)
  if (request.user instanceof ApiUser) expectType<number>(request.user.id)
  expectError(hasRequiredScope(request, 'superuser'))
  return 'ok'
})
app.get('/admin', { config: { requires: 'admin' } }, async () => 'ok')
app.get('/admins', { config: { requires: { scopes: ['admin'], redirect: '/login' } } }, async () => 'ok')
expectError(app.get('/typo', { config: { requires: 'admn' } }, async () => 'ok'))
expectError(app.get('/typo', { config: { requires: { scopes: ['admn'] } } }, async () => 'ok'))
