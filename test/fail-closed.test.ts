// "Fail closed everywhere": one test (or group) per rule, over real sockets.
import t from 'tap'
import { connect } from 'node:net'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance, type FastifyRequest, type preParsingHookHandler } from 'fastify'
import websocket from '@fastify/websocket'
import authentication, {
  AuthCredentials, AuthenticationError, SimpleUser, hasRequiredScope, requires, type AuthenticationBackend
} from '../lib/index'
import { built, node, output } from './spawn'
import { drained, get, handshake, listen, logLines } from './helpers'

const user = (name: string, scopes: string[] = ['authenticated']): { auth: AuthCredentials, user: SimpleUser } =>
  ({ auth: new AuthCredentials(scopes), user: new SimpleUser(name) })

/** Recognises `x-user: <name>` (scope `authenticated`), refuses `x-user: bad`, throws for `x-user: crash`, hangs for `x-user: slow`. */
const headerBackend: AuthenticationBackend = {
  authenticate (request: FastifyRequest) {
    const name = request.headers['x-user']
    if (name === undefined) return null
    if (name === 'bad') throw new AuthenticationError('Invalid user')
    if (name === 'crash') throw new Error('database down')
    if (name === 'slow') return new Promise(() => {})
    return user(String(name))
  }
}

t.test('rule 1: nothing a request does crashes the process', async (t) => {
  t.test('in process: each trigger is a 500 or an answer, never an unhandled rejection', async (t) => {
    const rejections: unknown[] = []
    const onRejection = (reason: unknown): void => { rejections.push(reason) }
    process.on('unhandledRejection', onRejection)
    t.teardown(() => { process.off('unhandledRejection', onRejection) })
    let reads = 0
    const app = Fastify()
    // Declared before the plugin: judged in the root hook, right after the backend's await.
    app.get('/early', { config: { requires: 'authenticated' } }, async (request) => request.user.displayName)
    await app.register(authentication, {
      backend: {
        insufficientScope () { throw new Error('a broken challenge') },
        async authenticate (request) {
          const mode = request.headers['x-mode']
          if (mode === 'refuse') throw new AuthenticationError('nope')
          if (mode === 'no-scopes') return user('scopeless', [])
          if (mode === 'getter') {
            // Works on the first read only: the plugin must read it once.
            const result = { user: new SimpleUser('once') }
            Object.defineProperty(result, 'auth', { get: () => { if (reads++ > 0) throw new Error('read twice'); return new AuthCredentials(['authenticated']) } })
            return result as never
          }
          if (mode === 'throwing-getter') return Object.defineProperty({}, 'auth', { get () { throw new Error('getter') } }) as never
          return null
        }
      },
      // Sets a text type, then returns an object: reply.send throws after the backend's await.
      onError: (_error, _request, reply) => { reply.type('text/plain'); return { not: 'text' } }
    })
    app.get('/', { config: { requires: 'authenticated' } }, async (request) => request.user.displayName)
    const { http } = await listen(app, t)
    t.equal((await get(http, '/', { 'x-mode': 'refuse' })).status, 500, 'onError returning an object after reply.type(text/plain)')
    const once = await get(http, '/', { 'x-mode': 'getter' })
    t.same([once.status, once.body], [200, 'once'], 'the result\'s auth is read once')
    t.equal((await get(http, '/', { 'x-mode': 'throwing-getter' })).status, 500, 'a throwing getter')
    t.equal((await get(http, '/', { 'x-mode': 'no-scopes' })).status, 500, 'a backend whose insufficientScope throws')
    t.equal((await get(http, '/early', { 'x-mode': 'no-scopes' })).status, 500, 'the same, judged after the await')
    await sleep(10)
    t.same(rejections, [], 'no unhandled rejection')
  })

  t.test('a server in a child process survives the triggers and keeps answering', async (t) => {
    if (!built()) throw new Error('run `npm run build` first (npm test does)')
    const server = node(['test/fixtures/triggers.js'])
    t.teardown(() => { server.kill() })
    const exited = output(server)
    server.stdout?.setEncoding('utf8')
    const [line] = await once(server.stdout!, 'data') as [string]
    const http = line.trim()
    const statuses: number[] = []
    for (let round = 0; round < 3; round++) {
      for (const mode of ['refuse', 'getter', 'throwing-getter', 'bad-result']) {
        statuses.push((await get(http, '/', { 'x-mode': mode })).status)
      }
    }
    t.same([...new Set(statuses)].sort(), [200, 500], 'every trigger got an answer')
    t.equal((await get(http, '/health')).body, 'alive', 'the process still answers')
    t.equal(server.exitCode, null, 'the process did not exit')
    server.kill()
    const { stderr } = await exited
    t.notMatch(stderr, /unhandled|UnhandledPromiseRejection/i, 'no unhandled rejection was reported')
  })
})

/** Opens a raw TCP connection, sends a handshake, and reports the status line and whether the server closed the connection. */
async function rawHandshake (origin: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number, closedByServer: boolean }> {
  const { hostname, port } = new URL(origin)
  const socket = connect(Number(port), hostname)
  await once(socket, 'connect')
  const lines = [`GET ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: Upgrade', 'Upgrade: websocket',
    'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)]
  socket.write(lines.join('\r\n') + '\r\n\r\n')
  let received = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { received += chunk })
  // The client never closes: only the server can end this connection.
  const closedByServer = await Promise.race([once(socket, 'end').then(() => true), sleep(2000).then(() => false)])
  socket.destroy()
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(received)?.[1]), closedByServer }
}

t.test('rule 2: a refused handshake never leaves a socket open, whatever the registration order', async (t) => {
  const wirings: Record<string, (app: FastifyInstance, routes: (scope: FastifyInstance) => void) => Promise<void>> = {
    'plugin before @fastify/websocket': async (app, routes) => {
      await app.register(authentication, { backend: headerBackend, timeout: 50 })
      await app.register(websocket)
      routes(app)
    },
    '@fastify/websocket in a child scope': async (app, routes) => {
      await app.register(authentication, { backend: headerBackend, timeout: 50 })
      await app.register(async (child) => {
        await child.register(websocket)
        routes(child)
      })
    },
    'without @fastify/websocket': async (app, routes) => {
      await app.register(authentication, { backend: headerBackend, timeout: 50 })
      routes(app)
    }
  }
  for (const [wiring, wire] of Object.entries(wirings)) {
    t.test(wiring, async (t) => {
      const app = Fastify()
      await wire(app, (scope) => {
        scope.get('/ws', { websocket: true, config: { requires: 'admin' } } as never, (socket: { send: (text: string) => void }) => { socket.send('open') })
        scope.get('/hooked', { websocket: true, preHandler: requires('admin') } as never, (socket: { send: (text: string) => void }) => { socket.send('open') })
      })
      const { http } = await listen(app, t)
      for (const path of ['/ws', '/hooked']) {
        const refusals: Record<string, [Record<string, string>, number]> = {
          'missing scopes': [{ 'x-user': 'alice' }, 403],
          anonymous: [{}, 403],
          'rejected credentials': [{ 'x-user': 'bad' }, 403],
          'backend error': [{ 'x-user': 'crash' }, 500],
          timeout: [{ 'x-user': 'slow' }, 503]
        }
        for (const [refusal, [headers, status]] of Object.entries(refusals)) {
          const answer = await rawHandshake(http, path, headers)
          t.same(answer, { status, closedByServer: true }, `${path}, ${refusal}: ${status}, then the server closes the connection`)
        }
      }
      t.equal(await drained(app.server), 0, 'the server holds no socket')
      const closed = await Promise.race([app.close().then(() => true), sleep(3000).then(() => false)])
      t.ok(closed, 'app.close() resolves')
    })
  }
})

t.test('rule 3: no anonymous request can change what another sees', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: headerBackend })
  app.get('/write', async (request) => {
    Object.assign(request.user, { foo: 'written' })
    Object.assign(request.auth, { foo: 'written' })
    return 'ok'
  })
  app.get('/read', async (request) => ({ user: (request.user as unknown as { foo?: string }).foo ?? null, auth: (request.auth as unknown as { foo?: string }).foo ?? null }))
  const { http } = await listen(app, t)
  t.equal((await get(http, '/write')).status, 200, 'writing to an anonymous request\'s user is allowed')
  t.same(JSON.parse((await get(http, '/read')).body), { user: null, auth: null }, 'and invisible to the next request')
})

t.test('rule 4: nested registrations, the nearest one governs', async (t) => {
  const calls: string[] = []
  const named = (name: string, challenge: string): AuthenticationBackend => ({
    challenge,
    authenticate (request) {
      calls.push(name)
      const header = request.headers[`x-${name}`]
      if (header === 'bad') throw new AuthenticationError(`${name} refused`)
      return header === undefined ? null : user(`${name}:${String(header)}`)
    }
  })
  const pages = { backend: named('cookie', 'Cookie realm="pages"'), onError: async (_: unknown, __: unknown, reply: { code: (n: number) => { send: (b: string) => void } }) => { reply.code(401).send('pages onError') } }
  const api = { backend: named('token', 'Bearer realm="api"'), onError: async (_: unknown, __: unknown, reply: { code: (n: number) => { send: (b: string) => void } }) => { reply.code(401).send('api onError') } }
  const orders: Record<string, (app: FastifyInstance) => Promise<void>> = {
    'root, then child': async (app) => {
      await app.register(authentication, pages as never)
      await app.register(async (child) => {
        await child.register(authentication, api as never)
        child.get('/api/me', { config: { requires: 'authenticated' } }, async (request) => request.user.displayName)
      })
      app.get('/page', { config: { requires: 'authenticated' } }, async (request) => request.user.displayName)
    },
    'child, then root': async (app) => {
      await app.register(async (child) => {
        await child.register(authentication, api as never)
        child.get('/api/me', { config: { requires: 'authenticated' } }, async (request) => request.user.displayName)
      })
      app.get('/page', { config: { requires: 'authenticated' } }, async (request) => request.user.displayName)
      await app.register(authentication, pages as never)
    }
  }
  for (const [order, build] of Object.entries(orders)) {
    t.test(order, async (t) => {
      const app = Fastify()
      await build(app)
      const { http } = await listen(app, t)
      calls.length = 0
      t.equal((await get(http, '/api/me', { 'x-token': 'alice', 'x-cookie': 'bob' })).body, 'token:alice', 'the inner backend answers for /api')
      t.same(calls.splice(0), ['token'], 'the outer backend never runs for /api')
      t.equal((await get(http, '/page', { 'x-token': 'alice', 'x-cookie': 'bob' })).body, 'cookie:bob', 'the outer backend answers for pages')
      t.same(calls.splice(0), ['cookie'])
      const apiRefused = await get(http, '/api/me')
      t.same([apiRefused.status, apiRefused.headers['www-authenticate']], [401, 'Bearer realm="api"'], 'the inner challenge')
      const pageRefused = await get(http, '/page')
      t.same([pageRefused.status, pageRefused.headers['www-authenticate']], [401, 'Cookie realm="pages"'], 'the outer challenge')
      t.equal((await get(http, '/api/me', { 'x-token': 'bad' })).body, 'api onError', 'the inner onError')
      t.equal((await get(http, '/page', { 'x-cookie': 'bad' })).body, 'pages onError', 'the outer onError')
    })
  }
  t.test('two registrations in the same scope fail at startup, naming the plugin', async (t) => {
    const app = Fastify()
    await t.rejects(async () => {
      await app.register(async (child) => {
        await child.register(authentication, { backend: headerBackend })
        await child.register(authentication, { backend: headerBackend })
      })
    }, /^fastify-authentication is registered twice in the same scope/)
  })
})

t.test('rule 5: config.requires never fails open on a route no registration covers: the app fails at startup', async (t) => {
  // (An app created before the package is imported answers such a route with 500: test/watch-unwatched.test.ts.)
  const guarded = { config: { requires: 'authenticated' } }
  let handled = 0
  const handler = async (): Promise<string> => { handled++; return 'handler ran' }
  const build = async (uncovered: string | undefined): Promise<FastifyInstance> => {
    const app = Fastify()
    await app.register(websocket)
    const declare = (scope: FastifyInstance, path: string): void => {
      if (path !== uncovered) return
      if (path === '/ws') scope.get(path, { websocket: true, ...guarded } as never, () => { handled++ })
      else scope.get(path, guarded, handler)
    }
    declare(app, '/parent-before')
    await app.register(async (sibling) => { declare(sibling, '/sibling-before') })
    await app.register(async (child) => {
      await child.register(authentication, { backend: headerBackend })
      child.get('/covered', guarded, handler)
    })
    declare(app, '/parent-after')
    declare(app, '/ws')
    app.get('/open', async () => 'open')
    await app.register(async (sibling) => { declare(sibling, '/sibling-after') })
    return app
  }
  for (const path of ['/parent-before', '/sibling-before', '/parent-after', '/ws', '/sibling-after']) {
    const app = await build(path)
    await t.rejects(app.listen({ host: '127.0.0.1', port: 0 }),
      new RegExp(`^fastify-authentication: GET ${path} has config.requires, but fastify-authentication does not cover it: register it with \\\`await app.register\\(authentication, \\{ backend \\}\\)\\\` in this scope or a parent scope`),
      `${path}: listen() rejects, naming the route and what to do`)
    t.notOk(app.server.listening, `${path}: nothing listens`)
    await app.close()
  }
  const { http } = await listen(await build(undefined), t)
  t.equal((await get(http, '/open')).body, 'open', 'without them, unguarded routes answer')
  t.equal((await get(http, '/covered', { 'x-user': 'alice' })).body, 'handler ran', 'and the covered route works')
  t.equal(handled, 1, 'no handler ran but that one')
})

t.test('rule 6: hasRequiredScope checks its arguments as requires() does', async (t) => {
  const app = Fastify()
  await app.register(authentication, { backend: headerBackend })
  app.get('/', async (request) => {
    const outcomes = [new Set(['a']), { a: true }, 42, [], [''], 'authenticated', ['authenticated']].map((scopes) => {
      try {
        return hasRequiredScope(request, scopes as never)
      } catch (error) {
        return (error as Error).constructor.name
      }
    })
    return outcomes
  })
  const { http } = await listen(app, t)
  t.same(JSON.parse((await get(http, '/', { 'x-user': 'alice' })).body), ['TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', true, true])
})

t.test('rule 7: an async onError that neither sends nor returns a payload gets a 500', async (t) => {
  const app = Fastify()
  await app.register(authentication, {
    backend: headerBackend,
    onError: async (_error, request, reply) => {
      if (request.headers['x-on-error'] === 'send') return await reply.code(401).send('sent')
      if (request.headers['x-on-error'] === 'payload') { reply.code(401); return 'returned' }
      return reply.code(401)
    }
  })
  app.get('/', async () => 'handler')
  const { http } = await listen(app, t)
  const hung = await get(http, '/', { 'x-user': 'bad' }, { timeout: 2000 })
  t.equal(hung.status, 500, 'returning reply.code(401) unsent: 500, no hang')
  t.match(JSON.parse(hung.body).message, /neither sent a reply nor returned a payload/)
  t.same(await get(http, '/', { 'x-user': 'bad', 'x-on-error': 'send' }).then((a) => [a.status, a.body]), [401, 'sent'], 'awaiting the sent reply still works')
  t.same(await get(http, '/', { 'x-user': 'bad', 'x-on-error': 'payload' }).then((a) => [a.status, a.body]), [401, 'returned'])
})

t.test('rule 8: a caller without the scopes never makes the server read, parse or validate a body', async (t) => {
  const parsed: string[] = []
  const app = Fastify({ bodyLimit: 100 })
  await app.register(authentication, { backend: headerBackend, challenge: 'Bearer realm="api"' })
  app.addContentTypeParser('application/x-custom', (request, _payload, done) => { parsed.push(request.url); done(null, {}) })
  const schema = { body: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } }
  app.post('/pre-handler', { schema, preHandler: requires('admin') }, async () => 'handler')
  app.post('/pre-validation', { schema, preValidation: [requires('admin')] }, async () => 'handler')
  app.post('/config', { schema, config: { requires: 'admin' } }, async () => 'handler')
  app.post('/redirect', { schema, preHandler: requires('admin', { redirect: '/login' }) }, async () => 'handler')
  const { http } = await listen(app, t)
  const bodies: Array<[string, string]> = [
    ['application/json', '{"broken'],
    ['application/json', '{"wrong": 1}'],
    ['application/json', JSON.stringify({ name: 'x'.repeat(500) })],
    ['application/x-unknown', 'data'],
    ['application/x-custom', 'data']
  ]
  for (const path of ['/pre-handler', '/pre-validation', '/config', '/redirect']) {
    const expected = path === '/redirect' ? [303, 403] : [401, 403]
    for (const [type, body] of bodies) {
      for (const [who, headers] of [['anonymous', {}], ['alice', { 'x-user': 'alice' }]] as const) {
        const response = await fetch(http + path, { method: 'POST', redirect: 'manual', headers: { 'content-type': type, ...headers }, body })
        t.equal(response.status, expected[who === 'anonymous' ? 0 : 1], `${path} ${type} ${body.slice(0, 12)} (${who})`)
      }
    }
  }
  t.same(parsed, [], 'the custom parser never ran for a refused caller')
})

t.test('rule 8: the verdict comes before the preParsing hooks of the route and of every scope registered after the plugin', async (t) => {
  // The verdict is given in the plugin's root preParsing hook, after every onRequest hook: a root
  // preParsing hook added before the plugin runs first, the one exception, as the README says.
  for (const [wiring, laterOnRequest] of [['nothing after the plugin', false], ['an onRequest hook after the plugin', true]] as const) {
    const ran: string[] = []
    const spy = (name: string): preParsingHookHandler => (_request, _reply, payload, done) => {
      ran.push(name)
      done(null, payload)
    }
    const app = Fastify()
    app.addHook('preParsing', spy('root, before the plugin'))
    await app.register(authentication, { backend: headerBackend, challenge: 'Bearer realm="api"' })
    app.addHook('preParsing', spy('root, after the plugin'))
    if (laterOnRequest) app.addHook('onRequest', async () => {})
    await app.register(async (child) => {
      child.addHook('preParsing', spy('child scope'))
      child.post('/config', { config: { requires: 'authenticated' }, preParsing: spy('route') }, async () => 'handler')
      child.post('/hook', { preParsing: [spy('route'), requires('authenticated') as never] }, async () => 'handler')
    })
    const { http } = await listen(app, t)
    for (const path of ['/config', '/hook']) {
      for (const [who, status] of [['anonymous', 401], ['bad', 400], ['alice', 200]] as const) {
        ran.length = 0
        const headers: Record<string, string> = who === 'anonymous' ? {} : { 'x-user': who }
        const response = await fetch(http + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' })
        t.equal(response.status, status, `${wiring}: ${path} (${who})`)
        t.same(ran, status === 200
          ? ['root, before the plugin', 'root, after the plugin', 'child scope', 'route']
          : ['root, before the plugin'], `${wiring}: ${path} (${who}): the preParsing hooks that ran`)
      }
    }
  }
})

t.test('rule 8: a registration in a child scope gives its verdict after the scope\'s later onRequest hook', async (t) => {
  // Here judge gives the verdict, and reads a failure only from the requests that had one.
  const app = Fastify()
  const seen: string[] = []
  await app.register(async (child) => {
    await child.register(authentication, { backend: headerBackend })
    child.addHook('onRequest', async (request) => { seen.push(String(request.headers['x-user'])) })
    child.post('/guarded', { config: { requires: 'authenticated' } }, async () => 'handler')
  })
  const { http } = await listen(app, t)
  for (const [who, status] of [['anonymous', 403], ['bad', 400], ['alice', 200]] as const) {
    const headers: Record<string, string> = who === 'anonymous' ? {} : { 'x-user': who }
    t.equal((await fetch(http + '/guarded', { method: 'POST', headers })).status, status, who)
  }
  t.same(seen, ['undefined', 'bad', 'alice'], 'the later onRequest hook ran before each verdict')
})

t.test('rule 9: a backend error that is not an AuthenticationError is a plain 500, logged with its cause', async (t) => {
  const logs = logLines()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  await app.register(websocket)
  await app.register(authentication, {
    backend: {
      async authenticate () {
        throw Object.assign(new Error('db password is hunter2'), { statusCode: 401, headers: { 'x-leak': 'internal', 'www-authenticate': 'Leak' } })
      }
    }
  })
  app.get('/', async () => 'handler')
  app.get('/ws', { websocket: true }, (socket) => { socket.send('open') })
  const { http, ws } = await listen(app, t)
  const answer = await get(http, '/')
  t.equal(answer.status, 500)
  t.notMatch(answer.body, /hunter2/, 'the message does not reach the client')
  t.equal(answer.headers['x-leak'], undefined, 'nor its headers')
  t.equal(answer.headers['www-authenticate'], undefined)
  const refused = await handshake(ws + '/ws')
  t.same(refused.opened ? 'opened' : refused.status, 500, 'a handshake gets the same 500')
  const errors = logs.entries().filter((entry) => entry.level === 50)
  t.ok(errors.length >= 2, 'logged at error level')
  t.match(JSON.stringify(errors[0].err), /hunter2/, 'with the backend\'s error as its cause')
})

t.test('rule 10: a requires() where it cannot guard is refused at startup, saying where to put it', async (t) => {
  for (const position of ['preSerialization', 'onSend', 'onResponse', 'onError', 'onTimeout', 'onRequestAbort']) {
    const app = Fastify()
    await app.register(authentication, { backend: headerBackend })
    t.throws(() => app.get('/', { [position]: requires('admin') }, async () => 'handler'),
      new RegExp(`GET / has requires\\(\\) in ${position}, which runs after the handler; put it in preHandler`), `route-level ${position}`)
    await app.close()
  }
  // Refused by the addHook call itself, at the root and in a child scope (which inherits the root's addHook).
  for (const position of ['preParsing', 'preSerialization', 'onSend', 'onResponse', 'onError', 'onTimeout', 'onRequestAbort', 'onRoute']) {
    const message = new RegExp(`^fastify-authentication: requires\\(\\) was added with addHook\\('${position}'\\), where it cannot guard; add it with addHook\\('onRequest'\\)`)
    const app = Fastify()
    await app.register(authentication, { backend: headerBackend })
    t.throws(() => app.addHook(position as 'onSend', requires('admin') as never), message, `root ${position}`)
    let thrown: unknown
    await app.register(async (child) => {
      try {
        child.addHook(position as 'onSend', requires('admin') as never)
      } catch (error) {
        thrown = error
      }
      child.get('/', async () => 'handler')
    })
    t.match(thrown, { name: 'TypeError', message }, `scope-level ${position}`)
    await app.close()
  }
  const app = Fastify()
  await app.register(authentication, { backend: headerBackend })
  // A requires() is typed as a preHandler; in preParsing it still guards (cast for the compiler).
  app.post('/', { preParsing: requires('admin') as never }, async () => 'handler')
  app.addHook('preHandler', requires('authenticated'))
  const { http } = await listen(app, t)
  t.equal((await fetch(http + '/', { method: 'POST', headers: { 'x-user': 'alice' } })).status, 403, 'a route-level preParsing guard works')
  t.equal((await fetch(http + '/', { method: 'POST' })).status, 403, 'a scope-level preHandler guard works')
})

t.test('rule 11: after a timeout, the chain stops', async (t) => {
  let later = 0
  const app = Fastify()
  await app.register(authentication, {
    timeout: 30,
    backend: [
      { authenticate: () => sleep(100).then(() => null) },
      { authenticate: () => { later++; return null } }
    ]
  })
  app.get('/', async () => 'handler')
  const { http } = await listen(app, t)
  t.equal((await get(http, '/')).status, 503)
  await sleep(150)
  t.equal(later, 0, 'no backend is called after the 503')
})

t.test('rule 12: the startup warning covers wsHandler routes', async (t) => {
  const logs = logLines()
  const app = Fastify({ logger: { level: 'warn', stream: logs.stream } })
  await app.register(websocket)
  await app.register(authentication, { backend: headerBackend })
  app.route({
    method: 'GET',
    url: '/both',
    preHandler: requires('admin', { statusCode: 401 }),
    handler: async () => 'http',
    wsHandler: (socket) => { socket.send('ws') }
  })
  app.get('/quiet', { websocket: true, config: { requires: 'admin' } }, (socket) => { socket.send('ws') })
  await app.ready()
  t.match(logs.messages(), [/GET \/both is a WebSocket route and its requires\(\) asks for another answer than 403/])
  t.equal(logs.messages().length, 1, 'the default answer is not warned about')
})
