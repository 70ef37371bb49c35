import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Deadlines } from '../lib/request/deadlines'

// The timeout option's one timer for all of a registration's waits (lib/deadlines.ts).

function refedTimers (): number {
  return process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length
}

t.test('staggered waits each expire at their own deadline; a cancelled one never does', async (t) => {
  const deadlines = new Deadlines(40)
  const started = performance.now()
  const expired: Array<[string, number]> = []
  const wait = (name: string) => deadlines.start(() => expired.push([name, performance.now() - started]))
  const baseline = refedTimers()
  wait('first')
  await sleep(15)
  const second = wait('second')
  const third = wait('third')
  await sleep(5)
  wait('fourth')
  t.equal(refedTimers(), baseline + 1, 'one timer for all of them')
  deadlines.cancel(third)
  await sleep(80)
  t.same(expired.map(([name]) => name), ['first', 'second', 'fourth'], 'in the order they started, the cancelled one left out')
  const [[, first], [, secondAt], [, fourth]] = expired
  t.ok(first >= 39, `the first after its 40 ms (${first.toFixed(1)})`)
  t.ok(secondAt >= 54, `the second 40 ms after it started, not with the first (${secondAt.toFixed(1)})`)
  t.ok(fourth >= 59, `the fourth likewise (${fourth.toFixed(1)})`)
  deadlines.cancel(second)
  t.equal(expired.length, 3, 'cancelling an expired wait changes nothing')
  t.equal(refedTimers(), baseline, 'nothing waits: no timer keeps the process alive')
})

t.test('a wait ended in time leaves no live timer, and the next one is still timed', async (t) => {
  const deadlines = new Deadlines(30)
  const baseline = refedTimers()
  let expired = 0
  deadlines.cancel(deadlines.start(() => expired++))
  t.equal(refedTimers(), baseline, 'the lapsing timer is unref\'d')
  const started = performance.now()
  await new Promise<void>((resolve) => deadlines.start(resolve))
  t.ok(performance.now() - started >= 29, 'the next wait still lasts its 30 ms')
  t.equal(expired, 0, 'the cancelled wait never expired')
  t.equal(refedTimers(), baseline)
})
