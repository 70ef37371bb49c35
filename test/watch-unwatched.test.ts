// An app created before fastify-authentication is imported: Fastify announced it to nobody, so the
// package does not watch it (lib/watch.ts). The plugin still guards its requests; only the startup
// checks and the documentation of its scopes' guards are lost, and openapi says so.
import t from 'tap'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import Fastify, { type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'

const early: FastifyInstance[] = Array.from({ length: 3 }, () => Fastify())

// Imported only now, after the apps above (these are not hoisted as import declarations are).
import authentication = require('../lib/index')
import backends = require('../lib/backends/bearer')
import openapi = require('../lib/openapi')
import helpers = require('./helpers')

const tokens = { 'tok-read': { auth: new authentication.AuthCredentials(['read']), user: new authentication.SimpleUser('reader') } }

t.test('the plugin guards its routes; a guard no registration covers answers 500', async (t) => {
  const refused: string[] = []
  const onRefused = (message: unknown): void => { refused.push((message as { reason: string }).reason) }
  subscribe('fastify-authentication:refused', onRefused)
  t.teardown(() => { unsubscribe('fastify-authentication:refused', onRefused) })
  const app = early[0]
  let ran = 0
  await app.register(async (child) => {
    await child.register(authentication, { backend: backends.bearer({ tokens }) })
    child.addHook('onRequest', authentication.requires('read'))
    child.get('/scope-wide', async () => { ran++; return 'ok' })
    child.get('/config', { config: { requires: 'admin' } }, async () => { ran++; return 'ok' })
  })
  app.get('/uncovered', { config: { requires: 'read' } }, async () => { ran++; return 'never' })
  app.get('/uncovered-hook', { preHandler: authentication.requires('read') }, async () => { ran++; return 'never' })
  const { http } = await helpers.listen(app, t)
  const read = { authorization: 'Bearer tok-read' }
  t.equal((await helpers.get(http, '/scope-wide')).status, 401)
  t.equal((await helpers.get(http, '/scope-wide', read)).body, 'ok')
  t.equal((await helpers.get(http, '/config', read)).status, 403)
  for (const path of ['/uncovered', '/uncovered-hook']) {
    const answer = await helpers.get(http, path, read)
    t.equal(answer.status, 500, `${path}: 500, the last line of defence`)
    t.match(JSON.parse(answer.body).message, /does not cover it: register it/, `${path}: saying what to do`)
  }
  t.equal(ran, 1, 'no guarded handler ran but the one the caller may use')
  t.same(refused, ['missing-credentials', 'missing-scopes', 'not-covered', 'not-covered'], 'each refusal published, with its reason')
})

t.test('fastify-authentication/openapi refuses to document its routes, saying to import the package first', async (t) => {
  const app = early[1]
  await app.register(authentication, { backend: backends.bearer({ tokens }) })
  await app.register(swagger, { openapi: { info: { title: 'api', version: '1.0.0' } }, ...openapi.openapi() })
  app.get('/open', async () => 'ok')
  await app.ready()
  t.throws(() => app.swagger(), /^fastify-authentication\/openapi: GET \/open belongs to an app created before fastify-authentication was imported, so the requires\(\) hooks its scopes add with addHook cannot be seen, nor documented: import fastify-authentication before calling Fastify\(\)$/)
  await app.close()
})

t.test('nothing checks its guards at startup', async (t) => {
  const app = early[2]
  app.get('/uncovered', { config: { requires: 'read' } }, async () => 'never')
  app.addHook('onSend', authentication.requires('read') as never)
  await app.ready()
  t.pass('ready, as the package never saw the app')
  await app.close()
})
