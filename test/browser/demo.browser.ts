// `npm run test:browser`: the example's browser demo (/demo) in a real browser, Debian's chromium
// driven by playwright-core. Each scenario is asserted twice: from inside the page (what its script
// saw: window.demo.events and the DOM) and on the server (the plugin's diagnostics channels).
// Each saves a screenshot under .browser-screenshots/ (git-ignored).
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { mkdirSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { built, root } from '../spawn'

t.setTimeout(120_000)
const WAIT = 10_000
const screenshots = join(root, '.browser-screenshots')

/** What the server saw: every refusal and every recognised caller, from the plugin's channels. */
interface Seen { channel: 'refused' | 'authenticated', url: string, reason?: string, statusCode?: number, origin?: string, cookie: boolean, user?: string, userClass?: string, expiresAt?: number }
const seen: Seen[] = []
const onRefused = (message: unknown): void => {
  const { request, reason, statusCode } = message as { request: FastifyRequest, reason: string, statusCode: number }
  seen.push({ channel: 'refused', url: request.url, reason, statusCode, origin: request.headers.origin, cookie: /(?:^|; )session=/.test(request.headers.cookie ?? '') })
}
const onAuthenticated = (message: unknown): void => {
  const { request, user } = message as { request: FastifyRequest, user: { displayName: string, constructor: { name: string } } }
  seen.push({ channel: 'authenticated', url: request.url, cookie: /(?:^|; )session=/.test(request.headers.cookie ?? ''), user: user.displayName, userClass: user.constructor.name, expiresAt: request.auth.expiresAt })
}

/** The server's events for the WebSocket route since `from`, once `done` holds for them (or after WAIT). */
async function serverSaw (from: number, done: (events: Seen[]) => boolean): Promise<Seen[]> {
  const deadline = Date.now() + WAIT
  let events = seen.slice(from).filter((event) => event.url === '/ws')
  while (!done(events) && Date.now() < deadline) {
    await sleep(20)
    events = seen.slice(from).filter((event) => event.url === '/ws')
  }
  return events
}

let app: FastifyInstance
let attacker: Server
let browser: Browser
let base: string
let shortSession: number

t.before(async () => {
  if (!built()) throw new Error('run `npm run build` first (npm run test:browser does)')
  mkdirSync(screenshots, { recursive: true })
  subscribe('fastify-authentication:refused', onRefused)
  subscribe('fastify-authentication:authenticated', onAuthenticated)
  // The built example, in this process: the same module the channels above hear from.
  const example = await import(join(root, 'dist', 'example', 'app.js')) as { buildApp: (logger: boolean) => Promise<FastifyInstance>, SHORT_SESSION_MS: number }
  shortSession = example.SHORT_SESSION_MS
  app = await example.buildApp(false)
  base = await app.listen({ host: '127.0.0.1', port: 0 })
  // Another origin: the same host on a second port (same site, so the browser sends the cookie).
  const target = base.replace(/^http/, 'ws') + '/ws'
  attacker = createServer((_request, response) => {
    response.setHeader('content-type', 'text/html')
    response.end(`<!doctype html><title>another origin</title><h1>A page on another origin</h1><p id="state">connecting</p>
<script>
  const attack = window.attack = { events: [] }
  const socket = new WebSocket(${JSON.stringify(target)})
  socket.onopen = () => { attack.events.push({ type: 'open' }); document.getElementById('state').textContent = 'open' }
  socket.onmessage = (message) => attack.events.push({ type: 'message', data: message.data })
  socket.onclose = (event) => {
    attack.events.push({ type: 'close', code: event.code })
    document.getElementById('state').textContent = 'closed ' + event.code
  }
</script>`)
  }).listen(0, '127.0.0.1')
  await once(attacker, 'listening')
  // Debian's chromium, never Playwright's download; launch() gives it a fresh temporary profile.
  browser = await chromium.launch({
    executablePath: execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim(),
    headless: true,
    timeout: WAIT,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
})

t.teardown(async () => {
  unsubscribe('fastify-authentication:refused', onRefused)
  unsubscribe('fastify-authentication:authenticated', onAuthenticated)
  await browser?.close()
  attacker?.close()
  await app?.close()
})

/** A fresh browser profile (no cookies), its first page, and that page's script errors (each test checks there are none). */
async function fresh (t: Test): Promise<{ context: BrowserContext, page: Page, errors: string[] }> {
  const context = await browser.newContext()
  context.setDefaultTimeout(WAIT)
  t.teardown(() => context.close())
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(error.message))
  return { context, page, errors }
}

async function logIn (page: Page, { user = 'alice', password = 'wonderland', short = false } = {}): Promise<void> {
  await page.goto(base + '/login?next=%2Fdemo')
  await page.fill('input[name=user]', user)
  await page.fill('input[name=password]', password)
  if (short) await page.check('input[name=short]')
  await Promise.all([page.waitForURL(base + '/demo'), page.click('button:text("Log in")')])
  await page.evaluate('demo.ready')
}

interface PageEvent { type: string, id?: number, how?: string, data?: string, code?: number, reason?: string, protocol?: string, status?: number }

/** Clicks one of the page's connect buttons; the number of the connection it starts. */
async function connect (page: Page, button: string): Promise<number> {
  await page.click(button)
  return await page.evaluate('demo.connections') as number
}

/** What the page saw of connection `id`, once `condition` (an expression over its `events`) holds: a timeout fails the test. */
async function pageSaw (page: Page, id: number, condition: string, timeout = WAIT): Promise<PageEvent[]> {
  await page.waitForFunction(`((events) => ${condition})(demo.events.filter((event) => event.id === ${id}))`, undefined, { timeout })
  return (await page.evaluate('demo.events') as PageEvent[]).filter((event) => event.id === id)
}

const types = (events: PageEvent[]): string[] => events.map((event) => event.type)
const closed = "events.some((event) => event.type === 'close')"
const greeted = "events.some((event) => event.data === 'hello alice')"

t.test('logged in: the socket opens and messages flow', async (t) => {
  const { page, errors } = await fresh(t)
  await logIn(page)
  t.equal(await page.textContent('#who'), 'alice (authenticated)', 'the page knows who it is, from GET /')
  const from = seen.length
  const id = await connect(page, '#connect-cookie')
  await pageSaw(page, id, greeted)
  t.equal(await page.evaluate("demo.send('hi there')"), true, 'the page sends on the open socket')
  const events = await pageSaw(page, id, "events.some((event) => event.data === 'echo: hi there')")
  t.same(types(events), ['connecting', 'open', 'message', 'message'], 'open, then two messages, still open')
  t.match(events[1], { how: 'cookie', protocol: '' }, 'opened with the cookie')
  t.same(events.filter((event) => event.type === 'message').map((event) => event.data), ['hello alice', 'echo: hi there'], 'the greeting, then the echo')
  t.equal(await page.textContent('#state'), 'open (cookie)')
  await page.screenshot({ path: join(screenshots, 'logged-in.png'), fullPage: true })

  const server = await serverSaw(from, (events) => events.length > 0)
  t.match(server, [{ channel: 'authenticated', cookie: true, user: 'alice', userClass: 'ApiUser', expiresAt: undefined }], 'the session backend admitted the handshake')
  t.equal(server.length, 1, 'and refused nothing')
  t.same(errors, [], 'no script error in the page')
})

t.test('anonymous, and after logging out: refused', async (t) => {
  const { page, errors } = await fresh(t)
  await page.goto(base + '/demo')
  await page.evaluate('demo.ready')
  t.equal(await page.textContent('#who'), 'anonymous')
  let from = seen.length
  let id = await connect(page, '#connect-cookie')
  let events = await pageSaw(page, id, closed)
  t.same(types(events), ['connecting', 'error', 'close'], 'never open, no message')
  t.match(events[2], { how: 'cookie', code: 1006 }, 'a refused handshake: 1006 in the page (it cannot read the 403)')
  t.equal(await page.textContent('#close'), '1006')
  t.match(await serverSaw(from, (events) => events.length > 0), [{ channel: 'refused', reason: 'missing-scopes', statusCode: 403, cookie: false }], '403 on the server')
  id = await connect(page, '#connect-ticket')
  await page.waitForFunction("demo.events.some((event) => event.type === 'ticket-refused')", undefined, { timeout: WAIT })
  t.match((await page.evaluate('demo.events') as PageEvent[]).filter((event) => event.type === 'ticket-refused'), [{ status: 401 }], 'no ticket for an anonymous page')
  t.same(await pageSaw(page, id, 'true'), [], 'so no socket either')
  await page.screenshot({ path: join(screenshots, 'anonymous.png'), fullPage: true })

  // Log in, then out with the page's form: the cookie is gone and the handshake is refused again.
  await logIn(page)
  t.equal(await page.textContent('#who'), 'alice (authenticated)')
  await Promise.all([page.waitForURL(base + '/demo'), page.click('#logout')])
  await page.evaluate('demo.ready')
  t.equal(await page.textContent('#who'), 'anonymous', 'logged out')
  from = seen.length
  id = await connect(page, '#connect-cookie')
  events = await pageSaw(page, id, closed)
  t.same(types(events), ['connecting', 'error', 'close'], 'never open after logout')
  t.match(await serverSaw(from, (events) => events.length > 0), [{ channel: 'refused', reason: 'missing-scopes', statusCode: 403 }], '403 on the server')
  await page.screenshot({ path: join(screenshots, 'logged-out.png'), fullPage: true })
  t.same(errors, [], 'no script error in the page')
})

t.test("a page on another origin with the user's cookie: 403 before any backend runs", async (t) => {
  const { context, page, errors } = await fresh(t)
  await logIn(page)
  const other = `http://127.0.0.1:${(attacker.address() as { port: number }).port}`
  t.not(new URL(other).origin, new URL(base).origin, 'another origin')
  const from = seen.length
  const evil = await context.newPage()
  await evil.goto(other + '/')
  await evil.waitForFunction("attack.events.some((event) => event.type === 'close')", undefined, { timeout: WAIT })
  t.same(await evil.evaluate('attack.events'), [{ type: 'close', code: 1006 }], 'the other page never gets a socket')
  t.equal(await evil.textContent('#state'), 'closed 1006')
  await evil.screenshot({ path: join(screenshots, 'other-origin.png'), fullPage: true })

  await serverSaw(from, (events) => events.length > 0)
  await sleep(100)
  const server = seen.slice(from).filter((event) => event.url === '/ws')
  t.match(server, [{ channel: 'refused', reason: 'foreign-origin', statusCode: 403, origin: other, cookie: true }],
    'refused for its origin, although the browser sent the session cookie')
  t.equal(server.length, 1, 'and nothing else: no backend recognised anyone, none ran')

  // The control: the same cookie, from the app's own page, opens the socket.
  const id = await connect(page, '#connect-cookie')
  t.match((await pageSaw(page, id, greeted))[1], { type: 'open', how: 'cookie' }, 'the same cookie from the app\'s own page opens a socket')
  t.same(errors, [], 'no script error in the page')
})

t.test('a ticket opens a socket once; the same ticket again is refused', async (t) => {
  const { page, errors } = await fresh(t)
  await logIn(page)
  let from = seen.length
  let id = await connect(page, '#connect-ticket')
  let events = await pageSaw(page, id, greeted)
  t.match(events[1], { type: 'open', how: 'ticket', protocol: 'demo' }, 'open; the server selected "demo", not the ticket')
  t.equal(await page.evaluate("demo.send('over a ticket')"), true)
  await pageSaw(page, id, "events.some((event) => event.data === 'echo: over a ticket')")
  t.match(await serverSaw(from, (events) => events.length > 0), [{ channel: 'authenticated', user: 'alice', userClass: 'TicketUser' }], 'the ticket backend admitted it (it comes first)')
  await page.screenshot({ path: join(screenshots, 'ticket.png'), fullPage: true })

  // Without the cookie: a ticket asked for while logged in still opens a socket, once.
  await page.evaluate('demo.ticket()')
  await page.evaluate("fetch('/logout', { method: 'POST' }).then(() => demo.refresh())")
  t.equal(await page.textContent('#who'), 'anonymous', 'logged out, the ticket kept')
  from = seen.length
  id = await connect(page, '#reuse-ticket')
  events = await pageSaw(page, id, greeted)
  t.match(events[1], { type: 'open', how: 'reuse', protocol: 'demo' }, 'the ticket alone opens a socket')
  t.match(await serverSaw(from, (events) => events.length > 0), [{ channel: 'authenticated', cookie: false, user: 'alice', userClass: 'TicketUser' }], 'as alice, without a cookie')
  from = seen.length
  id = await connect(page, '#reuse-ticket')
  events = await pageSaw(page, id, closed)
  t.same(types(events), ['connecting', 'error', 'close'], 'the same ticket again never opens')
  t.match(events[2], { how: 'reuse', code: 1006 })
  t.match(await serverSaw(from, (events) => events.length > 0), [{ channel: 'refused', reason: 'unknown-token', statusCode: 403, cookie: false }], 'a used ticket: 403 on the server')
  await page.screenshot({ path: join(screenshots, 'ticket-reused.png'), fullPage: true })
  t.same(errors, [], 'no script error in the page')
})

t.test('short-lived credentials: the page sees the socket closed with 1008', async (t) => {
  const { page, errors } = await fresh(t)
  await logIn(page, { short: true })
  const from = seen.length
  const id = await connect(page, '#connect-cookie')
  await pageSaw(page, id, greeted)
  const [admitted] = await serverSaw(from, (events) => events.length > 0)
  t.match(admitted, { channel: 'authenticated', user: 'alice', userClass: 'ApiUser' })
  t.ok(admitted.expiresAt !== undefined && admitted.expiresAt > Date.now() && admitted.expiresAt <= Date.now() + shortSession, 'the credentials expire within the short session')
  t.equal(await page.textContent('#state'), 'open (cookie)')
  const events = await pageSaw(page, id, closed, shortSession + WAIT)
  const closedAt = Date.now()
  t.match(events.at(-1), { type: 'close', how: 'cookie', code: 1008, reason: 'authentication credentials expired' }, 'closed by the server with 1008')
  t.ok(closedAt >= admitted.expiresAt!, 'when the credentials expired, not before')
  t.equal(await page.textContent('#close'), '1008 authentication credentials expired')
  await page.screenshot({ path: join(screenshots, 'short-session.png'), fullPage: true })
  t.equal((await page.evaluate('demo.refresh()') as { authenticated: boolean }).authenticated, false, 'the session is over for HTTP too')
  t.same(errors, [], 'no script error in the page')
})
