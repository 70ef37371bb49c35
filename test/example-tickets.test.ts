// The example app, built and run as a user runs it: a ticket stolen from root's page, used as
// the review of issue #21 used it, over raw sockets. It is a handshake credential and nothing else.
import t from 'tap'
import { once } from 'node:events'
import { rawRequest, withTicket } from './helpers'
import { built, node } from './spawn'

t.test('tickets stolen from root\'s page open no HTTP route, buy no ticket, and still open one socket each', async (t) => {
  if (!built()) throw new Error('run `npm run build` first (npm test does)')
  const server = node(['dist/example/server.js'], { PORT: '0' })
  t.teardown(() => { server.kill() })
  let printed = ''
  server.stdout!.setEncoding('utf8')
  server.stdout!.on('data', (chunk: string) => { printed += chunk })
  while (!/listening at \S+/.test(printed)) await once(server.stdout!, 'data')
  const http = (/listening at (\S+)/.exec(printed) as RegExpExecArray)[1]
  const ws = http.replace(/^http/, 'ws')

  // root logs in on the demo page, which asks for a ticket; then root logs out.
  const login = await fetch(http + '/login', { method: 'POST', body: new URLSearchParams({ user: 'root', password: 'admin' }), redirect: 'manual' })
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]
  t.same(await (await fetch(http + '/api/admin', { headers: { cookie } })).json(), { admin: 'root' }, 'root, logged in')
  const tickets: string[] = []
  for (let i = 0; i < 3; i++) tickets.push((await (await fetch(http + '/ws-ticket', { method: 'POST', headers: { cookie } })).json() as { ticket: string }).ticket)
  t.ok(tickets.every((ticket) => /^[\w-]{43}$/.test(ticket)), 'tickets for root')
  t.equal((await fetch(http + '/logout', { method: 'POST', headers: { cookie }, redirect: 'manual' })).status, 303, 'logged out')

  // The tickets, stolen, on requests Node answers as plain HTTP: each answered as the same
  // request without a ticket is, a refusal (the plugin refuses what may be a handshake with 403).
  const anonymous = { upgrade: 'websocket', 'sec-websocket-protocol': 'demo' }
  const misuses = [['GET', '/api/admin', /root/], ['GET', '/admin', /root/], ['POST', '/ws-ticket', /"ticket"/]] as const
  for (const [i, [method, path, leak]] of misuses.entries()) {
    const stolen = { upgrade: 'websocket', 'sec-websocket-protocol': `demo, ticket.${tickets[i]}` }
    const body: Record<string, string> = method === 'POST' ? { 'content-length': '0' } : {}
    const [answer, expected] = await Promise.all([rawRequest(http, method, path, { ...stolen, ...body }), rawRequest(http, method, path, { ...anonymous, ...body })])
    t.same([answer.status, answer.body], [expected.status, expected.body], `${method} ${path} with the ticket: ${answer.status}, as without it`)
    t.equal(answer.status, 403, `${method} ${path}: refused`)
    t.notMatch(answer.body, leak, `${method} ${path}: nothing of root's`)
  }

  // A real handshake, still: the plain requests did not use the tickets up.
  for (const ticket of tickets) {
    t.same(await withTicket(ws + '/ws', ticket), { protocol: 'demo', message: 'hello root' }, 'each ticket opens one socket')
    t.same(await withTicket(ws + '/ws', ticket), { status: 403 }, 'once')
  }
})
