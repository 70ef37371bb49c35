// `npm start` and `npm run client`: the built example app and the WebSocket client, run as a user
// runs them, answered over real sockets. Every command the app prints is run, and must get the
// status its comment announces.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative, sep } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { built, node, output, root } from './spawn'
import { handshake, withTicket } from './helpers'

// The first test waits for a 5-second session to end; the others start processes of their own.
t.setTimeout(120_000)

/** `npm <args>` from `cwd`, as a user runs it: without tap's coverage and loader settings. */
function npm (args: string[], { cwd = root, env = {}, detached = false }: { cwd?: string, env?: Record<string, string>, detached?: boolean } = {}): ChildProcess {
  const { NODE_V8_COVERAGE: _, NODE_OPTIONS: __, ...inherited } = process.env
  return spawn('npm', args, { cwd, env: { ...inherited, ...env }, stdio: ['pipe', 'pipe', 'pipe'], detached })
}

/**
 * Everything a child prints on stdout, kept as it comes, and `until(pattern)`: a promise of the
 * text so far once it matches, rejected if the child exits first.
 */
function watch (child: ChildProcess): { text: () => string, until: (pattern: RegExp) => Promise<string> } {
  let text = ''
  let exited: number | null | undefined
  const waiters = new Set<() => void>()
  child.stdout!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => { text += chunk; for (const waiter of waiters) waiter() })
  child.on('exit', (code) => { exited = code; for (const waiter of waiters) waiter() })
  return {
    text: () => text,
    until: (pattern) => new Promise((resolve, reject) => {
      const check = (): void => {
        if (pattern.test(text)) resolve(text)
        else if (exited !== undefined) reject(new Error(`exited with ${String(exited)} before printing ${String(pattern)}:\n${text}`))
        else return
        waiters.delete(check)
      }
      waiters.add(check)
      check()
    })
  }
}

/** The shell words of a printed command line: the quotes the README uses are single quotes. */
function words (line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map(([, quoted, bare]) => quoted ?? bare)
}

t.test('every command the example app prints gets the answer its comment says', async (t) => {
  if (!built()) throw new Error('run `npm run build` first (npm test does)')
  const server = node(['dist/example/server.js'], { PORT: '0' })
  t.teardown(() => { server.kill() })
  const printed = await watch(server).until(/Try it:\n(?: {2}.*\n)+\nIn a browser: \S+\n(?: {2}.*\n)+\n/)
  const http = (/listening at (\S+)/.exec(printed) as RegExpExecArray)[1]
  const ws = http.replace(/^http/, 'ws')
  t.notMatch(printed, /npx|wscat/, 'nothing to download')
  t.equal((/In a browser: (\S+)/.exec(printed) as RegExpExecArray)[1], http + '/demo', 'the browser demo is printed')
  // A short session (5 s), logged in first and checked at once: it has ended by the time the
  // other checks are done.
  const shortLogin = Date.now()
  const short = await login(http, { user: 'alice', password: 'wonderland', short: 'on' })
  t.equal(short.status, 303)
  t.same(await (await fetch(http + '/', { headers: { cookie: cookieOf(short) } })).json(), { authenticated: true, user: 'alice', scopes: ['authenticated'] }, 'a short session, while it lasts')

  const curls = [...printed.matchAll(/^ {2}(curl .+?) +# (\d{3}) (.*)$/gm)]
  t.equal(curls.length, 8, 'eight curl commands')
  for (const [, command, status, comment] of curls) {
    const args = words(command)
    const headers: Record<string, string> = {}
    for (let i = args.indexOf('-H'); i !== -1; i = args.indexOf('-H', i + 1)) {
      const [name, value] = args[i + 1].split(': ')
      headers[name] = value
    }
    const url = args.at(-1) as string
    t.match(url, /^http:\/\//, command)
    const answer = await fetch(url, { headers, redirect: 'manual' })
    const body = await answer.text()
    t.equal(answer.status, Number(status), command)
    // What the comment quotes is what the server sent: a challenge, a location or the body.
    if (/^WWW-Authenticate: /.test(comment)) t.equal(answer.headers.get('www-authenticate'), comment.replace(/^WWW-Authenticate: /, ''), `${command}: the challenge`)
    else if (/^Bearer /.test(comment)) t.equal(answer.headers.get('www-authenticate'), comment, `${command}: the challenge`)
    else if (/^to /.test(comment)) t.equal(answer.headers.get('location'), comment.slice(3), `${command}: the location`)
    else if (/^[{]/.test(comment)) t.same(JSON.parse(body), JSON.parse(comment), `${command}: the body`)
    else if (/^Welcome/.test(comment)) t.match(body, comment, `${command}: the page`)
    else t.same(JSON.parse(body), { authenticated: false, user: '', scopes: [] }, `${command}: anonymous`)
  }

  const clients = [...printed.matchAll(/^ {2}npm (run client -- .+?) +# (\d{3}) /gm)]
  t.equal(clients.length, 2, 'two WebSocket commands')
  for (const [, command, status] of clients) {
    const client = npm(words(command))
    if (status === '403') {
      const { code, stdout } = await output(client)
      t.equal(code, 1, `npm ${command} fails`)
      t.match(stdout, /^refused: 403 Forbidden /m, `npm ${command} says why`)
    } else {
      t.equal(status, '101', command)
      const printed = watch(client)
      t.match(await printed.until(/^< hello alice$/m), /^connected to ws:\/\/\S+\/ws /m, `npm ${command} connects`)
      client.stdin!.write('hi there\n')
      await printed.until(/^< echo: hi there$/m)
      const exited = once(client, 'exit')
      client.stdin!.end()
      t.equal((await exited)[0], 0, `npm ${command} closes when its input ends`)
      t.match(printed.text(), /^closed \(1000\)$/m)
    }
  }

  // The rest of what the README says of the example.
  const alice = { authorization: 'Bearer alice-token' }
  t.equal((await fetch(http + '/api/me', { headers: { authorization: 'Basic alice-token' } })).status, 401, 'another scheme is anonymous')
  const malformed = await fetch(http + '/api/me', { headers: { authorization: 'Bearer not a token' } })
  t.equal(malformed.status, 400)
  t.equal(malformed.headers.get('www-authenticate'), 'Bearer realm="example", error="invalid_request", error_description="token malformed"')
  t.same(await (await fetch(http + '/', { headers: alice })).json(), { authenticated: true, user: 'alice', scopes: ['authenticated'] })
  const redirected = await fetch(http + '/admin', { redirect: 'manual', headers: alice })
  t.equal(redirected.status, 403, 'a known caller without the scope is refused, not sent to log in again')
  t.equal(redirected.headers.get('www-authenticate'), 'Bearer realm="example", error="insufficient_scope", scope="admin"')
  t.equal((await fetch(http + '/admin', { redirect: 'manual' })).status, 303, 'an anonymous caller is sent to log in')
  t.match(await (await fetch(http + '/admin')).text(), /Then go back to \/admin/)
  t.match(await (await fetch(http + '/login')).text(), /Then go back to \/demo\.</)
  t.match(await handshake(ws + '/ws', { authorization: 'Bearer nope' }), { opened: false, status: 403 }, 'an unknown token: 403 too')
  t.same(await (await fetch(http + '/health', { headers: { authorization: 'Bearer nope' } })).json(), { ok: true })

  // The browser demo over HTTP: the page, the login form, the session cookie, tickets, logout.
  // (test/browser/ drives it in chromium: npm run test:browser.)
  const page = await fetch(http + '/demo')
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /^text\/html/)
  const html = await page.text()
  for (const id of ['who', 'logout', 'connect-cookie', 'connect-ticket', 'reuse-ticket', 'state', 'close', 'log']) t.match(html, `id="${id}"`, `the page has #${id}`)
  t.match(html, "fetch('/ws-ticket', { method: 'POST' })", 'the page asks for tickets')
  t.match(html, "protocols = ['demo', 'ticket.' + ticket]", 'and offers them as a subprotocol, next to its own')
  t.notMatch(html, /<script[^>]+src=/, 'one page, no script to build or fetch')

  const form = await fetch(http + '/login?next=%2Fadmin')
  t.match(await form.text(), /<form method="post" action="\/login">[^]*name="next" value="\/admin"/, 'the login form keeps next')
  t.match(await (await fetch(http + '/login?next=%2F%2Fevil.example')).text(), /name="next" value="\/demo"/, 'nextPath: another site is no next')
  const wrong = await login(http, { user: 'alice', password: 'nope', next: '/admin' })
  t.equal(wrong.status, 401, 'a wrong password')
  t.match(await wrong.text(), /Wrong user name or password[^]*name="next" value="\/admin"/)
  t.equal(wrong.headers.get('set-cookie'), null, 'and no cookie')
  t.equal((await login(http, { user: 'mallory', password: 'wonderland' })).status, 401, 'an unknown user')
  t.equal((await fetch(http + '/login', { method: 'POST', redirect: 'manual' })).status, 401, 'no form at all')

  const admin = await login(http, { user: 'root', password: 'admin', next: '/admin' })
  t.equal(admin.status, 303)
  t.equal(admin.headers.get('location'), '/admin', 'back to next')
  t.match(admin.headers.get('set-cookie'), /^session=[^;]+;/)
  t.match(admin.headers.get('set-cookie'), /; HttpOnly/)
  t.match(admin.headers.get('set-cookie'), /; SameSite=Lax/)
  t.notMatch(admin.headers.get('set-cookie'), /; Secure/, 'not Secure over plain HTTP (secure: auto)')
  t.match(await (await fetch(http + '/admin', { headers: { cookie: cookieOf(admin) } })).text(), /Welcome, root/, 'the cookie opens the admin page')

  const loggedIn = await login(http, { user: 'alice', password: 'wonderland' })
  t.equal(loggedIn.headers.get('location'), '/demo', 'to the demo without next')
  const cookie = cookieOf(loggedIn)
  t.same(await (await fetch(http + '/', { headers: { cookie } })).json(), { authenticated: true, user: 'alice', scopes: ['authenticated'] })
  t.same(await (await fetch(http + '/api/me', { headers: { cookie } })).json(), { user: 'alice' })
  t.match(await handshake(ws + '/ws', { cookie }), { opened: true, message: 'hello alice' }, 'the cookie opens a socket')
  t.match(await handshake(ws + '/ws', { cookie, origin: 'http://evil.example' }), { opened: false, status: 403 }, 'but not from another origin')

  const anonymousTicket = await fetch(http + '/ws-ticket', { method: 'POST' })
  t.equal(anonymousTicket.status, 401, 'no ticket for an anonymous caller')
  t.equal(anonymousTicket.headers.get('www-authenticate'), 'Cookie, Bearer realm="example"', 'log in with the session or a token')
  for (const headers of [{ cookie }, { authorization: 'Bearer alice-token' }] as Array<Record<string, string>>) {
    const { ticket } = await (await fetch(http + '/ws-ticket', { method: 'POST', headers })).json() as { ticket: string }
    t.match(ticket, /^[\w-]{43}$/, `a ticket for ${Object.keys(headers)[0]}`)
    t.same(await withTicket(ws + '/ws', ticket), { protocol: 'demo', message: 'hello alice' }, 'opens a socket')
    t.same(await withTicket(ws + '/ws', ticket), { status: 403 }, 'once')
  }

  const logout = await fetch(http + '/logout', { method: 'POST', headers: { cookie }, redirect: 'manual' })
  t.equal(logout.status, 303)
  t.equal(logout.headers.get('location'), '/demo')
  t.match(logout.headers.get('set-cookie'), /^session=;/, 'logout clears the cookie')

  await sleep(shortLogin + 5_000 + 200 - Date.now())
  t.same(await (await fetch(http + '/', { headers: { cookie: cookieOf(short) } })).json(), { authenticated: false, user: '', scopes: [] }, 'and once it has ended')
  t.match(await handshake(ws + '/ws', { cookie: cookieOf(short) }), { opened: false, status: 403 })
})

/** POSTs the login form, as a browser does, without following the redirect. */
function login (http: string, fields: Record<string, string>): Promise<Response> {
  return fetch(http + '/login', { method: 'POST', body: new URLSearchParams(fields), redirect: 'manual' })
}

/** The `name=value` of the cookie an answer sets. */
function cookieOf (answer: Response): string {
  return (answer.headers.get('set-cookie') ?? '').split(';')[0]
}

t.test('the WebSocket client says what is wrong', async (t) => {
  const client = async (...args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> => output(node(['scripts/client.mjs', ...args]))
  const usage = await client()
  t.equal(usage.code, 2)
  t.match(usage.stderr, /^give the ws:\/\/ URL to connect to\nusage: npm run client -- ws:\/\//)
  for (const [args, error] of [
    [['ws://127.0.0.1:1/ws', '-H', 'Bearer x'], "-H needs a header like 'Authorization: Bearer alice-token', not Bearer x"],
    [['ws://127.0.0.1:1/ws', '--header'], "--header needs a header like 'Authorization: Bearer alice-token'"],
    [['ws://127.0.0.1:1/ws', 'extra'], 'unexpected argument "extra"'],
    [['http://127.0.0.1:1/ws'], 'unexpected argument "http://127.0.0.1:1/ws"']
  ] as const) {
    const wrong = await client(...args)
    t.equal(wrong.code, 2, args.join(' '))
    t.equal(wrong.stderr.split('\n')[0], error, args.join(' '))
  }

  // A server that refuses the handshake without a body, then one that closes the connection.
  const refusing = createServer((socket) => {
    socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
  }).listen(0, '127.0.0.1')
  await once(refusing, 'listening')
  const refused = await client(`ws://127.0.0.1:${(refusing.address() as { port: number }).port}/ws`)
  refusing.close()
  t.equal(refused.code, 1)
  t.equal(refused.stdout, 'refused: 401 Unauthorized\n')

  // A port nothing listens on: the one a closed server had.
  const closed = createServer().listen(0, '127.0.0.1')
  await once(closed, 'listening')
  const { port } = closed.address() as { port: number }
  closed.close()
  await once(closed, 'close')
  const unreachable = await client(`ws://127.0.0.1:${port}/ws`)
  t.equal(unreachable.code, 1)
  t.match(unreachable.stderr, new RegExp(`^could not connect to ws://127.0.0.1:${port}/ws: connect ECONNREFUSED`))
})

t.test('the example app says why it could not start, in one line', async (t) => {
  const busy = createServer().listen(0, '127.0.0.1')
  t.teardown(() => { busy.close() })
  await once(busy, 'listening')
  const { port } = busy.address() as { port: number }
  const inUse = await output(node(['dist/example/server.js'], { PORT: String(port) }))
  t.equal(inUse.code, 1)
  t.equal(inUse.stderr, `port ${port} is in use: set PORT to another port, like PORT=${port + 1} npm start\n`, 'a busy port names PORT')
  // The last port: the suggestion stays in range. (If something else holds it, it is busy all the same.)
  const last = createServer()
  t.teardown(() => { last.close() })
  await new Promise((resolve) => { last.once('listening', resolve).once('error', resolve).listen(65535, '127.0.0.1') })
  t.equal((await output(node(['dist/example/server.js'], { PORT: '65535' }))).stderr, 'port 65535 is in use: set PORT to another port, like PORT=65534 npm start\n')

  const badPort = await output(node(['dist/example/server.js'], { PORT: 'not-a-port' }))
  t.equal(badPort.code, 1)
  t.equal(badPort.stderr, 'PORT must be a port number from 0 to 65535, like PORT=3001 npm start, not "not-a-port"\n')
  t.equal((await output(node(['dist/example/server.js'], { PORT: '65536' }))).code, 1, 'PORT above 65535')
  // The default port, 3000, is never reached: the host name does not resolve.
  const badHost = await output(node(['dist/example/server.js'], { HOST: 'not a host' }))
  t.equal(badHost.code, 1)
  t.match(badHost.stderr, /ENOTFOUND/)
})

t.test('npm start says what it does, builds nothing when nothing changed, and serves', async (t) => {
  if (!built()) throw new Error('run `npm run build` first (npm test does)')
  // A clone where `npm start` ran before: the sources, and dist/lib and dist/example as the build
  // left them, times kept (tsc -b compares them). Not the benchmarks' build. `npm start` must not
  // touch the dist the other tests run, hence the clone.
  const clone = mkdtempSync(join(tmpdir(), 'fastify-authentication-start-'))
  t.teardown(() => rmSync(clone, { recursive: true, force: true }))
  const skipped = new Set(['node_modules', '.git', '.tap', 'coverage'])
  const copied = (path: string): boolean => {
    const [top, below] = relative(root, path).split(sep)
    return !skipped.has(top) && (top !== 'dist' || below === undefined || below === 'lib' || below === 'example')
  }
  cpSync(root, clone, { recursive: true, preserveTimestamps: true, filter: copied })
  symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'), 'dir')
  const dist = join(clone, 'dist')
  const times = (): Record<string, number> => Object.fromEntries(readdirSync(dist, { recursive: true, encoding: 'utf8' })
    .map((file) => [file, statSync(join(dist, file)).mtimeMs]))
  const before = times()

  // Detached, to stop npm, its shell and the server together.
  const start = npm(['start'], { cwd: clone, env: { PORT: '0' }, detached: true })
  t.teardown(() => { if (start.exitCode === null) process.kill(-start.pid!, 'SIGTERM') })
  const printed = await watch(start).until(/listening at (\S+)/)
  const lines = printed.split('\n').filter((line) => line !== '' && !line.startsWith('>'))
  t.equal(lines[0], 'Building lib/ and example/ where they changed (tsc -b), then starting the example app...', 'one line before building')
  t.match(lines[1], /^fastify-authentication example listening at http:\/\/127\.0\.0\.1:\d+$/, 'then the server, with nothing between')
  t.same(times(), before, 'nothing was compiled again (if lib/ or example/ changed since the build: npm run build)')
  t.notOk(existsSync(join(dist, 'bench')), 'and the benchmarks are not built')
  const http = (/listening at (\S+)/.exec(printed) as RegExpExecArray)[1]
  t.same(await (await fetch(http + '/health')).json(), { ok: true })
})
