// The lockout shared through Redis, as several server processes share it: a real redis-server on a
// free port, two Fastify instances, each with its own connection and redisStore(client).
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import Redis from 'ioredis'
import authentication, { AuthCredentials, SimpleUser } from '../lib/index'
import { basic } from '../lib/backends/basic'
import { redisStore } from '../lib/store/redis'
import { basic as basicHeader, get, listen } from './helpers'
import { startRedis } from './redis-server'

interface Instance { http: string, verified: () => number }

async function connect (t: Test, port: number): Promise<Redis> {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true })
  await redis.connect()
  t.teardown(async () => { await redis.quit() })
  return redis
}

/** One server process: its own Redis connection and store, an async verify whose calls are counted. */
async function instance (t: Test, port: number, windowMs = 60_000): Promise<Instance> {
  const redis = await connect(t, port)
  let verified = 0
  const app = Fastify({ trustProxy: true })
  await app.register(authentication, {
    backend: basic({
      async verify (username, password) {
        verified++
        return password === `${username}-pw` ? { auth: new AuthCredentials([]), user: new SimpleUser(username) } : null
      }
    }),
    lockout: { max: 3, windowMs },
    store: redisStore(redis)
  })
  app.get('/', async (request) => request.user.displayName)
  return { ...await listen(app, t), verified: () => verified }
}

function from (ip: string, user: string, password = `${user}-pw`): Record<string, string> {
  return { 'x-forwarded-for': ip, authorization: basicHeader(user, password) }
}

t.test('redisStore', async (t) => {
  const port = await startRedis(t)

  t.test('failures on one instance lock the caller out on another', async (t) => {
    const [a, b] = [await instance(t, port), await instance(t, port)]
    for (const user of ['carol', 'dave', 'erin']) t.equal((await get(a.http, '/', from('10.1.0.1', user, 'guess'))).status, 401)
    const locked = await get(b.http, '/', from('10.1.0.1', 'alice'))
    t.equal(locked.status, 429, 'the IP, on instance B')
    const retryAfter = Number(locked.headers['retry-after'])
    t.ok(retryAfter >= 59 && retryAfter <= 60, `Retry-After: ${retryAfter}`)
    t.equal(JSON.parse(locked.body).reason, 'locked-out')
    t.equal(b.verified(), 0, 'B ran no backend')
    t.equal((await get(b.http, '/', from('10.1.0.2', 'alice'))).body, 'alice', 'another IP')

    for (const ip of ['10.1.1.1', '10.1.1.2', '10.1.1.3']) t.equal((await get(b.http, '/', from(ip, 'bob', 'guess'))).status, 401)
    t.equal((await get(a.http, '/', from('10.1.1.4', 'bob'))).status, 429, 'the identity, on instance A, from a fourth IP')
    t.equal((await get(a.http, '/', from('10.1.1.1', 'frank'))).body, 'frank', 'another user from an IP bob failed from')
    t.equal(a.verified(), 4)
  })

  t.test('a lock ends with its window: the key expires in Redis', async (t) => {
    const [a, b] = [await instance(t, port, 300), await instance(t, port, 300)]
    for (let i = 0; i < 3; i++) t.equal((await get(a.http, '/', from('10.1.2.1', 'gina', 'guess'))).status, 401)
    t.equal((await get(b.http, '/', from('10.1.2.1', 'gina'))).status, 429)
    await sleep(350)
    t.equal((await get(b.http, '/', from('10.1.2.1', 'gina'))).body, 'gina')
  })

  t.test('the store itself: counts, windows, and keys without one', async (t) => {
    const redis = await connect(t, port)
    const store = redisStore(redis)
    t.equal(await store.get('test:none'), undefined, 'no key, no count')
    const first = await store.increment('test:key', 60_000)
    t.equal(first.count, 1)
    t.ok(first.resetAt > Date.now() + 59_000 && first.resetAt <= Date.now() + 60_000)
    t.equal((await store.increment('test:key', 1)).count, 2, 'the window stays the first one\'s')
    const read = await store.get('test:key')
    t.equal(read?.count, 2)
    // Redis keeps the time left (PTTL); the end read back from it may be a millisecond off.
    t.ok(Math.abs((read?.resetAt ?? 0) - first.resetAt) <= 5, 'the same window end')
    t.ok(await redis.pttl('test:key') > 59_000)
    await redis.set('test:forever', '7')
    t.equal(await store.get('test:forever'), undefined, 'a key with no window counts for nothing')
    t.equal((await store.increment('test:forever', 60_000)).count, 8, 'until a count gives it one')
    t.ok(await redis.pttl('test:forever') > 59_000)
  })

  t.test('a Redis that is down refuses with 503, and no backend runs', async (t) => {
    const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: false })
    let verified = 0
    const app = Fastify()
    await app.register(authentication, {
      backend: basic({ verify: () => { verified++; return null } }),
      lockout: true,
      store: redisStore(redis)
    })
    app.get('/', async () => 'ok')
    const { http } = await listen(app, t)
    const answer = await get(http, '/', { authorization: basicHeader('alice', 'alice-pw') })
    t.equal(answer.status, 503)
    t.equal(verified, 0)
    redis.disconnect()
  })

  t.test('redisStore(client) needs a client', async (t) => {
    t.throws(() => redisStore({} as Redis), /^fastify-authentication\/redis: redisStore\(client\) needs an ioredis client, like redisStore\(new Redis\(url\)\)$/)
    t.throws(() => redisStore(undefined as unknown as Redis), /needs an ioredis client/)
  })
})
