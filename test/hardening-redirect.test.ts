import t from 'tap'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { connect } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import fc from 'fast-check'
import authentication from '../lib/index'
import { get, listen } from './helpers'

// Whatever path a refused browser asked for, the `next` it is sent back to stays on this origin.

const anonymous = { authenticate: () => null }

async function protectedApp (t: { teardown: (fn: () => unknown) => void }, redirect: string, app: FastifyInstance = Fastify()): Promise<string> {
  await app.register(authentication, { backend: anonymous })
  app.get('/login', async () => 'login page')
  app.get('/*', { config: { requires: { scopes: 'authenticated', redirect } } }, async () => 'secret')
  const { http } = await listen(app, t)
  return http
}

/** A request line written byte for byte on a socket: for what node:http refuses to send (tabs, NUL). */
function rawGet (origin: string, target: string): Promise<{ status: number, location: string | undefined }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(origin)
    const socket = connect(Number(port), hostname, () => {
      socket.end(Buffer.from(`GET ${target} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`, 'latin1'))
    })
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer')))
    let data = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => { data += chunk })
    socket.on('error', reject)
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)
      const location = /\r\nlocation: ([^\r\n]*)/i.exec(data)?.[1]
      resolve({ status, location })
    })
  })
}

/** The `next` of a redirect, and whether it resolves on `origin`. */
function nextOf (location: string | undefined, origin: string): { next: string | null, sameOrigin: boolean } {
  const next = new URL(String(location), origin).searchParams.get('next')
  return { next, sameOrigin: next !== null && new URL(next, origin).origin === origin }
}

const tricky = [
  '//evil.example/x',
  '///evil.example',
  '/\\evil.example',
  '/\\/evil.example',
  '/%2F%2Fevil.example',
  '/%2f%2fevil.example',
  '/%5Cevil.example',
  '/%5C%5Cevil.example',
  '/%09/evil.example',
  '/%0d%0a/evil.example',
  '/%0D%0ALocation:%20http://evil.example',
  '/%00//evil.example',
  '/./',
  '/.//evil.example',
  '/..//evil.example',
  '/%2e%2e//evil.example',
  '/@evil.example',
  '/:@evil.example',
  '/http://evil.example',
  '/https:evil.example',
  '/javascript:alert(1)',
  '/x?next=//evil.example',
  '/x#//evil.example',
  '/?//evil.example',
  '/;//evil.example',
  'http://evil.example/x',
  '//evil.example:80@127.0.0.1/',
  '*'
]

t.test('every tricky path is redirected with a same-origin next', async (t) => {
  for (const redirect of ['/login', '/login?from=app', '/login#top', 'https://auth.example/login']) {
    const http = await protectedApp(t, redirect)
    for (const path of tricky) {
      const answer = await get(http, path)
      t.equal(answer.status, 303, `${redirect} ← ${path}: 303`)
      const { next, sameOrigin } = nextOf(answer.headers.location, http)
      t.ok(sameOrigin, `${redirect} ← ${path}: next ${JSON.stringify(next)} stays on the origin`)
      t.ok(String(answer.headers.location).startsWith(redirect.split('#')[0]), 'the redirect goes to the configured page')
    }
    // A plain path comes back as it was asked for.
    const plain = await get(http, '/app/page?x=1&y=%2F')
    t.equal(nextOf(plain.headers.location, http).next, '/app/page?x=1&y=%2F', 'a plain path is kept as is')
    if (redirect === '/login#top') t.match(plain.headers.location, /#top$/, 'the fragment stays at the end')
  }
})

t.test('control characters on the wire: refused by the HTTP parser or redirected safely', async (t) => {
  const http = await protectedApp(t, '/login')
  for (const target of ['/\t/evil.example', '/\t\t//evil.example', '/\x00//evil.example', '/\x0b/evil.example', '/\x7f//evil.example', '/\x1f/evil.example', '/\xa0//evil.example']) {
    const answer = await rawGet(http, target)
    t.ok([303, 400].includes(answer.status), `${JSON.stringify(target)}: ${answer.status}`)
    if (answer.status === 303) t.ok(nextOf(answer.location, http).sameOrigin, `${JSON.stringify(target)}: same-origin next`)
  }
  t.equal((await get(http, '/still/here')).status, 303, 'the server still answers')
})

t.test('any URL the app is handed, control characters included, gives a same-origin next', async (t) => {
  // A server in front of Fastify that is more lenient than Node's parser: the URL comes from a header.
  const app = Fastify({
    serverFactory: (handler) => createServer((req, res) => {
      const raw = req.headers['x-raw-url']
      if (typeof raw === 'string') req.url = Buffer.from(raw, 'base64').toString('latin1')
      handler(req, res)
    })
  })
  const http = await protectedApp(t, '/login', app)
  const send = async (url: string): ReturnType<typeof get> => {
    try {
      return await get(http, '/placeholder', { 'x-raw-url': Buffer.from(url, 'latin1').toString('base64') })
    } catch (error) {
      const { code, rawPacket } = error as { code?: string, rawPacket?: Buffer }
      /* c8 ignore next 3 -- only Fastify 5.0.0 (npm run test:fastify-5.0) follows its 400 for a URL it cannot
         decode with stray bytes, which Node's parser refuses; the answer was still that 400 */
      if (code === 'HPE_CLOSED_CONNECTION' && String(rawPacket).startsWith('HTTP/1.1 400 ')) return { status: 400, headers: {}, body: '' }
      throw error
    }
  }

  for (const url of [...tricky.filter((path) => path.startsWith('/')), '/\t/evil.example', '/\r\n/evil.example', '/\n//evil.example', '/ //evil.example', '/\x00\\evil.example', '/\x7f/\\evil.example', '/\x0c/evil.example', '/\t\\\t/evil.example']) {
    const answer = await send(url)
    t.equal(answer.status, 303, `${JSON.stringify(url)}: 303`)
    const { next, sameOrigin } = nextOf(answer.headers.location, http)
    t.ok(sameOrigin, `${JSON.stringify(url)}: next ${JSON.stringify(next)} stays on the origin`)
  }

  // Everything browsers treat specially (slashes, backslashes, tabs, newlines, controls, spaces, percent-escapes), mixed with latin1.
  const piece = fc.oneof(
    fc.constantFrom('/', '//', '\\', '\t', '\n', '\r', '\x00', '\x0b', '\x0c', '\x1f', ' ', '\x7f', '\xa0', '.', '..', '@', ':', '?', '#', '%2F', '%5C', '%09', '%0A', 'evil.example', 'http:', 'javascript:'),
    fc.string({ unit: 'binary-ascii', maxLength: 4 })
  )
  const url = fc.array(piece, { maxLength: 10 }).map((pieces) => '/' + pieces.join(''))
  let redirected = 0
  await fc.assert(fc.asyncProperty(url, async (url) => {
    const answer = await send(url)
    assert.ok([303, 400, 404].includes(answer.status), `${JSON.stringify(url)} answered ${answer.status}`)
    if (answer.status !== 303) return
    redirected++
    const { next, sameOrigin } = nextOf(answer.headers.location, http)
    assert.ok(sameOrigin, `${JSON.stringify(url)} gave next ${JSON.stringify(next)}`)
    assert.ok(next?.startsWith('/') && !/^\/[/\\]/.test(next), `${JSON.stringify(url)} gave next ${JSON.stringify(next)}`)
  }), { numRuns: 200 })
  t.ok(redirected > 150, `most generated URLs were redirected (${redirected}/200)`)
})

t.test('generated paths on the wire', async (t) => {
  const http = await protectedApp(t, '/login?from=app')
  const piece = fc.oneof(
    fc.constantFrom('/', '//', '\\', '.', '..', '%2F', '%2f', '%5C', '%5c', '%09', '%0d%0a', '%00', '%2e', '@', ':', '?', '#', ';', 'evil.example', 'http:'),
    fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 6 })
  )
  const path = fc.array(piece, { maxLength: 10 }).map((pieces) => '/' + pieces.join(''))
  let redirected = 0
  await fc.assert(fc.asyncProperty(path, async (path) => {
    const answer = await get(http, path)
    // 400: a malformed percent-escape, which Fastify refuses before routing.
    assert.ok([303, 400].includes(answer.status), `${path} answered ${answer.status}`)
    if (answer.status === 400) return
    redirected++
    const { next, sameOrigin } = nextOf(answer.headers.location, http)
    assert.ok(sameOrigin, `${path} gave next ${JSON.stringify(next)}`)
  }), { numRuns: 200 })
  t.ok(redirected > 100, `most generated paths were redirected (${redirected}/200)`)
})

t.test('a redirect target that cannot be a Location header never leaves a request unanswered', async (t) => {
  // '€' passes the control-character check of requires(), but Node refuses it in a header.
  for (const kind of ['sync', 'async'] as const) {
    for (const redirect of ['/login/€', '/connexion?retour=\u2028']) {
      // Printed escaped: a raw U+2028 would break the TAP output.
      const shown = JSON.stringify(redirect).replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
      const app = Fastify()
      await app.register(authentication, { backend: { authenticate: () => kind === 'sync' ? null : Promise.resolve(null) } })
      try {
        app.get('/page', { config: { requires: { scopes: 'admin', redirect } } }, async () => 'page')
      } catch (error) {
        t.match(error, TypeError, `${kind}, ${shown}: refused at startup`)
        continue
      }
      const { http } = await listen(app, t)
      const { status } = await get(http, '/page')
      t.ok(status === 303 || status === 500, `${kind} backend, ${shown}: answered (${status})`)
    }
  }
})
