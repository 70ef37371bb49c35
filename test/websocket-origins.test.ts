// The origins option: a browser's handshake from another origin is refused before any backend runs.
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import authentication, { AuthCredentials, SimpleUser, type AuthenticationOptions } from '../lib/index'
import { get, handshake, listen } from './helpers'

async function server (t: Test, origins?: AuthenticationOptions['origins'], trustProxy = false) {
  let calls = 0
  const app = Fastify({ trustProxy })
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

const status = async (url: string, origin?: string, headers: Record<string, string> = {}): Promise<number | 'opened'> => {
  const answer = await handshake(url, origin === undefined ? headers : { ...headers, origin })
  return answer.opened ? 'opened' : answer.status
}

t.test('same-origin by default: another origin is refused with 403 before any backend runs', async (t) => {
  const { ws, http, host, calls } = await server(t)
  t.equal(await status(ws + '/ws', `http://${host}`), 'opened', 'the page\'s own origin')
  t.equal(await status(ws + '/ws'), 'opened', 'no Origin: not a browser, the backends decide')
  const before = calls()
  for (const origin of ['http://evil.example', `http://${host}.evil.example`, 'null', 'http://127.0.0.1:1', 'not a url', `http://user@${host}`, `http://${host}/path`]) {
    t.equal(await status(ws + '/ws', origin), 403, origin)
  }
  t.equal(calls(), before, 'no backend ran for a refused origin')
  t.equal((await get(http, '/http', { origin: 'http://evil.example' })).body, 'alice', 'plain HTTP is not affected')
})

t.test('same-origin compares the scheme, host and port (RFC 6454 §4): the request\'s as Fastify reports them', async (t) => {
  const { ws, host, calls } = await server(t)
  const [hostname, port] = host.split(':')
  t.equal(await status(ws + '/ws', `https://${host}`), 403, 'a page of https://host opens no socket on http://host')
  t.equal(await status(ws + '/ws', `https://${host}`, { 'x-forwarded-proto': 'https' }), 403, 'X-Forwarded-Proto is not trusted without trustProxy')
  t.equal(await status(ws + '/ws', `HTTP://${hostname.toUpperCase()}:${port}`), 'opened', 'the scheme and host compared as serialized, in lower case')
  t.equal(await status(ws + '/ws', `http://${hostname}:${Number(port) + 1}`), 403, 'another port')
  t.equal(await status(ws + '/ws', `http://${hostname}`, { host: `${hostname}:80` }), 'opened', 'the default port is no port')
  t.equal(await status(ws + '/ws', `http://${hostname}:80`, { host: hostname }), 'opened')
  t.equal(await status(ws + '/ws', `https://${hostname}`, { host: `${hostname}:443` }), 403, 'port 443 is not the default of http')
  const before = calls()
  for (const hostHeader of [`${host}/path`, `user@${host}`]) {
    t.equal(await status(ws + '/ws', 'null', { host: hostHeader }), 403, `a Host that names no origin (${hostHeader}) matches no Origin, not even another that names none`)
    t.equal(await status(ws + '/ws', `http://${hostHeader}`, { host: hostHeader }), 403, `nor the same text (${hostHeader})`)
  }
  t.equal(calls(), before, 'no backend ran')
})

t.test('with trustProxy, the scheme and host are the client\'s: X-Forwarded-Proto: https matches only https://host', async (t) => {
  const { ws, host } = await server(t, undefined, true)
  const behindTls = { 'x-forwarded-proto': 'https' }
  t.equal(await status(ws + '/ws', `https://${host}`, behindTls), 'opened', 'the page of the TLS proxy\'s origin')
  t.equal(await status(ws + '/ws', `http://${host}`, behindTls), 403, 'a page of http://host opens no socket on https://host')
  t.equal(await status(ws + '/ws', `http://${host}`), 'opened', 'no X-Forwarded-Proto: the connection\'s scheme')
  t.equal(await status(ws + '/ws', 'https://app.example', { ...behindTls, 'x-forwarded-host': 'app.example' }), 'opened', 'X-Forwarded-Host names the host')
  t.equal(await status(ws + '/ws', `https://${host}`, { ...behindTls, 'x-forwarded-host': 'app.example' }), 403)
  t.equal(await status(ws + '/ws', `https://${host}`, { 'x-forwarded-proto': 'gopher' }), 403, 'a scheme with no origin matches nothing')
})

t.test('a list of origins allows exactly those', async (t) => {
  const { ws, host } = await server(t, ['https://app.example', 'HTTP://Admin.Example:8080'])
  t.equal(await status(ws + '/ws', 'https://app.example'), 'opened')
  t.equal(await status(ws + '/ws', 'http://admin.example:8080'), 'opened', 'configured origins are normalized')
  t.equal(await status(ws + '/ws', `http://${host}`), 403, 'not even the server\'s own origin')
  t.equal(await status(ws + '/ws', 'https://app.example:8443'), 403)
  t.equal(await status(ws + '/ws', 'http://app.example'), 403)
})

t.test('a list may name \'same-origin\': the page\'s own origin, scheme, host and port compared, and the listed ones', async (t) => {
  const { ws, host, calls } = await server(t, ['same-origin', 'https://app.example'])
  const [hostname, port] = host.split(':')
  t.equal(await status(ws + '/ws', `http://${host}`), 'opened', 'the server\'s own origin')
  t.equal(await status(ws + '/ws', 'https://app.example'), 'opened', 'a listed origin')
  t.equal(await status(ws + '/ws'), 'opened', 'no Origin: not a browser')
  const before = calls()
  for (const origin of [`https://${host}`, `http://${hostname}:${Number(port) + 1}`, 'http://app.example', 'http://evil.example', 'null']) {
    t.equal(await status(ws + '/ws', origin), 403, origin)
  }
  t.equal(calls(), before, 'no backend ran for a refused origin')
})

t.test('a list of origins named twice is still only those origins', async (t) => {
  const { ws, host } = await server(t, ['https://app.example', 'https://app.example'])
  t.equal(await status(ws + '/ws', `http://${host}`), 403)
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
