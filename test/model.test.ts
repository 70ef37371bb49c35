import t from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import authentication, { AuthCredentials, AuthenticationError, BaseUser, SimpleUser, UnauthenticatedUser, hasRequiredScope } from '../lib/index'

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
  // Checks scan an unfrozen copy of a short list: what `scopes` hands out must still be frozen, and a copy of its own.
  for (const length of [0, 1, 16, 17, 10_000]) {
    const list = Array.from({ length }, (_, i) => `scope-${i}`)
    const held = new AuthCredentials(list)
    list.push('admin')
    t.ok(Object.isFrozen(held.scopes), `${length} scopes: frozen`)
    t.equal(held.scopes.length, length, `${length} scopes: a copy`)
    t.equal(held.scopes, held.scopes, `${length} scopes: the same list on every read`)
    // A scan (up to 16 scopes) or a Set (more): either finds the last scope held, and nothing added later.
    const request = { auth: held } as unknown as FastifyRequest
    t.equal(hasRequiredScope(request, `scope-${length - 1}`), length > 0, `${length} scopes: the last one held is granted`)
    t.equal(hasRequiredScope(request, 'admin'), false, `${length} scopes: a scope pushed afterwards grants nothing`)
  }
})

t.test('AuthCredentials refuses what is not a list of scope names', async (t) => {
  for (const bad of ['admin', 42, null, { scopes: ['a'] }, [''], ['a', 1]]) {
    t.throws(() => new AuthCredentials(bad as string[]), TypeError, JSON.stringify(bad))
  }
})

t.test('AuthCredentials: expiresAt, a Date or epoch milliseconds, read as milliseconds', async (t) => {
  t.equal(new AuthCredentials(['a']).expiresAt, undefined)
  t.equal(new AuthCredentials(['a'], { expiresAt: 1700000000000 }).expiresAt, 1700000000000)
  t.equal(new AuthCredentials([], { expiresAt: new Date(1700000000000) }).expiresAt, 1700000000000)
  for (const bad of [null, 'soon']) {
    t.throws(() => new AuthCredentials(['a'], bad as never), /options must be an object like \{ expiresAt \}/)
  }
  for (const expiresAt of [new Date(Number.NaN), Number.POSITIVE_INFINITY, '2030-01-01']) {
    t.throws(() => new AuthCredentials(['a'], { expiresAt } as never), /expiresAt must be a valid Date or epoch milliseconds/, String(expiresAt))
  }
})

t.test('AuthCredentials: a scope costs one look-up, however many are held', async (t) => {
  const many = Array.from({ length: 10_000 }, (_, i) => `scope-${i}`)
  const app = Fastify()
  await app.register(authentication, {
    backend: { authenticate: (request) => ({ auth: new AuthCredentials(request.headers['x-many'] === undefined ? ['scope-9999'] : many), user: new SimpleUser('a') }) }
  })
  app.get('/', async (request) => [hasRequiredScope(request, 'scope-9999'), hasRequiredScope(request, ['scope-0', 'scope-5000']), hasRequiredScope(request, 'scope-10000')])
  t.same((await app.inject({ url: '/', headers: { 'x-many': '1' } })).json(), [true, true, false], 'a long list (a Set)')
  t.same((await app.inject({ url: '/' })).json(), [true, false, false], 'a short list (a scan)')
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
  t.same([error.statusCode, error.challenge], [400, undefined], 'Starlette\'s 400 by default, no challenge')
  const invalid = new AuthenticationError('Invalid token', { statusCode: 401, challenge: 'Bearer error="invalid_token"' })
  t.same([invalid.statusCode, invalid.challenge], [401, 'Bearer error="invalid_token"'])
  for (const statusCode of [399, 600, 401.5, '401']) {
    t.throws(() => new AuthenticationError('x', { statusCode } as never), /statusCode must be an integer from 400 to 599/, String(statusCode))
  }
  for (const challenge of ['', ' Bearer', 'Bearer\r\nX: 1', 42]) {
    t.throws(() => new AuthenticationError('x', { challenge } as never), /challenge must be a WWW-Authenticate value/, String(challenge))
  }
  t.equal(new AuthenticationError('Try later', { statusCode: 503, retryAfter: 5 }).retryAfter, 5)
  for (const retryAfter of [-1, 1.5, NaN, '5']) {
    t.throws(() => new AuthenticationError('x', { retryAfter } as never), /retryAfter must be a whole number of seconds, 0 or more/, String(retryAfter))
  }
})
