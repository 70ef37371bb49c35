// The plugins every Fastify service uses, registered next to this one.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import cors from '@fastify/cors'
import rateLimit from '@fastify/rate-limit'
import authentication, { AuthCredentials, SimpleUser, requires } from '../lib/index'
import { bearer } from '../lib/backends/bearer'
import { get, listen } from './helpers'

const tokens = { 'reader-token': { auth: new AuthCredentials(['read']), user: new SimpleUser('reader') } }
const backend = bearer({ tokens, realm: 'api' })

function routes (app: FastifyInstance): void {
  app.get('/config', { config: { requires: 'admin' } }, async () => 'admin')
  app.get('/hook', { preHandler: requires('admin') }, async () => 'admin')
}

t.test('@fastify/rate-limit registered first counts refusals: guessing tokens ends in 429', async (t) => {
  for (const path of ['/config', '/hook']) {
    for (const [what, headers] of [['rejected credentials', { authorization: 'Bearer guess' }], ['missing scopes', { authorization: 'Bearer reader-token' }]] as const) {
      // An app per case, with rate-limit's defaults: each case starts with a full allowance.
      const app = Fastify()
      await app.register(rateLimit, { max: 5 })
      await app.register(authentication, { backend })
      routes(app)
      const { http } = await listen(app, t)
      const statuses: number[] = []
      for (let i = 0; i < 8; i++) statuses.push((await get(http, path, headers)).status)
      const refused = what === 'rejected credentials' ? 401 : 403
      t.same(statuses, [refused, refused, refused, refused, refused, 429, 429, 429], `${path}, ${what}`)
    }
  }
})

t.test('@fastify/cors: refusals carry its headers, whichever is registered first', async (t) => {
  for (const order of ['cors first', 'cors after'] as const) {
    const app = Fastify()
    if (order === 'cors first') await app.register(cors, { origin: 'https://app.example' })
    await app.register(authentication, { backend })
    if (order === 'cors after') await app.register(cors, { origin: 'https://app.example' })
    routes(app)
    const { http } = await listen(app, t)
    for (const path of ['/config', '/hook']) {
      for (const [headers, status] of [[{}, 401], [{ authorization: 'Bearer guess' }, 401], [{ authorization: 'Bearer reader-token' }, 403]] as const) {
        const answer = await get(http, path, { origin: 'https://app.example', ...headers })
        t.equal(answer.status, status, `${order} ${path} ${status}`)
        t.equal(answer.headers['access-control-allow-origin'], 'https://app.example', `${order} ${path} ${status}: CORS headers`)
      }
    }
  }
})
