// The origins option: a browser's handshake from another origin is refused before any backend runs.
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, SimpleUser, type AuthenticationOptions } from '../lib/index'
import { get, handshake, listen } from './helpers'

async function server (t: Test, origins?: AuthenticationOptions['origins']) {
  let calls = 0
  const app = Fastify()
  await app.register(websocket)
  await app.register(authentication, {
    origins,
    backend: { authenticate: () => { calls++; return { auth: new AuthCredentials(['authenticated']), user: new SimpleUser('alice') } } }
  })
  app.get('/ws', { websocket: true, config: { requires: 'authenticated' } }, (socket, request) => { socket.send(request.user.displayName) })
  app.get('/http', async (request) => request.user.displayName)
  const { http, ws } = await listen(app, t)
  return { http, ws, host: new URL(http).host, calls: () => calls }
}

const status = async (url: string, origin?: string): Promise<number | 'opened'> => {
  const answer = await handshake(url, origin === undefined ? {} : { origin })
  return answer.opened ? 'opened' : answer.status
}

t.test('same-origin by default: another origin is refused with 403 before any backend runs', async (t) => {
  const { ws, http, host, calls } = await server(t)
  t.equal(await status(ws + '/ws', `http://${host}`), 'opened', 'the page\'s own origin')
  t.equal(await status(ws + '/ws', `https://${host}`), 'opened', 'the same host over https (behind a TLS proxy)')
  t.equal(await status(ws + '/ws'), 'opened', 'no Origin: not a browser, the backends decide')
  const before = calls()
  for (const origin of ['http://evil.example', `http://${host}.evil.example`, 'null', 'http://127.0.0.1:1', 'not a url', `http://user@${host}`, `http://${host}/path`]) {
    t.equal(await status(ws + '/ws', origin), 403, origin)
  }
  t.equal(calls(), before, 'no backend ran for a refused origin')
  t.equal((await get(http, '/http', { origin: 'http://evil.example' })).body, 'alice', 'plain HTTP is not affected')
})

t.test('a list of origins allows exactly those', async (t) => {
  const { ws, host } = await server(t, ['https://app.example', 'HTTP://Admin.Example:8080'])
  t.equal(await status(ws + '/ws', 'https://app.example'), 'opened')
  t.equal(await status(ws + '/ws', 'http://admin.example:8080'), 'opened', 'configured origins are normalized')
  t.equal(await status(ws + '/ws', `http://${host}`), 403, 'not even the server\'s own origin')
  t.equal(await status(ws + '/ws', 'https://app.example:8443'), 403)
  t.equal(await status(ws + '/ws', 'http://app.example'), 403)
})

t.test('\'*\' turns the check off', async (t) => {
  const { ws } = await server(t, '*')
  t.equal(await status(ws + '/ws', 'http://evil.example'), 'opened')
})

t.test('bad origins options fail at registration', async (t) => {
  for (const origins of [[], 'any', ['https://app.example/'], ['https://app.example/path'], ['app.example'], [42], ['null']]) {
    const app = Fastify()
    await t.rejects(async () => {
      await app.register(authentication, { backend: { authenticate: () => null }, origins: origins as never })
    }, /origins option must be|every entry of the origins option must be an origin/, JSON.stringify(origins))
  }
})
