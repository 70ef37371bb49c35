import t from 'tap'
import { AuthCredentials, AuthenticationError, BaseUser, SimpleUser, UnauthenticatedUser } from '../lib/index'

t.test('AuthCredentials: read-only scopes, empty by default', async (t) => {
  t.same(new AuthCredentials().scopes, [])
  const source = ['read', 'write']
  const credentials = new AuthCredentials(source)
  source.push('admin')
  t.same(credentials.scopes, ['read', 'write'], 'a copy: later changes to the array grant nothing')
  t.ok(Object.isFrozen(credentials.scopes))
  t.throws(() => { (credentials.scopes as string[]).push('admin') }, TypeError)
  t.throws(() => { (credentials as unknown as { scopes: string[] }).scopes = ['admin'] }, TypeError)
  t.same(new AuthCredentials(new Set(['a'])).scopes, ['a'], 'any iterable of scopes')
})

t.test('AuthCredentials refuses what is not a list of scope names', async (t) => {
  for (const bad of ['admin', 42, null, { scopes: ['a'] }, [''], ['a', 1]]) {
    t.throws(() => new AuthCredentials(bad as string[]), TypeError, JSON.stringify(bad))
  }
})

t.test('users', async (t) => {
  const tom = new SimpleUser('tom')
  t.same([tom.isAuthenticated, tom.displayName, tom.identity, tom.username], [true, 'tom', 'tom', 'tom'])
  t.ok(tom instanceof BaseUser)
  t.throws(() => new SimpleUser(undefined as unknown as string), TypeError)
  const anonymous = new UnauthenticatedUser()
  t.same([anonymous.isAuthenticated, anonymous.displayName, anonymous.identity], [false, '', ''])
  t.ok(anonymous instanceof BaseUser)

  class ApiUser extends BaseUser {
    constructor (readonly id: number) { super() }
    get isAuthenticated () { return true }
    get displayName () { return `user ${this.id}` }
    get identity () { return String(this.id) }
  }
  t.equal(new ApiUser(7).displayName, 'user 7')
})

t.test('AuthenticationError', async (t) => {
  const error = new AuthenticationError('Invalid token')
  t.ok(error instanceof Error)
  t.equal(error.name, 'AuthenticationError')
  t.equal(error.message, 'Invalid token')
  t.equal(new AuthenticationError().message, 'Invalid authentication credentials')
  const cause = new Error('expired')
  t.equal(new AuthenticationError('Invalid token', { cause }).cause, cause)
})
