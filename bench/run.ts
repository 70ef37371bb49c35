// `npm run bench [-- --quick | --profile | --ws-package]`: every variant in its own server
// process, pinned to core 1, loaded from this process, pinned to core 0.
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
import { profile } from './profile'
import { emptySamples, failedTargets, markdown, type Memory, type Path, type Run } from './report'
import { variantNames, variants, type Variant, type VariantName } from './servers'
import { ACCEPTED_TOKEN, bearer, DENIED_TOKEN, USER_COUNT, userToken } from './tokens'
import { runHandshakes, type HandshakeClient } from './websocket'

interface Settings {
  rounds: number
  /** A B C … passes per round. */
  passes: number
  /** Seconds per HTTP measurement, and per handshake measurement. */
  httpSeconds: number
  wsSeconds: number
  /** Requests, and handshakes, each fresh server gets before it is measured. */
  warmup: number
  wsWarmup: number
  /** The memory run: heap after `first` requests, then after `total`. */
  memoryFirst: number
  memoryTotal: number
  memoryVariants: VariantName[]
  /** Seconds the whole run may spend waiting for other work to finish. */
  patience: number
}

const FULL: Settings = {
  rounds: 5,
  passes: 2,
  httpSeconds: 2,
  wsSeconds: 1.5,
  warmup: 10_000,
  wsWarmup: 1000,
  memoryFirst: 10_000,
  memoryTotal: 100_000,
  memoryVariants: ['plugin-requires', 'plugin-config'],
  patience: 60
}

const QUICK: Settings = {
  rounds: 1,
  passes: 2,
  httpSeconds: 0.7,
  wsSeconds: 0.5,
  warmup: 10_000,
  wsWarmup: 1000,
  memoryFirst: 10_000,
  memoryTotal: 100_000,
  memoryVariants: ['plugin-requires'],
  patience: 5
}

const WS_CONCURRENCY = 50
/** No handshake loop goes past this many, whatever the duration. */
const WS_LIMIT = 100_000
/** A measurement during which other work took more than this share of a core is made again… */
const MAX_OTHER_LOAD = 0.1
/** …and so is an HTTP measurement that left the server this idle (the load stalled)… */
const MIN_HTTP_SERVER_CPU = 0.9
/** …up to this many times in all (after waiting for quiet, within the run's patience); the least disturbed is kept. */
const ATTEMPTS = 3
const BENCH_DIR = path.resolve(__dirname, '..', '..', 'bench')

const patience = { seconds: 0 }

const headers = {
  accepted: { authorization: bearer(ACCEPTED_TOKEN) },
  denied: { authorization: bearer(DENIED_TOKEN) }
}

async function main (): Promise<void> {
  const args = process.argv.slice(2)
  if (pinned()) {
    // This process (autocannon, WebSocket clients) on core 0; the servers get core 1 (child.ts).
    execFileSync(TASKSET, ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' })
  }
  // Copies the build the servers will run, now (see child.ts).
  serverScript()
  if (args.includes('--profile')) {
    await profile(path.join(BENCH_DIR, 'profiles'), args.includes('--quick') ? 2 : 5)
    return
  }
  const quick = args.includes('--quick')
  const settings = quick ? QUICK : FULL
  const client: HandshakeClient = args.includes('--ws-package') ? 'ws' : 'raw'
  const started = performance.now()
  patience.seconds = settings.patience
  const run: Run = {
    mode: quick ? 'quick' : 'full',
    settings: `${settings.rounds} round(s) of ${settings.passes} passes; ${settings.httpSeconds} s per HTTP run with ${CONNECTIONS} connections, ` +
      `${settings.wsSeconds} s per handshake run with ${WS_CONCURRENCY} concurrent ${client === 'ws' ? 'ws package' : 'raw TCP'} clients`,
    pinned: pinned(),
    samples: emptySamples(),
    cpu: emptySamples(),
    other: [],
    disturbed: 0,
    memory: [],
    seconds: 0
  }

  await waitForQuiet(patience)
  for (let round = 0; round < settings.rounds; round++) {
    await inRound(run, round, settings, 'http', variantNames, async (server, kind, duration, amount) => {
      const expect = kind === 'accepted' ? [200] : [401, 403]
      return (await runHttp({ url: server.url + '/hello', requests: [{ headers: headers[kind] }], expect, duration, amount })).rps
    })
    const websocket = variantNames.filter((name) => (variants[name] as Variant).websocket)
    await inRound(run, round, settings, 'ws', websocket, async (server, kind, duration, amount) => {
      const load = { url: server.url + '/ws', headers: headers[kind], concurrency: WS_CONCURRENCY, client }
      return (await runHandshakes({ ...load, expect: kind === 'accepted' ? 101 : 403, duration: duration ?? 60, limit: amount ?? WS_LIMIT })).rps
    })
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

type Kind = 'accepted' | 'denied'
/** Runs one load against a server for `duration` seconds, or for `amount` requests; the rate. */
type Load = (server: Server, kind: Kind, duration?: number, amount?: number) => Promise<number>

/** One round of one mode: fresh servers, warmed, then `passes` A B C … passes over each path. */
async function inRound (run: Run, round: number, settings: Settings, mode: 'http' | 'ws', names: VariantName[], load: Load): Promise<void> {
  const servers = new Map<VariantName, Server>()
  try {
    for (const name of names) servers.set(name, await startServer(name, mode))
    const kinds = (name: VariantName): Kind[] => (variants[name] as Variant).denies ? ['accepted', 'denied'] : ['accepted']
    for (const [name, server] of servers) {
      for (const kind of kinds(name)) await load(server, kind, undefined, mode === 'http' ? settings.warmup : settings.wsWarmup)
    }
    for (let pass = 0; pass < settings.passes; pass++) {
      const slot = round * settings.passes + pass
      // Forwards, then backwards: no variant always runs first, or right after the same neighbour.
      const order = slot % 2 === 0 ? names : [...names].reverse()
      for (const kind of ['accepted', 'denied'] as const) {
        const path: Path = mode === 'http' ? kind : kind === 'accepted' ? 'wsOpen' : 'wsRefused'
        for (const name of order) {
          if (!kinds(name).includes(kind)) continue
          const server = servers.get(name) as Server
          await record(run, server, name, path, slot, () => load(server, kind, mode === 'http' ? settings.httpSeconds : settings.wsSeconds))
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
 * the least disturbed kept.
 */
async function record (run: Run, server: Server, name: VariantName, what: Path, slot: number, measure: () => Promise<number>): Promise<void> {
  let best: { rate: number, cpu: number, other: number, disturbance: number } | undefined
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    if (attempt > 1) {
      // Retries wait for quiet first, and stop with the run's patience: the time stays bounded.
      if (patience.seconds <= 0) break
      await waitForQuiet(patience)
    }
    const before = { server: await server.usage(), cores: readCores() }
    const rate = await measure()
    const after = { server: await server.usage(), cores: readCores() }
    const wall = after.server.wall - before.server.wall
    const cpu = (after.server.cpu - before.server.cpu) / wall
    const other = otherLoad(before.cores, after.cores, after.server.cpu - before.server.cpu, wall)
    console.error(`slot ${slot + 1}  ${name.padEnd(16)} ${what.padEnd(10)} ${Math.round(rate).toString().padStart(7)}/s  server CPU ${percent(cpu)}  other load ${percent(other)}`)
    // Above 0: disturbed, by other work, or (HTTP only) by a load that left the server idle.
    const http = what === 'accepted' || what === 'denied'
    const disturbance = Math.max((Number.isFinite(other) ? other : 0) - MAX_OTHER_LOAD, http ? MIN_HTTP_SERVER_CPU - cpu : -1)
    if (best === undefined || disturbance < best.disturbance) best = { rate, cpu, other, disturbance }
    if (disturbance <= 0) break
  }
  if (best === undefined) return
  run.samples[name][what][slot] = best.rate
  run.cpu[name][what][slot] = best.cpu
  run.other.push(best.other)
  if (best.disturbance > 0) run.disturbed++
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
