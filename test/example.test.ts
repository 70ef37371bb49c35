// `npm start`: the built example app, run as a user runs it, answered over real sockets.
import t from 'tap'
import { once } from 'node:events'
import { built, node, output } from './spawn'
import { handshake } from './helpers'

t.test('the example app serves every scenario of the README', async (t) => {
  if (!built()) throw new Error('run `npm run build` first (npm test does)')
  const server = node(['dist/example/server.js'], { PORT: '0' })
  t.teardown(() => { server.kill() })
  let printed = ''
  server.stdout?.setEncoding('utf8')
  while (!/listening at (\S+)/.test(printed)) {
    const [chunk] = await once(server.stdout!, 'data') as [string]
    printed += chunk
  }
  const http = (/listening at (\S+)/.exec(printed) as RegExpExecArray)[1]
  const ws = http.replace(/^http/, 'ws')
  t.match(printed, /curl -i -H 'Authorization: Bearer alice-token'/, 'it prints how to try it')

  const alice = { authorization: 'Bearer alice-token' }
  t.same(await (await fetch(http + '/')).json(), { authenticated: false, user: '', scopes: [] })
  const challenged = await fetch(http + '/api/me')
  t.equal(challenged.status, 401)
  t.equal(challenged.headers.get('www-authenticate'), 'Bearer realm="example"')
  t.same(await (await fetch(http + '/api/me', { headers: alice })).json(), { user: 'alice' })
  for (const authorization of ['Bearer nope', 'Basic alice-token']) {
    const invalid = await fetch(http + '/api/me', { headers: { authorization } })
    t.equal(invalid.status, 400, authorization)
    t.equal(await invalid.text(), 'Invalid bearer token')
  }

  const redirected = await fetch(http + '/admin', { redirect: 'manual', headers: alice })
  t.equal(redirected.status, 303)
  t.equal(redirected.headers.get('location'), '/login?next=%2Fadmin')
  const followed = await fetch(http + '/admin')
  t.match(await followed.text(), /Then go back to \/admin/)
  t.match(await (await fetch(http + '/login')).text(), /Then go back to \/\.</)
  t.match(await (await fetch(http + '/admin', { headers: { authorization: 'Bearer admin-token' } })).text(), /Welcome, root/)

  t.match(await handshake(ws + '/ws'), { opened: false, status: 403 })
  t.same(await handshake(ws + '/ws', alice), { opened: true, message: 'hello alice' })
  t.same(await (await fetch(http + '/health', { headers: { authorization: 'Bearer nope' } })).json(), { ok: true })
})

t.test('the example app says why it could not start', async (t) => {
  const badPort = await output(node(['dist/example/server.js'], { PORT: 'not-a-port' }))
  t.equal(badPort.code, 1)
  t.match(badPort.stderr, /port/i)
  // The default port, 3000, is never reached: the host name does not resolve.
  const badHost = await output(node(['dist/example/server.js'], { HOST: 'not a host' }))
  t.equal(badHost.code, 1)
  t.match(badHost.stderr, /ENOTFOUND/)
})
