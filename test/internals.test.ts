import t from 'tap'
import type { FastifyRequest } from 'fastify'

// The route config is read from Fastify's route context when that gives the public getter's
// object; a Fastify without it (or where it differs) is read through the public getter.
t.test('without the route context, the public getter is read', async (t) => {
  const config = { url: '/' }
  // The last number counts the getter's reads: one per request, plus one for the check where there is a context.
  const fallbacks: Array<[string, object, number]> = [
    ['no context symbol', {}, 2],
    ['a context with another config', { [Symbol('fastify.context')]: { config: { url: '/other' } } }, 3]
  ]
  for (const [name, internals, expected] of fallbacks) {
    const { routeConfig } = t.mockRequire<typeof import('../lib/internals')>('../lib/internals')
    let reads = 0
    const request = Object.defineProperty(internals, 'routeOptions', { get () { reads++; return { config } } }) as unknown as FastifyRequest
    t.equal(routeConfig(request), config, name)
    t.equal(routeConfig(request), config, `${name}, again`)
    t.equal(reads, expected, `${name}: the getter is read on each request`)
  }
})

t.test('a scope without Fastify\'s hooks and children has no internals to read', async (t) => {
  const { scopeInternals } = t.mockRequire<typeof import('../lib/internals')>('../lib/internals')
  t.equal(scopeInternals({} as never), undefined)
  t.equal(scopeInternals({ [Symbol('fastify.hooks')]: {} } as never), undefined, 'hooks without children')
})

t.test('a symbol is looked up once, and one kept from another copy of Fastify is not taken for this one\'s', async (t) => {
  const { symbolNamed } = t.mockRequire<typeof import('../lib/internals')>('../lib/internals')
  const mine = Symbol('fastify.hooks')
  let listed = 0
  const scope = (symbol: symbol): object => new Proxy({ [symbol]: [] }, { ownKeys (target) { listed++; return Reflect.ownKeys(target) } })
  t.equal(symbolNamed(scope(mine), 'fastify.hooks'), mine)
  t.equal(symbolNamed(scope(mine), 'fastify.hooks'), mine, 'again')
  t.equal(listed, 1, 'the second lookup does not list the symbols')
  const theirs = Symbol('fastify.hooks')
  t.equal(symbolNamed(scope(theirs), 'fastify.hooks'), theirs, 'another copy of Fastify')
  t.equal(symbolNamed({}, 'fastify.hooks'), undefined, 'none')
})
