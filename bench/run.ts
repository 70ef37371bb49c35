// `npm run bench [-- --quick | --ws-package | <suite>…]`: every variant in its own server
// process, pinned to core 1, loaded from this process, pinned to core 0.
//
//   npm run bench               the full run: 5 rounds, about 20 minutes on a quiet machine (1,222 s
//                               on 2 EPYC cores), plus up to PATIENCE seconds of waiting for quiet;
//                               writes bench/results.md
//   npm run bench -- --quick    one short round of everything, about 2 minutes; bench/results-quick.md
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
// Each round starts a fresh process per variant (so that no variant keeps one lucky or unlucky
// JIT for the whole run), warms them all, then measures them in turn, A B C … A B C …, a few
// seconds each: a variant and the inline check it is compared with run seconds apart, and a
// slow spell of the machine hits them alike. Each A B C … pass is a "slot"; ratios pair slots.
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { pinned, serverScript, startServer, TASKSET, type Server } from './child'
import { otherLoad, readCores, waitForQuiet } from './contention'
import { runHttp, CONNECTIONS } from './http'
import { countInstructions } from './instructions'
import { profile, profiles, type ProfileName } from './profile'
import { failedTargets, markdown, store, type Memory, type Run } from './report'
import type { VariantName } from './servers'
import { STARTS, suites, type Result, type Suite, type SuiteName } from './suites'
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
  // The dimensions take one pass of 1.2 s a round. Three of 0.4 s (run 9) gave three times the
  // ratios, each moving about twice as much (a stall of the machine weighs more in a short
  // window): the medians came out no more precise, for the same time.
  suites: { core: { passes: 2, seconds: 2, warmup: 10_000 }, ws: { passes: 2, seconds: 1.5, warmup: 1000 }, ...dimensions({ passes: 1, seconds: 1.2, warmup: 5000 }) },
  memoryFirst: 10_000,
  memoryTotal: 100_000,
  memoryVariants: ['plugin-requires', 'plugin-config'],
  patience: PATIENCE
}

const QUICK: Settings = {
  rounds: 1,
  suites: { core: { passes: 2, seconds: 0.7, warmup: 10_000 }, ws: { passes: 2, seconds: 0.5, warmup: 1000 }, ...dimensions({ passes: 1, seconds: 0.4, warmup: 3000 }) },
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
      `other suites: ${settings.suites.bearer.passes} pass(es) of ${settings.suites.bearer.seconds} s per round`,
    pinned: pinned(),
    samples: {},
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

/**
 * One round of one suite: fresh servers (their startup recorded where the suite asks, STARTS times), warmed on
 * every case, then `passes` A B C … passes over each case.
 */
async function inRound (run: Run, round: number, settings: Settings, suite: Suite): Promise<void> {
  const { passes, seconds, warmup } = settings.suites[suite.name]
  const servers = new Map<VariantName, Server>()
  // Forwards, then backwards, from one slot to the next: no variant always runs (or starts) first, or right after the same neighbour.
  const inOrder = (slot: number): readonly VariantName[] => slot % 2 === 0 ? suite.variants : [...suite.variants].reverse()
  try {
    // Startup times are measured STARTS times per round, the apps in turn, undisturbed if the run's patience allows.
    const startup = suite.startup === true
    const starts = startup ? STARTS : 1
    if (startup) await waitForQuiet(patience)
    for (let start = 0; start < starts; start++) {
      const slot = round * starts + start
      for (const name of inOrder(slot)) {
        const server = await startServer(name, suite.mode, startup ? { nodeFlags: ['--expose-gc'] } : {})
        if (startup) {
          store(run.samples, { variant: name, case: 'startup' }, slot, server.startup.ms)
          store(run.samples, { variant: name, case: 'heap' }, slot, server.startup.heap)
        }
        // The last start serves the load.
        if (start === starts - 1) servers.set(name, server)
        else await server.exit()
      }
    }
    const takes = (name: VariantName, only: readonly VariantName[] | undefined): boolean => only === undefined || only.includes(name)
    for (const [name, server] of servers) {
      for (const { only, run, warmup: atLeast } of suite.cases) {
        if (takes(name, only)) await run(server, name, undefined, Math.max(warmup, atLeast?.(name) ?? 0))
      }
    }
    for (let pass = 0; pass < passes; pass++) {
      const slot = round * passes + pass
      for (const { name: what, only, run: load } of suite.cases) {
        for (const name of inOrder(slot)) {
          if (!takes(name, only)) continue
          const server = servers.get(name) as Server
          await record(run, suite, server, name, what, slot, () => load(server, name, seconds))
        }
      }
    }
  } finally {
    for (const server of servers.values()) await server.exit()
  }
}

/**
 * Runs one measurement and keeps its rate for this slot, with the server's CPU use during it.
 * If other work shared the cores meanwhile, or an HTTP server was left idle (on this shared VM,
 * the load core sometimes stalls), it is made again once the machine is quiet: ATTEMPTS in all,
 * while the run's patience lasts. One still disturbed is left out of the results.
 */
async function record (run: Run, suite: Suite, server: Server, name: VariantName, what: string, slot: number, measure: () => Promise<Result>): Promise<void> {
  let best: { rate: number, cpu: number, other: number, disturbance: number } | undefined
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    if (attempt > 1) {
      // Retries wait for quiet first, and stop with the run's patience: the time stays bounded.
      if (patience.seconds <= 0) break
      await waitForQuiet(patience)
    }
    const before = { server: await server.usage(), cores: readCores() }
    const { rps: rate } = await measure()
    const after = { server: await server.usage(), cores: readCores() }
    const wall = after.server.wall - before.server.wall
    const cpu = (after.server.cpu - before.server.cpu) / wall
    const other = otherLoad(before.cores, after.cores, after.server.cpu - before.server.cpu, wall)
    console.error(`${Math.round(performance.now() / 1000).toString().padStart(4)} s  ${suite.name.padEnd(7)} slot ${slot + 1}  ${name.padEnd(20)} ${what.padEnd(16)} ${Math.round(rate).toString().padStart(7)}/s  server CPU ${percent(cpu)}  other load ${percent(other)}`)
    // Above 0: disturbed, by other work, or (HTTP only) by a load that left the server idle.
    const disturbance = Math.max((Number.isFinite(other) ? other : 0) - MAX_OTHER_LOAD, suite.mode === 'http' ? MIN_HTTP_SERVER_CPU - cpu : -1)
    if (best === undefined || disturbance < best.disturbance) best = { rate, cpu, other, disturbance }
    if (disturbance <= 0) break
  }
  if (best === undefined) return
  const series = { variant: name, case: what }
  // Still disturbed: left out, so that a slot's ratio compares two undisturbed runs, or none.
  if (best.disturbance > 0) {
    run.leftOut.push(series)
    return
  }
  store(run.samples, series, slot, best.rate)
  store(run.cpu, series, slot, best.cpu)
  run.other.push(best.other)
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
