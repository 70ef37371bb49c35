// Open sockets close with 1008 when the credentials they were opened with expire.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import authentication, { AuthCredentials, SimpleUser } from '../lib/index'
import { get, listen, upgradeStatus } from './helpers'

const LONGEST_TIMER = 2 ** 31 - 1

function timers (): number {
  return process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length
}

async function server (t: Test) {
  const app = Fastify()
  await app.register(websocket)
  await app.register(authentication, {
    backend: {
      authenticate (request) {
        const expiresIn = request.headers['x-expires-in']
        const expiresAt = expiresIn === undefined ? undefined : Date.now() + Number(expiresIn)
        return { auth: new AuthCredentials(['authenticated'], { expiresAt }), user: new SimpleUser('alice') }
      }
    }
  })
  app.get('/ws', { websocket: true, config: { requires: 'authenticated' } }, (socket) => { socket.send('open') })
  app.get('/ws-slow', { websocket: true, config: { requires: 'authenticated' }, preHandler: async () => { await sleep(150) } }, (socket) => { socket.send('open') })
  return listen(app, t)
}

async function open (url: string, expiresIn?: number): Promise<WebSocket> {
  const socket = new WebSocket(url, { headers: expiresIn === undefined ? {} : { 'x-expires-in': String(expiresIn) } })
  await once(socket, 'message')
  return socket
}

t.test('a socket is closed with 1008 when its credentials expire', async (t) => {
  const { ws } = await server(t)
  const started = Date.now()
  const socket = await open(ws + '/ws', 300)
  const [code, reason] = await once(socket, 'close') as [number, Buffer]
  t.equal(code, 1008)
  t.equal(String(reason), 'authentication credentials expired')
  t.ok(Date.now() - started >= 250, 'not before they expire')
})

t.test('credentials without expiry, or expired by the time the socket opens', async (t) => {
  const { ws } = await server(t)
  const lasting = await open(ws + '/ws')
  t.equal(await upgradeStatus(ws + '/ws', { 'x-expires-in': '-1000' }), 403, 'expired at the handshake: no credentials, refused, never opened')
  // Good when the hooks ask, expired when the upgrade comes: a slow preHandler between the two.
  const late = new WebSocket(ws + '/ws-slow', { headers: { 'x-expires-in': '50' } })
  const messages: string[] = []
  late.on('message', (data) => messages.push(String(data)))
  const [code] = await once(late, 'close') as [number]
  t.equal(code, 1006, 'destroyed at once, with no close frame')
  t.same(messages, [], 'the handler\'s greeting never went out')
  t.equal(lasting.readyState, WebSocket.OPEN, 'credentials that do not expire keep their socket')
  lasting.close()
  await once(lasting, 'close')
})

t.test('expiries beyond Node\'s 24.8-day timer limit are waited for in steps, and no timer outlives its socket', async (t) => {
  const { ws } = await server(t)
  const baseline = timers()
  // Watch the delays asked of setTimeout, to see the first step; time is moved by hand below.
  const delays: number[] = []
  const setTimer = globalThis.setTimeout
  t.teardown(() => { globalThis.setTimeout = setTimer })
  globalThis.setTimeout = ((callback: () => void, delay: number, ...rest: unknown[]) => {
    delays.push(delay)
    return (setTimer as (...args: unknown[]) => NodeJS.Timeout)(callback, delay, ...rest)
  }) as typeof setTimeout
  const thirtyDays = 30 * 24 * 3600 * 1000
  const socket = await open(ws + '/ws', thirtyDays)
  t.ok(delays.includes(LONGEST_TIMER), 'the first step is the longest timer Node keeps')
  t.equal(socket.readyState, WebSocket.OPEN, 'the socket stays open: the timer did not fire at once')
  t.ok(timers() > baseline, 'a timer waits')
  socket.close()
  await once(socket, 'close')
  for (let i = 0; i < 50 && timers() > baseline; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(timers(), baseline, 'the timer went with the socket')
})

t.test('the next step waits what is left', async (t) => {
  const { ws } = await server(t)
  const realNow = Date.now
  t.teardown(() => { Date.now = realNow })
  const steps: Array<[() => void, number]> = []
  const setTimer = globalThis.setTimeout
  t.teardown(() => { globalThis.setTimeout = setTimer })
  globalThis.setTimeout = ((callback: () => void, delay: number, ...rest: unknown[]) => {
    if (delay > 1000) {
      // The expiry's steps: kept to be run by hand; an unref'd stand-in is returned (the 1 s grace runs for real).
      steps.push([callback, delay])
      return setTimer(() => {}, 0).unref()
    }
    return (setTimer as (...args: unknown[]) => NodeJS.Timeout)(callback, delay, ...rest)
  }) as typeof setTimeout
  const socket = await open(ws + '/ws', LONGEST_TIMER + 5000)
  t.equal(steps[0][1], LONGEST_TIMER)
  const closed = once(socket, 'close')
  const start = realNow()
  Date.now = () => start + LONGEST_TIMER
  steps[0][0]()
  t.ok(steps[1][1] <= 5000 && steps[1][1] > 1000, 'the rest of the wait')
  Date.now = () => start + LONGEST_TIMER + 5000
  steps[1][0]()
  const [code] = await closed as [number]
  t.equal(code, 1008)
})

t.test('without @fastify/websocket nothing is upgraded, so nothing waits for the expiry', async (t) => {
  const app = Fastify()
  await app.register(authentication, {
    backend: { authenticate: () => ({ auth: new AuthCredentials(['authenticated'], { expiresAt: Date.now() + 60_000 }), user: new SimpleUser('alice') }) }
  })
  app.get('/plain', async (request) => request.user.displayName)
  const { http } = await listen(app, t)
  // The waits asked for while the request runs: the expiry's would be about 60 s.
  const waits: number[] = []
  const setTimer = globalThis.setTimeout
  globalThis.setTimeout = ((callback: () => void, delay = 0, ...rest: unknown[]) => {
    waits.push(delay)
    return (setTimer as (...args: unknown[]) => NodeJS.Timeout)(callback, delay, ...rest)
  }) as typeof setTimeout
  t.teardown(() => { globalThis.setTimeout = setTimer })
  const answer = await get(http, '/plain', { connection: 'upgrade', upgrade: 'websocket' })
  t.same([answer.status, answer.body], [200, 'alice'], 'answered over HTTP')
  t.notOk(waits.some((delay) => delay > 30_000), 'no timer waits for the expiry')
})

/** A text frame as a client sends it: masked (RFC 6455 §5.3), with a payload under 126 bytes. */
function clientFrame (text: string): Buffer {
  const payload = Buffer.from(text)
  const mask = randomBytes(4)
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload.map((byte, i) => byte ^ mask[i % 4])])
}

t.test('past the 1008 close, a client that ignores it is heard no more, and its connection is destroyed within the 1 s grace', async (t) => {
  const app = Fastify()
  await app.register(websocket)
  await app.register(authentication, {
    backend: { authenticate: () => ({ auth: new AuthCredentials(['authenticated'], { expiresAt: Date.now() + 300 }), user: new SimpleUser('alice') }) }
  })
  const heard: Array<{ n: number, open: boolean }> = []
  app.get('/ws', { websocket: true, config: { requires: 'authenticated' } }, (socket) => {
    socket.on('message', (data) => heard.push({ n: Number(String(data)), open: socket.readyState === WebSocket.OPEN }))
  })
  const { http } = await listen(app, t)
  const { hostname, port } = new URL(http)

  // A raw client: it sends a numbered message every 10 ms, and never answers the close frame.
  const client = connect(Number(port), hostname)
  client.on('error', () => {})
  await once(client, 'connect')
  client.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
  let received = Buffer.alloc(0)
  let sent = 0
  let closeFrame: { code: number, at: number, firstUnheard: number } | undefined
  const sending = setInterval(() => { if (!client.destroyed) client.write(clientFrame(String(sent++))) }, 10)
  t.teardown(() => clearInterval(sending))
  client.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk])
    // After the 101's head, the server's only frame is its close: 0x88, a length, a 2-byte code.
    const head = received.indexOf('\r\n\r\n')
    if (closeFrame === undefined && head !== -1 && received[head + 4] === 0x88) {
      closeFrame = { code: received.readUInt16BE(head + 6), at: Date.now(), firstUnheard: sent }
    }
  })
  // The server resets the connection (it leaves the client's frames unread): 'close' follows the 'error'.
  const closed = new Promise<number>((resolve) => client.on('close', () => resolve(Date.now())))
  const ended = await Promise.race([closed, sleep(5000).then(() => undefined)])
  client.destroy()
  clearInterval(sending)

  t.match(received.toString('latin1'), /^HTTP\/1\.1 101 /, 'upgraded')
  t.equal(closeFrame?.code, 1008, 'the server sent its close frame, 1008')
  t.ok(heard.length > 0, 'the handler heard the messages sent before the expiry')
  t.ok(sent > closeFrame!.firstUnheard, 'the client went on sending after the close frame')
  t.same(heard.filter(({ open }) => !open), [], 'no message reached the handler once the socket was closing')
  t.ok(heard.every(({ n }) => n < closeFrame!.firstUnheard), 'nor any sent after the close frame arrived')
  t.ok(ended !== undefined && ended - closeFrame!.at <= 1000 + 250, `the server destroyed the connection within the grace (${ended === undefined ? 'not within 5 s' : `${ended - closeFrame!.at} ms`})`)
})
