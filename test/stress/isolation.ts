import t, { type Test } from 'tap'
import { isolationUnderLoad } from '../load'

// Stress: 100,000 requests at 200 concurrent connections, each with its own user and a backend
// of random latency; every handler must see exactly its own user. Run with `npm run test:stress`
// (it sets FASTIFY_AUTHENTICATION_STRESS=1); the normal suite skips it.
const enabled = process.env.FASTIFY_AUTHENTICATION_STRESS === '1'
const load = {
  total: Number(process.env.STRESS_REQUESTS ?? 100_000),
  concurrency: Number(process.env.STRESS_CONCURRENCY ?? 200),
  timeLimitMs: 300_000
}

/** The heap's growth over the load, for the record: a long run is where a leak would show. */
async function heap (): Promise<(t: Test) => Promise<void>> {
  const before = process.memoryUsage().heapUsed
  return async (t) => {
    t.comment(`heap ${((process.memoryUsage().heapUsed - before) / 1e6).toFixed(1)} MB over the start`)
  }
}

t.test(`isolation under load: ${load.total} requests at ${load.concurrency} concurrent`, { skip: !enabled && 'stress test: npm run test:stress' }, (t) => isolationUnderLoad(t, load, heap))
