import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { refusedHandshakeFlood } from '../load'

// Stress: 10,000 refused WebSocket upgrades at 100 concurrent: every one answered 403, no socket
// left open, the heap back near its start, and an authorized client still connects.
// Run with `npm run test:stress` (FASTIFY_AUTHENTICATION_STRESS=1, node --expose-gc).
const enabled = process.env.FASTIFY_AUTHENTICATION_STRESS === '1'
const flood = {
  total: Number(process.env.STRESS_HANDSHAKES ?? 10_000),
  concurrency: Number(process.env.STRESS_CONCURRENCY_WS ?? 100),
  warmUp: 500,
  timeLimitMs: 300_000
}
const HEAP_SLACK_BYTES = 8 * 1024 * 1024

const gc = (globalThis as { gc?: () => void }).gc

/** The client's open TCP sockets (the server's own are counted by the flood itself). */
const sockets = (): number => process.getActiveResourcesInfo().filter((type) => type === 'TCPSocketWrap').length

async function heapAfterGc (): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc?.()
    await sleep(50)
  }
  return process.memoryUsage().heapUsed
}

/** Neither sockets nor heap may grow over the flood: what it left behind would. */
async function noLeaks (): Promise<(t: Test) => Promise<void>> {
  const socketsBefore = sockets()
  const heapBefore = await heapAfterGc()
  return async (t) => {
    for (let i = 0; i < 100 && sockets() > socketsBefore; i++) await sleep(20)
    t.ok(sockets() <= socketsBefore, `no socket left open on the client side (${sockets()} vs ${socketsBefore})`)
    const heapAfter = await heapAfterGc()
    const growth = heapAfter - heapBefore
    t.comment(`heap: ${(heapBefore / 1e6).toFixed(1)} MB before, ${(heapAfter / 1e6).toFixed(1)} MB after (${(growth / 1e6).toFixed(2)} MB)`)
    t.ok(growth < HEAP_SLACK_BYTES, `heap back near its start (grew ${(growth / 1e6).toFixed(2)} MB, limit ${HEAP_SLACK_BYTES / 1e6} MB)`)
  }
}

t.test(`${flood.total} refused WebSocket upgrades at ${flood.concurrency} concurrent`, { skip: !enabled && 'stress test: npm run test:stress' }, async (t) => {
  t.equal(typeof gc, 'function', 'gc is exposed (node --expose-gc, as npm run test:stress does)')
  await refusedHandshakeFlood(t, flood, noLeaks)
})
