// `npm run bench [-- --quick | --ws-package | <suite>…]`: every variant in its own server
// process, pinned to core 1, loaded from this process, pinned to core 0.
//
//   npm run bench               the full run: 5 rounds, about 34 minutes on a quiet machine (2,058 s
//                               on 2 EPYC cores), plus up to PATIENCE seconds of waiting for quiet;
//                               writes bench/results.md
//   npm run bench -- --quick    one short round of everything, about 5 minutes; bench/results-quick.md
//   npm run bench -- --quick jwt scopes   only the suites named (see suites.ts), while developing them
//   npm run bench -- --profile [backends | scale]   CPU profiles (profile.ts); bench/profiles/
//   npm run bench -- --instructions [suite…]   the per-request targets judged on the instructions and
//                               the cycles (with simulated caches) counted under valgrind (instructions.ts);
//                               other work on the machine does not change the counts; bench/instructions.md
//
// The suites (suites.ts): the core comparison (the same job done by the plugin, an inline check
// and three peers, over HTTP and WebSocket handshakes), then the ready-made backends against
// their peers and the plugin at scale, each next to the same job written by hand.
//
// Each round starts fresh server processes (so that no variant keeps one lucky or unlucky JIT
// for the whole run) and warms them all. The core suites then measure them in turn, A B C …
// A B C …, a few seconds each. The other suites measure the servers compared side by side, at
// the same time on core 1: on this shared VM the machine's speed moves from one second to the
// next, and only at once does a slow spell hit them alike. Each pass is a "slot"; ratios pair slots.
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { pinned, serverScript, startServer, TASKSET, type Server } from './child'
import { otherLoad, readCores, waitForQuiet } from './contention'
import { runHttp, CONNECTIONS } from './http'
import { countInstructions } from './instructions'
import { profile, profiles, type ProfileName } from './profile'
import { failedTargets, markdown, series as seriesValues, store, type Memory, type Run } from './report'
import type { VariantName } from './servers'
import { comparedPairs, pairKey, STARTS, suites, type Case, type Result, type Series, type Suite, type SuiteName } from './suites'
import { bearer, USER_COUNT, userToken } from './tokens'
import type { HandshakeClient } from './websocket'

/** How one suite is measured: A B C … passes per round, seconds per measurement, and the requests (handshakes) each fresh server gets on each case first. */
interface Measure {
  passes: number
  seconds: number
  warmup: number
}

interface Settings {
  rounds: number
  suites: Record<SuiteName, Measure>
  /** The memory run: heap after `first` requests, then after `total`. */
  memoryFirst: number
  memoryTotal: number
  memoryVariants: VariantName[]
  /** Seconds the whole run may spend waiting for other work to finish. */
  patience: number
}

/** The dimensions added to the core comparison: the same measure for each, for a median and a range over the passes. */
function dimensions (measure: Measure): Record<Exclude<SuiteName, 'core' | 'ws'>, Measure> {
  return { bearer: measure, basic: measure, jwt: measure, scopes: measure, routes: measure, timeout: measure }
}

/** Seconds the full run may wait for quiet, in all. */
const PATIENCE = 300

const FULL: Settings = {
  rounds: 5,
  // The dimensions are measured side by side, two passes of 1.5 s a round (each of a pair's loads
  // started first once). In turn, the same variant and its reference, measured 1.2 s each one
  // after the other, came out up to 2× apart on this shared VM, and the targets were missed at
  // random (runs 8 to 10); side by side, within a few %.
  suites: { core: { passes: 2, seconds: 2, warmup: 10_000 }, ws: { passes: 2, seconds: 1.5, warmup: 1000 }, ...dimensions({ passes: 2, seconds: 1.5, warmup: 30_000 }) },
  memoryFirst: 10_000,
  memoryTotal: 100_000,
  memoryVariants: ['plugin-requires', 'plugin-config'],
  patience: PATIENCE
}

const QUICK: Settings = {
  rounds: 1,
  suites: { core: { passes: 2, seconds: 0.7, warmup: 10_000 }, ws: { passes: 2, seconds: 0.5, warmup: 1000 }, ...dimensions({ passes: 2, seconds: 0.5, warmup: 30_000 }) },
  memoryFirst: 10_000,
  memoryTotal: 100_000,
  memoryVariants: ['plugin-requires'],
  patience: 5
}

/** A measurement during which other work took more than this share of a core is made again… */
const MAX_OTHER_LOAD = 0.1
/** …and so is an HTTP measurement that left the server this idle (the load stalled)… */
const MIN_HTTP_SERVER_CPU = 0.9
/** …up to this many times in all (after waiting for quiet, within the run's patience); if all were disturbed, it is left out. */
const ATTEMPTS = 3
const BENCH_DIR = path.resolve(__dirname, '..', '..', 'bench')

const patience = { seconds: 0 }

async function main (): Promise<void> {
  const args = process.argv.slice(2)
  if (pinned()) {
    // This process (autocannon, WebSocket clients) on core 0; the servers get core 1 (child.ts).
    execFileSync(TASKSET, ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' })
  }
  // Copies the build the servers will run, now (see child.ts).
  serverScript()
  const client: HandshakeClient = args.includes('--ws-package') ? 'ws' : 'raw'
  const quick = args.includes('--quick')
  if (args.includes('--profile')) {
    // `--profile [backends | scale]`: the core cases, or those named.
    const named = (Object.keys(profiles) as ProfileName[]).filter((name) => args.includes(name))
    const plans = (named.length === 0 ? ['core' as const] : named).flatMap((name) => profiles[name])
    await profile(path.join(BENCH_DIR, 'profiles'), quick ? 2 : 5, plans, suites(client))
    return
  }
  // `npm run bench -- --quick jwt scopes`: only the suites named (while developing them).
  const all = suites(client)
  const named = all.filter(({ name }) => args.includes(name))
  const command = `npm run bench${args.length === 0 ? '' : ` -- ${args.join(' ')}`}`
  if (args.includes('--instructions')) {
    await countInstructions(BENCH_DIR, command, all, named)
    return
  }
  const settings = quick ? QUICK : FULL
  const started = performance.now()
  patience.seconds = settings.patience
  const { core, ws } = settings.suites
  const run: Run = {
    command,
    build: describeBuild(),
    rounds: settings.rounds,
    settings: `${settings.rounds} round(s); core: ${core.passes} passes of ${core.seconds} s per HTTP run with ${CONNECTIONS} connections, ` +
      `${ws.seconds} s per handshake run with 50 concurrent ${client === 'ws' ? 'ws package' : 'raw TCP'} clients; ` +
      `other suites: side by side, ${settings.suites.bearer.passes} pass(es) of ${settings.suites.bearer.seconds} s per round`,
    pinned: pinned(),
    samples: {},
    pairs: {},
    cpu: {},
    other: [],
    leftOut: [],
    memory: [],
    seconds: 0
  }

  await waitForQuiet(patience)
  for (let round = 0; round < settings.rounds; round++) {
    for (const suite of named.length === 0 ? all : named) await inRound(run, round, settings, suite)
  }
  for (const name of settings.memoryVariants) run.memory.push(await measureMemory(name, settings))
  run.seconds = (performance.now() - started) / 1000

  const text = markdown(run)
  console.log('\n' + text)
  // The quick mode is for development: it leaves the full run's results alone.
  const file = path.join(BENCH_DIR, quick ? 'results-quick.md' : 'results.md')
  mkdirSync(BENCH_DIR, { recursive: true })
  writeFileSync(file, text)
  console.log(`written to ${path.relative(process.cwd(), file)}`)
  const failed = failedTargets(run)
  if (failed > 0) console.log(`${failed} target(s) missed`)
}

/** A server and the case it is loaded with. */
interface Load {
  variant: VariantName
  case: Case
  server: Server
}

/**
 * One round of one suite: its apps' startups first where it records them (STARTS times, the apps
 * in turn), then fresh servers, warmed on their cases, then `passes` passes over the cases. In
 * turn, a server per variant takes each of its cases, A B C … one after another. Side by side, a
 * server per variant and case, and a pass loads each pair the sections compare at once.
 */
async function inRound (run: Run, round: number, settings: Settings, suite: Suite): Promise<void> {
  const { passes, seconds, warmup } = settings.suites[suite.name]
  // Forwards, then backwards, from one slot to the next: no variant always runs (or starts) first, or right after the same neighbour.
  const inOrder = (slot: number): readonly VariantName[] => slot % 2 === 0 ? suite.variants : [...suite.variants].reverse()
  if (suite.startup === true) await recordStartups(run, round, suite, inOrder)
  // A server per variant, or side by side per variant and case.
  const servers = new Map<string, Server>()
  try {
    const loads: Load[] = []
    for (const kase of suite.cases) {
      for (const variant of suite.variants) {
        if (kase.only !== undefined && !kase.only.includes(variant)) continue
        const key = suite.sideBySide === true ? `${variant} ${kase.name}` : variant
        let server = servers.get(key)
        if (server === undefined) {
          server = await startServer(variant, suite.mode)
          servers.set(key, server)
        }
        await kase.run(server, variant, undefined, Math.max(warmup, kase.warmup?.(variant) ?? 0))
        loads.push({ variant, case: kase, server })
      }
    }
    for (let pass = 0; pass < passes; pass++) {
      const slot = round * passes + pass
      for (const together of batches(suite, loads, inOrder(slot))) await record(run, suite, together, slot, seconds)
    }
  } finally {
    for (const server of servers.values()) await server.exit()
  }
}

/** The loads measured together, in the order they are measured: one at a time, or the pairs compared. */
function batches (suite: Suite, loads: Load[], order: readonly VariantName[]): Load[][] {
  const load = ({ variant, case: name }: Series): Load[] => loads.filter((one) => one.variant === variant && one.case.name === name)
  if (suite.sideBySide === true) return comparedPairs(suite).map((pair) => pair.flatMap(load))
  return suite.cases.flatMap((kase) => order.flatMap((variant) => load({ variant, case: kase.name }).map((one) => [one])))
}

/** Each app's startup time and the heap it took, STARTS times a round, the apps in turn, undisturbed if the run's patience allows. */
async function recordStartups (run: Run, round: number, suite: Suite, inOrder: (slot: number) => readonly VariantName[]): Promise<void> {
  await waitForQuiet(patience)
  for (let start = 0; start < STARTS; start++) {
    const slot = round * STARTS + start
    for (const name of inOrder(slot)) {
      const server = await startServer(name, suite.mode, { nodeFlags: ['--expose-gc'] })
      store(run.samples, { variant: name, case: 'startup' }, slot, server.startup.ms)
      store(run.samples, { variant: name, case: 'heap' }, slot, server.startup.heap)
      await server.exit()
    }
  }
}

/**
 * Runs loads at once and keeps their rates for this slot, with each server's CPU use during it
 * (side by side, a series may be in several pairs: its first is kept) and the ratio of a pair.
 * Alone, a server has core 1 to itself, and its rate is its requests per second. Side by side,
 * the servers share the core (the scheduler gives each a fair share), and a rate is requests per
 * second of the server's own CPU time: what it would answer with the core to itself, measured
 * over the same seconds as the others, so that a slow spell of the machine slows them alike.
 * If other work shared the cores meanwhile, or an HTTP load left core 1 idle (on this shared VM,
 * the load core sometimes stalls), they are made again once the machine is quiet: ATTEMPTS in
 * all, while the run's patience lasts. Loads still disturbed are left out of the results.
 */
async function record (run: Run, suite: Suite, loads: Load[], slot: number, seconds: number): Promise<void> {
  let best: { rates: number[], cpu: number[], other: number, disturbance: number } | undefined
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    if (attempt > 1) {
      // Retries wait for quiet first, and stop with the run's patience: the time stays bounded.
      if (patience.seconds <= 0) break
      await waitForQuiet(patience)
    }
    const usage = async (): Promise<Array<{ cpu: number, wall: number }>> => await Promise.all(loads.map(async ({ server }) => await server.usage()))
    const before = { servers: await usage(), cores: readCores() }
    // Side by side, the load started first gets its connections served first in each turn of the
    // load core's event loop, and its server came out a few % apart from the other's for that
    // alone: which one starts first alternates from slot to slot, as the order in turn does.
    const starting = slot % 2 === 0 ? loads : [...loads].reverse()
    const running = new Map(starting.map((load) => [load, load.case.run(load.server, load.variant, seconds)]))
    const results = await Promise.all(loads.map(async (load) => await (running.get(load) as Promise<Result>)))
    const after = { servers: await usage(), cores: readCores() }
    const wall = after.servers[0].wall - before.servers[0].wall
    const cpuSeconds = loads.map((_, i) => after.servers[i].cpu - before.servers[i].cpu)
    const busy = cpuSeconds.reduce((sum, cpu) => sum + cpu, 0)
    const rates = results.map((result, i) => suite.sideBySide === true ? result.total / cpuSeconds[i] : result.rps)
    const cpu = cpuSeconds.map((used) => used / wall)
    const other = otherLoad(before.cores, after.cores, busy, wall)
    loads.forEach(({ variant, case: kase }, i) => {
      console.error(`${Math.round(performance.now() / 1000).toString().padStart(4)} s  ${suite.name.padEnd(7)} slot ${slot + 1}  ${variant.padEnd(20)} ${kase.name.padEnd(16)} ${Math.round(rates[i]).toString().padStart(7)}/s  server CPU ${percent(cpu[i])}  other load ${percent(other)}`)
    })
    // Above 0: disturbed, by other work, or (HTTP only) by a load that left core 1 idle.
    const disturbance = Math.max((Number.isFinite(other) ? other : 0) - MAX_OTHER_LOAD, suite.mode === 'http' ? MIN_HTTP_SERVER_CPU - busy / wall : -1)
    if (best === undefined || disturbance < best.disturbance) best = { rates, cpu, other, disturbance }
    if (disturbance <= 0) break
  }
  if (best === undefined) return
  const { rates, cpu, other, disturbance } = best
  const measured = loads.map(({ variant, case: kase }) => ({ variant, case: kase.name }))
  // Still disturbed: left out, so that a slot's ratio compares two undisturbed runs, or none.
  if (disturbance > 0) {
    run.leftOut.push(...measured)
    return
  }
  measured.forEach((series, i) => {
    if (Number.isFinite(seriesValues(run.samples, series)[slot])) return
    store(run.samples, series, slot, rates[i])
    store(run.cpu, series, slot, cpu[i])
    run.other.push(other)
  })
  if (suite.sideBySide === true) (run.pairs[pairKey([measured[0], measured[1]])] ??= [])[slot] = rates[0] / rates[1]
}

/** The commit the measured lib/ was built from, and whether lib/ had changes not yet committed. */
function describeBuild (): string {
  try {
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: path.resolve(BENCH_DIR, '..'), encoding: 'utf8' }).trim()
    return `lib/ at ${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'lib') === '' ? '' : ' with uncommitted changes'}`
  } catch {
    return 'lib/ at an unknown commit'
  }
}

function percent (share: number): string {
  return Number.isFinite(share) ? `${Math.round(share * 100)}%`.padStart(4) : '   ?'
}

/** Heap after the first requests of mixed users, then after all of them, in a fresh server. */
async function measureMemory (name: VariantName, settings: Settings): Promise<Memory> {
  const requests: Array<{ headers: Record<string, string> }> = []
  for (let i = 0; i < USER_COUNT; i++) {
    requests.push({ headers: { authorization: bearer(userToken(i)) } })
    // Callers the backend does not know, and anonymous ones.
    if (i % 10 === 0) requests.push({ headers: { authorization: bearer(`token-unknown-${i}`) } }, { headers: {} })
  }
  const server = await startServer(name, 'http', { nodeFlags: ['--expose-gc'] })
  try {
    const load = { url: server.url + '/hello', requests, expect: [200, 403] }
    await runHttp({ ...load, amount: settings.memoryFirst })
    const first = await server.heap()
    await runHttp({ ...load, amount: settings.memoryTotal - settings.memoryFirst })
    const last = await server.heap()
    console.error(`memory ${name}: ${first} bytes after ${settings.memoryFirst} requests, ${last} after ${settings.memoryTotal}`)
    return { variant: name, first, last, firstCount: settings.memoryFirst, lastCount: settings.memoryTotal }
  } finally {
    await server.exit()
  }
}

// Ctrl-C: exit normally, so that the copy of dist/ child.ts made is removed.
process.once('SIGINT', () => process.exit(130))

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
