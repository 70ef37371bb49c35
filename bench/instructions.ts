// `npm run bench -- --instructions [suite…]`: every per-request target judged on the instructions
// a server executes per request, counted by valgrind's callgrind, instead of requests per second.
// Time on this shared VM swings by 20% from second to second and by 15% from one process of a
// server to the next; the count does not, so a ratio of 0.97 can be told from one of 0.95 in one
// run. What the count cannot see: a cache miss or a system call takes more time than its
// instructions say (the 10,000-route apps miss the cache the most). Writes bench/instructions.md.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startServer } from './child'
import { oneRequestAtATime } from './http'
import { count, coreTargets, meets, table } from './report'
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
/** Requests in a counted window, and windows per case. */
const WINDOW = 2000
const WINDOWS = 5
/** Building 10,000 routes takes minutes under valgrind. */
const START_TIMEOUT = 30 * 60_000

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
  const counts = new Map<string, Spread>()
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

/** One server under callgrind: warmed on every case, then counted on each. */
async function countVariant (dumps: string, suite: Suite, variant: VariantName, names: string[]): Promise<Map<string, Spread>> {
  const server = await startServer(variant, suite.mode, {
    wrapper: [VALGRIND, '--quiet', '--tool=callgrind', `--callgrind-out-file=${path.join(dumps, '%p')}`, '--dump-instr=no', '--compress-strings=no'],
    startTimeout: START_TIMEOUT
  })
  const cases = names.map((name) => caseOf(suite, { variant, case: name }) as Case)
  const counts = new Map<string, Spread>()
  let dumped = 0
  // The instructions since the counters were zeroed, per request: callgrind_control writes them to the next numbered file.
  const window = async (kase: Case): Promise<number> => {
    execFileSync('callgrind_control', ['--zero', String(server.pid)], { stdio: 'ignore' })
    const { total } = await kase.run(server, variant, undefined, WINDOW)
    execFileSync('callgrind_control', ['--dump', String(server.pid)], { stdio: 'ignore' })
    const dump = readFileSync(path.join(dumps, `${server.pid}.${++dumped}`), 'utf8')
    return Number(/^totals: (\d+)$/m.exec(dump)?.[1]) / total
  }
  try {
    for (let warmup = 0; warmup < WARMUPS; warmup++) {
      for (const kase of cases) await kase.run(server, variant, undefined, WARMUP)
    }
    for (const kase of cases) {
      // Again right before its windows: those of the case before may have made the JIT recompile.
      await kase.run(server, variant, undefined, WARMUP)
      const windows: number[] = []
      while (windows.length < WINDOWS) windows.push(await window(kase))
      console.error(`${variant} ${kase.name}: ${windows.map(Math.round).join(', ')} instructions/request`)
      counts.set(kase.name, spread(windows))
    }
  } finally {
    await server.exit()
  }
  return counts
}

function markdown (command: string, targets: readonly Target[], counts: ReadonlyMap<string, Spread>, seconds: number): string {
  const countOf = ({ variant, case: name }: Series): Spread | undefined => counts.get(`${variant} ${name}`)
  const format = (measured: Spread | undefined): string => measured === undefined ? '–' : `${count(measured.median)} (${count(measured.min)}–${count(measured.max)})`
  const rows = targets.map((target) => {
    const [of, to] = target.ratio.map(countOf)
    // Fewer instructions, more requests per second: the ratio reads like the throughput one.
    const ratio = (to?.median ?? NaN) / (of?.median ?? NaN)
    return [target.what, format(of), format(to), Number.isFinite(ratio) ? `${ratio.toFixed(3)}×` : '–', Number.isFinite(ratio) ? (meets(target, ratio) ? 'PASS' : 'FAIL') : '–']
  })
  return [
    '# fastify-authentication: instructions per request',
    '',
    `- Node ${process.version}; \`${command}\`; took ${Math.round(seconds)} s`,
    `- Each server under valgrind's callgrind, sent one request at a time, warmed with ${count(WARMUP)} requests on each case in turn, ${WARMUPS} times,`,
    `  then on each case ${count(WARMUP)} requests more and ${WINDOWS} counted windows of ${count(WINDOW)}: the median window, and the range`,
    '  (a window with a major GC or a recompilation counts far more).',
    '- The ratio is of the medians, the compared server\'s over the measured one\'s, so that it reads like a throughput ratio. Instructions are',
    '  not time: cache misses and system calls cost more than their count, so this judges the code\'s work, `results.md` the time.',
    '',
    table(['target', 'measured, instructions/request', 'compared with', 'ratio', 'result'], rows),
    ''
  ].join('\n')
}
