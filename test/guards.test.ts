// The guards' answers to a caller without the scopes (issue 23): who is sent to log in, who gets
// 403, and what the challenge of a match: 'any' guard says.
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import authentication, { AuthCredentials, SimpleUser, requires } from '../lib/index'
import { bearer } from '../lib/backends/bearer'
import { listen } from './helpers'

const tokens = {
  alice: { auth: new AuthCredentials(['read']), user: new SimpleUser('alice') },
  root: { auth: new AuthCredentials(['read', 'admin']), user: new SimpleUser('root') }
}
const as = (token?: string): RequestInit => ({ redirect: 'manual', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })

async function server (t: Test) {
  const app = Fastify()
  await app.register(authentication, { backend: bearer({ tokens, realm: 'api' }) })
  app.get('/admin', { config: { requires: { scopes: 'admin', redirect: '/login' } } }, async () => 'admin page')
  app.get('/teapot', { preHandler: requires('admin', { redirect: '/login', statusCode: 418 }) }, async () => 'admin page')
  app.get('/any', { config: { requires: { scopes: ['write', 'admin'], match: 'any' } } }, async () => 'written')
  app.get('/all', { config: { requires: ['write', 'admin'] } }, async () => 'written')
  return (await listen(app, t)).http
}

t.test('redirect sends only an anonymous caller to log in; a logged-in one without the scopes gets 403', async (t) => {
  const http = await server(t)
  const anonymous = await fetch(http + '/admin?tab=1', as())
  t.equal(anonymous.status, 303)
  t.equal(anonymous.headers.get('location'), '/login?next=%2Fadmin%3Ftab%3D1')
  t.equal(await anonymous.text(), '', 'a 303 has no body')

  const alice = await fetch(http + '/admin', as('alice'))
  t.equal(alice.status, 403, 'logging in again would not give alice the scope')
  t.equal(alice.headers.get('location'), null)
  t.match(alice.headers.get('content-type'), /^application\/json/)
  t.equal(alice.headers.get('www-authenticate'), 'Bearer realm="api", error="insufficient_scope", scope="admin"',
    'the recognising backend names the scope (RFC 6750 §3.1)')
  t.match(await alice.json(), { statusCode: 403, error: 'Forbidden', message: 'Missing required scope' })

  t.equal(await (await fetch(http + '/admin', as('root'))).text(), 'admin page')
})

t.test('a guard\'s statusCode is what a logged-in caller gets beside its redirect', async (t) => {
  const http = await server(t)
  t.equal((await fetch(http + '/teapot', as())).status, 303, 'anonymous: sent to log in')
  const alice = await fetch(http + '/teapot', as('alice'))
  t.equal(alice.status, 418)
  t.equal(alice.headers.get('location'), null)
  t.equal(alice.headers.get('www-authenticate'), null, 'insufficient_scope goes with 403 only')
})

t.test('match: \'any\': the challenge lists the scopes and says that any one of them is enough', async (t) => {
  const http = await server(t)
  const any = await fetch(http + '/any', as('alice'))
  t.equal(any.status, 403)
  t.equal(any.headers.get('www-authenticate'),
    'Bearer realm="api", error="insufficient_scope", error_description="any one of these scopes: write admin", scope="write admin"')
  const all = await fetch(http + '/all', as('alice'))
  t.equal(all.headers.get('www-authenticate'), 'Bearer realm="api", error="insufficient_scope", scope="write admin"',
    'match: \'all\': scope lists what is needed, all of it')
  t.equal(await (await fetch(http + '/any', as('root'))).text(), 'written')
})

t.test('a scope outside RFC 6750 syntax is named neither in scope nor in error_description', async (t) => {
  const backend = bearer({ tokens, realm: 'api' })
  t.equal(backend.insufficientScope?.(['a"b', 'c'], 'any'), 'Bearer realm="api", error="insufficient_scope"')
})
