import t from 'tap'
import Fastify from 'fastify'
import authentication, { AuthCredentials, type AuthenticationOptions } from '../lib/index'

const backend = { authenticate: () => null }

t.test('bad options fail at registration, naming the option', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [undefined, /the backend option must be/],
    [() => null, /options must be an object like \{ backend \}/],
    [{}, /the backend option must be an object with an authenticate\(request\) method/],
    [{ backend: {} }, /the backend option must be/],
    [{ backend: [] }, /the backend option must be/],
    [{ backend: [backend, null] }, /the backend option must be/],
    [{ backend, onError: 'send 401' }, /the onError option must be a function/],
    [{ backend, challenge: '' }, /the challenge option must be a WWW-Authenticate value/],
    [{ backend, challenge: 'Basic\r\nX-Evil: 1' }, /the challenge option/],
    [{ backend, timeout: 0 }, /the timeout option must be a whole number of milliseconds/],
    [{ backend, timeout: 1.5 }, /the timeout option/],
    [{ backend, timeout: '100' }, /the timeout option/],
    [{ backend, timeout: 2 ** 31 }, /the timeout option/],
    [{ backend: { authenticate: () => null, challenge: 'Bearer\nX: 1' } }, /a backend's challenge must be a WWW-Authenticate value/],
    [{ backend, backends: [backend] }, /unknown option "backends"; the options are backend, onError, challenge, timeout, origins, lockout and store/]
  ]
  for (const [options, message] of bad) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(authentication, options as AuthenticationOptions) }, message, JSON.stringify(options))
  }
})

t.test('good options, including Fastify\'s own register options', async (t) => {
  const app = Fastify()
  await app.register(authentication, {
    backend: [backend], onError: () => 'x', challenge: 'Basic realm="api"', timeout: 1000, prefix: '/v1', logLevel: 'warn'
  } as AuthenticationOptions)
  t.equal(app.hasRequestDecorator('auth'), true)
  t.equal(app.hasRequestDecorator('user'), true)
  t.equal(app.hasPlugin('fastify-authentication'), true)
})

t.test('request.auth and request.user read null until the plugin\'s hook sets them, and an app can assign them', async (t) => {
  const app = Fastify()
  const before: unknown[] = []
  app.addHook('onRequest', async (request) => { before.push(request.auth, request.user) })
  await app.register(authentication, { backend })
  app.get('/', async (request) => {
    const anonymous = request.auth.scopes
    request.auth = new AuthCredentials(['assigned'])
    // Accessors on the prototype (README, decisions): not own properties of the request.
    return { anonymous, assigned: request.auth.scopes, own: Object.keys(request).filter((key) => key === 'auth' || key === 'user') }
  })
  for (let i = 0; i < 2; i++) t.same((await app.inject('/')).json(), { anonymous: [], assigned: ['assigned'], own: [] }, `request ${i + 1}`)
  t.strictSame(before, [null, null, null, null], 'an onRequest hook before the plugin\'s reads null, on every request')
})

t.test('registering twice in one scope fails at startup, naming the plugin', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend })
  await t.rejects(async () => { await app.register(authentication, { backend }) }, /^fastify-authentication is registered twice in the same scope/)
})
