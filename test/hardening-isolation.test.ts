import t from 'tap'
import { isolationUnderLoad } from './load'

// Under load, with backends answering in random order, every handler sees its own caller.
// The big version (100,000 requests at 200 concurrent) is test/stress/isolation.ts.
const load = { total: 2000, concurrency: 50, timeLimitMs: 20_000 }

t.test(`${load.total} requests at ${load.concurrency} concurrent: every handler sees exactly its own user`, (t) => isolationUnderLoad(t, load))
