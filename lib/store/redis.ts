// fastify-authentication/redis: the registration's `store` in Redis, shared by every instance that
// connects to it, so that failed logins on one instance lock the caller out on all of them.
import type { AuthenticationStore, StoreCount } from './memory'

export type { AuthenticationStore, StoreCount } from './memory'

const MODULE = 'fastify-authentication/redis'

/** What the store needs of a Redis client: `eval`, as `ioredis` has it. */
export interface RedisClient {
  eval (script: string, numKeys: number, ...args: Array<string | number>): PromiseLike<unknown>
}

// KEYS[1]: the key; ARGV[1]: windowMs. INCR and the window's PEXPIRE in one script, so that no
// count is ever left without its window; a key that has none (set by hand) gets one too.
const INCREMENT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  ttl = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return { count, ttl }
`
// KEYS[1]: the key. The count and what is left of its window, read together.
const GET = `
return { redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]) }
`

/**
 * The store in Redis, through an `ioredis` client (`new Redis(url)`): each key is one Redis
 * string, which expires with its window. The client's connection is the app's to open and close.
 */
export function redisStore (client: RedisClient): AuthenticationStore {
  if (typeof client?.eval !== 'function') {
    throw new TypeError(`${MODULE}: redisStore(client) needs an ioredis client, like redisStore(new Redis(url))`)
  }
  return {
    async increment (key, windowMs) {
      return countOf(await client.eval(INCREMENT, 1, key, windowMs)) as StoreCount
    },
    async get (key) {
      return countOf(await client.eval(GET, 1, key))
    }
  }
}

/** Redis's answer `[count, ttl]` as a count, or `undefined` when the key has none. */
function countOf (reply: unknown): StoreCount | undefined {
  const [count, ttl] = reply as [number | string | null, number]
  // GET answers a string, INCR a number; a key that is gone answers nil (and a PTTL of -2).
  if (count === null || ttl < 0) return undefined
  return { count: Number(count), resetAt: Date.now() + ttl }
}
