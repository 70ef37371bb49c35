// Open sockets close with 1008 when the credentials they were opened with expire.
import t, { type Test } from 'tap'
import { once } from 'node:events'
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

t.test('credentials without expiry, or already expired', async (t) => {
  const { ws } = await server(t)
  const lasting = await open(ws + '/ws')
  t.equal(await upgradeStatus(ws + '/ws', { 'x-expires-in': '-1000' }), 403, 'expired at the handshake: no credentials, refused, never opened')
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
    if (delay >= 1000) {
      // The expiry's steps: kept to be run by hand; an unref'd stand-in is returned.
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
  const baseline = timers()
  const answer = await get(http, '/plain', { connection: 'upgrade', upgrade: 'websocket' })
  t.same([answer.status, answer.body], [200, 'alice'], 'answered over HTTP')
  t.equal(timers(), baseline, 'no timer was set')
})
