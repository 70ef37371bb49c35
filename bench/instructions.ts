// `npm run bench -- --instructions [suite…]`: every per-request target judged on what a server
// executes per request under valgrind's callgrind, instead of requests per second. Time on this
// shared VM swings by 20% from second to second and by 15% from one process of a server to the
// next; the instructions move by about 1% between processes, so a ratio of 0.97 can be told from
// one of 0.95 in one run. Callgrind also simulates the CPU's caches: its cycle estimate adds 10
// cycles per first-level miss and 100 per last-level miss, so that an app that misses the cache
// more (10,000 routes) pays for it; it moves by about 3% between processes. A target is met when
// both ratios meet it. What neither sees: system calls, which cost alike in the apps compared
// (the same socket reads and writes). Writes bench/instructions.md.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startServer } from './child'
import { oneRequestAtATime } from './http'
import { count, coreTargets, formatSpread, meets, table } from './report'
import type { VariantName } from './servers'
import { spread, type Spread } from './stats'
import { sections, type Case, type Series, type Suite, type Target } from './suites'

const VALGRIND = '/usr/bin/valgrind'
/**
 * Requests a server gets on each case, in turn, WARMUPS times, before any is counted: a case
 * warmed after another can make the JIT recompile what the other used, and a window with a
 * recompilation counts twice as much.
 */
const WARMUP = 5000
const WARMUPS = 2
/** Requests in a counted window. */
const WINDOW = 2000
/**
 * A case is counted once SETTLED windows in a row agree on instructions within SETTLED_SPREAD, at
 * most MAX_WINDOWS: a recompilation, or a major GC, only adds work, in a window now and then (and
 * more often under the cache simulation's slower clock).
 */
const SETTLED = 3
const SETTLED_SPREAD = 0.01
const MAX_WINDOWS = 12
/** Building 10,000 routes takes minutes under valgrind. */
const START_TIMEOUT = 30 * 60_000
/** Callgrind's events, with its cache simulation: instructions, then first-level and last-level misses. */
const INSTRUCTIONS = 'Ir'
const FIRST_LEVEL_MISSES = ['I1mr', 'D1mr', 'D1mw']
const LAST_LEVEL_MISSES = ['ILmr', 'DLmr', 'DLmw']
/**
 * The last level simulated: 32 MiB, 16-way, 64-byte lines, an EPYC's L3. Named rather than read
 * from the CPU: this VM reports a 320 MiB direct-mapped L3, which no core has.
 */
const LAST_LEVEL = '--LL=33554432,16,64'

/** What a server executed per request: its instructions, and callgrind's cycle estimate. */
interface Cost {
  instructions: number
  cycles: number
}

/** Callgrind's (and KCachegrind's) estimate: an instruction a cycle, a first-level miss 10, a last-level one 100. */
function costOf (dump: string, requests: number): Cost {
  const names = (/^events: (.+)$/m.exec(dump)?.[1] ?? '').split(' ')
  const totals = (/^totals: (.+)$/m.exec(dump)?.[1] ?? '').split(' ').map(Number)
  const total = (...events: string[]): number => events.reduce((sum, event) => sum + (totals[names.indexOf(event)] ?? NaN), 0)
  const instructions = total(INSTRUCTIONS)
  return {
    instructions: instructions / requests,
    cycles: (instructions + 10 * total(...FIRST_LEVEL_MISSES) + 100 * total(...LAST_LEVEL_MISSES)) / requests
  }
}

/** The series the targets compare, on an HTTP case (the startup and heap targets count no requests). */
function countedTargets (all: readonly Suite[], named: readonly Suite[]): Array<{ target: Target, suite: Suite }> {
  const counted: Array<{ target: Target, suite: Suite }> = []
  for (const target of [...coreTargets(), ...sections.flatMap((section) => section.targets)]) {
    const suite = all.find((suite) => suite.mode === 'http' && target.ratio.every((series) => caseOf(suite, series) !== undefined))
    if (suite !== undefined && (named.length === 0 || named.includes(suite))) counted.push({ target, suite })
  }
  return counted
}

function caseOf (suite: Suite, { variant, case: name }: Series): Case | undefined {
  if (!suite.variants.includes(variant)) return undefined
  return suite.cases.find((candidate) => candidate.name === name && (candidate.only === undefined || candidate.only.includes(variant)))
}

export async function countInstructions (benchDir: string, command: string, all: readonly Suite[], named: readonly Suite[]): Promise<void> {
  if (!existsSync(VALGRIND)) throw new Error(`the instruction count needs valgrind (${VALGRIND}): apt-get install -y valgrind`)
  const started = performance.now()
  oneRequestAtATime()
  const counted = countedTargets(all, named)
  // Each variant's server starts once, for all the cases its targets name.
  const work = new Map<VariantName, { suite: Suite, cases: Set<string> }>()
  for (const { target, suite } of counted) {
    for (const { variant, case: name } of target.ratio) {
      const entry = work.get(variant) ?? { suite, cases: new Set<string>() }
      entry.cases.add(name)
      work.set(variant, entry)
    }
  }
  const dumps = mkdtempSync(path.join(os.tmpdir(), 'fastify-authentication-callgrind-'))
  const counts = new Map<string, Counted>()
  // A server per core at a time: the count does not depend on what else runs.
  const queue = [...work]
  const counter = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [variant, { suite, cases }] = next
      for (const [name, measured] of await countVariant(dumps, suite, variant, [...cases])) counts.set(`${variant} ${name}`, measured)
    }
  }
  try {
    await Promise.all(Array.from({ length: os.availableParallelism() }, counter))
  } finally {
    rmSync(dumps, { recursive: true, force: true })
  }
  const text = markdown(command, counted.map(({ target }) => target), counts, (performance.now() - started) / 1000)
  console.log('\n' + text)
  const file = path.join(benchDir, 'instructions.md')
  writeFileSync(file, text)
  console.log(`written to ${path.relative(process.cwd(), file)}`)
}

/** A case's last SETTLED windows: the median and range of each measure, and whether they agreed. */
type Counted = Record<keyof Cost, Spread> & { settled: boolean }

function agree (windows: readonly Cost[]): boolean {
  const counts = windows.map(({ instructions }) => instructions)
  return counts.length === SETTLED && Math.max(...counts) <= Math.min(...counts) * (1 + SETTLED_SPREAD)
}

/** One server under callgrind: warmed on every case, then counted on each. */
async function countVariant (dumps: string, suite: Suite, variant: VariantName, names: string[]): Promise<Map<string, Counted>> {
  const server = await startServer(variant, suite.mode, {
    wrapper: [VALGRIND, '--quiet', '--tool=callgrind', '--cache-sim=yes', LAST_LEVEL, `--callgrind-out-file=${path.join(dumps, '%p')}`, '--dump-instr=no', '--compress-strings=no'],
    startTimeout: START_TIMEOUT
  })
  const cases = names.map((name) => caseOf(suite, { variant, case: name }) as Case)
  const counts = new Map<string, Counted>()
  let dumped = 0
  // The events since the counters were zeroed, per request: callgrind_control writes them to the next numbered file.
  const window = async (kase: Case): Promise<Cost> => {
    execFileSync('callgrind_control', ['--zero', String(server.pid)], { stdio: 'ignore' })
    const { total } = await kase.run(server, variant, undefined, WINDOW)
    execFileSync('callgrind_control', ['--dump', String(server.pid)], { stdio: 'ignore' })
    return costOf(readFileSync(path.join(dumps, `${server.pid}.${++dumped}`), 'utf8'), total)
  }
  try {
    for (let warmup = 0; warmup < WARMUPS; warmup++) {
      for (const kase of cases) await kase.run(server, variant, undefined, WARMUP)
    }
    for (const kase of cases) {
      // Again right before its windows: those of the case before may have made the JIT recompile.
      await kase.run(server, variant, undefined, WARMUP)
      const windows: Cost[] = []
      let settled = false
      while (!settled && windows.length < MAX_WINDOWS) {
        windows.push(await window(kase))
        settled = agree(windows.slice(-SETTLED))
      }
      const measure = (key: keyof Cost, from = 0): number[] => windows.slice(from).map((cost) => cost[key])
      console.error(`${variant} ${kase.name}: ${measure('instructions').map(Math.round).join(', ')} instructions, ` +
        `${measure('cycles').map(Math.round).join(', ')} estimated cycles a request${settled ? '' : ', unsettled'}`)
      counts.set(kase.name, { instructions: spread(measure('instructions', -SETTLED)), cycles: spread(measure('cycles', -SETTLED)), settled })
    }
  } finally {
    await server.exit()
  }
  return counts
}

function markdown (command: string, targets: readonly Target[], counts: ReadonlyMap<string, Counted>, seconds: number): string {
  const countOf = ({ variant, case: name }: Series): Counted | undefined => counts.get(`${variant} ${name}`)
  const format = (measured: Spread | undefined): string => measured === undefined ? '–' : formatSpread(measured, count)
  const rows = targets.map((target) => {
    const [of, to] = target.ratio.map(countOf)
    // Less work, more requests per second: the ratio reads like the throughput one.
    const ratio = (key: keyof Cost): number => (to?.[key].median ?? NaN) / (of?.[key].median ?? NaN)
    const [cycles, instructions] = [ratio('cycles'), ratio('instructions')]
    const shown = (value: number): string => Number.isFinite(value) ? `${value.toFixed(3)}×` : '–'
    // Judged on both: the work done, and the work with the cache's price.
    const result = of?.settled !== true || to?.settled !== true ? 'UNSETTLED' : meets(target, cycles) && meets(target, instructions) ? 'PASS' : 'FAIL'
    return [target.what, format(of?.cycles), format(to?.cycles), shown(cycles), shown(instructions), result]
  })
  return [
    '# fastify-authentication: instructions and estimated cycles per request',
    '',
    `- Node ${process.version}; \`${command}\`; took ${Math.round(seconds)} s`,
    `- Each server under valgrind's callgrind with its cache simulation, sent one request at a time, warmed with ${count(WARMUP)} requests on each case`,
    `  in turn, ${WARMUPS} times, then on each case ${count(WARMUP)} requests more and windows of ${count(WINDOW)} until ${SETTLED} in a row agree on instructions`,
    `  within ${SETTLED_SPREAD * 100}% (a window with a recompilation or a major GC counts far more), at most ${MAX_WINDOWS}: the median of those ${SETTLED}, and their range.`,
    '  A case whose windows never agreed is UNSETTLED, and its targets are not met.',
    '- Estimated cycles are callgrind\'s: one per instruction, 10 per first-level cache miss, 100 per last-level miss (a 32 MiB, 16-way last level).',
    '  A target is met when both ratios meet it: the work the code does, and that work with the cache\'s price.',
    '- The ratios are of the medians, the compared server\'s over the measured one\'s, so that they read like throughput ratios. System calls',
    '  are not counted: they cost the same in the apps compared. `results.md` has the time.',
    '',
    table(['target', 'measured, estimated cycles/request', 'compared with', 'ratio of cycles', 'ratio of instructions', 'result'], rows),
    ''
  ].join('\n')
}
