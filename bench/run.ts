// `npm run bench [-- <group>…]`: the plugin against the same job written by hand and against its
// peers, and at scale, printed as one table (docs/performance.md). Groups: core, bearer, basic,
// jwt, scopes, routes, startup. BENCH_SECONDS (default 2) is the length of one measurement and
// BENCH_ROUNDS (default 2) the number of rounds: `BENCH_SECONDS=0.5 BENCH_ROUNDS=1` while developing.
//
// Each row compares two servers side by side: both pinned to core 1 and loaded at once from this
// process on core 0, each rate being requests per second of that server's own CPU time. On a
// shared machine a slow spell then slows both alike, and the ratio is taken within the pair. Each
// round starts fresh servers (no pair keeps one lucky or unlucky JIT), warms them, and measures
// them twice, each load starting first once.
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import { GUARD, HELD, ROUTES, routePaths, SCOPE_TOKENS, type AppName } from './apps'
import { ACCEPTED_TOKEN, BASIC_PASSWORD, BASIC_USER, basicCredentials, bearer, DENIED_TOKEN, FOREIGN_JWT_SECRET, jwtTokens } from './fixtures'
import { cycle, load, pinned, startServer, type Cycle } from './load'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const PASSES = 2
const WARMUP = 10_000
/** More JWTs than the jwt backend's cache keeps (10,000): cycling through them, every request misses it. */
const FRESH_TOKENS = 30_000

interface Target {
  /** The plugin's rate ÷ the other's must be at least `min`, or its startup time ÷ the other's at most `max`. */
  min?: number
  max?: number
}

interface Row {
  group: string
  job: string
  plugin: AppName
  other: AppName
  versus: string
  traffic: string
  /** A cycle of requests for one server: each server goes through it on its own. */
  requests?: () => Cycle
  warmup?: number
  target?: Target
  /** Rates (or startup ms) of each pass, and the ratios. */
  rates: [number[], number[]]
  ratios: number[]
}

const one = (path: string, authorization: string, expect: number): () => Cycle => () => cycle([{ path, authorization }], [expect])
let freshTokens: string[] = []
let foreignToken = ''

function row (group: string, job: string, plugin: AppName, other: AppName, versus: string, traffic: string, requests?: () => Cycle, target?: Target, warmup?: number): Row {
  return { group, job, plugin, other, versus, traffic, requests, target, warmup, rates: [[], []], ratios: [] }
}

/** The 22.1 targets: the core job, 10,000 scopes held and 10,000 routes, at least 0.95× the inline check. */
const PAR = { min: 0.95 }

function rows (): Row[] {
  const accepted = one('/hello', bearer(ACCEPTED_TOKEN), 200)
  const denied = one('/hello', bearer(DENIED_TOKEN), 403)
  const core = (plugin: AppName, job: string, other: AppName, versus: string, target: [Target?, Target?]): Row[] =>
    [row('core', job, plugin, other, versus, 'accepted', accepted, target[0]), row('core', job, plugin, other, versus, 'denied', denied, target[1])]
  const bearerToken = one('/hello', bearer(ACCEPTED_TOKEN), 200)
  const unknownToken = one('/hello', bearer('token-unknown'), 401)
  const password = one('/hello', basicCredentials(BASIC_USER, BASIC_PASSWORD), 200)
  const wrongPassword = one('/hello', basicCredentials(BASIC_USER, 'wrong password'), 401)
  const reused = (): Cycle => one('/hello', bearer(freshTokens[0]), 200)()
  const fresh = (): Cycle => cycle(freshTokens.map((token) => ({ path: '/hello', authorization: bearer(token) })), [200])
  const foreign = (): Cycle => one('/hello', bearer(foreignToken), 401)()
  const everyRoute = (token: string, expect: number) => () => cycle(routePaths.map((path) => ({ path, authorization: bearer(token) })), [expect])
  // Each route answered 3 times before measuring, as the routes of a small app would have been.
  const routesWarmup = 3 * ROUTES
  const held = `a caller holding ${HELD.toLocaleString('en-US')} scopes, ${GUARD.length} needed`
  const routes = `${ROUTES.toLocaleString('en-US')} routes, one scope each`
  const startup = `startup, ${ROUTES.toLocaleString('en-US')} routes`
  return [
    ...core('plugin-config', 'core job, `config.requires`', 'inline', 'inline check', [PAR, PAR]),
    ...core('plugin-requires', 'core job, `requires()`', 'inline', 'inline check', [PAR, PAR]),
    ...core('plugin-config', 'core job, `config.requires`', 'fastify-auth', '@fastify/auth', [undefined, { min: 2 }]),
    ...core('plugin-config', 'core job, `config.requires`', 'fastify-guard', 'fastify-guard', [undefined, undefined]),
    row('bearer', '`bearer()`', 'bearer-plugin', 'bearer-inline', 'inline check', 'accepted', bearerToken),
    row('bearer', '`bearer()`', 'bearer-plugin', 'bearer-inline', 'inline check', 'denied', unknownToken),
    row('bearer', '`bearer()`', 'bearer-plugin', 'bearer-peer', '@fastify/bearer-auth', 'accepted', bearerToken, { min: 0.97 }),
    row('bearer', '`bearer()`', 'bearer-plugin', 'bearer-peer', '@fastify/bearer-auth', 'denied', unknownToken, { min: 1.1 }),
    row('basic', '`basic()`', 'basic-plugin', 'basic-inline', 'inline check', 'accepted', password),
    row('basic', '`basic()`', 'basic-plugin', 'basic-inline', 'inline check', 'denied', wrongPassword),
    row('basic', '`basic()`', 'basic-plugin', 'basic-peer', '@fastify/basic-auth', 'accepted', password, { min: 0.97 }),
    row('basic', '`basic()`', 'basic-plugin', 'basic-peer', '@fastify/basic-auth', 'denied', wrongPassword, { min: 1.1 }),
    row('jwt', '`jwt()`', 'jwt-plugin', 'jwt-inline', 'inline `jwtVerify`', 'one token reused', reused),
    row('jwt', '`jwt()`', 'jwt-plugin', 'jwt-inline', 'inline `jwtVerify`', 'a fresh token each request', fresh),
    row('jwt', '`jwt()`', 'jwt-plugin', 'jwt-peer', '@fastify/jwt', 'one token reused', reused, { min: 1.5 }),
    row('jwt', '`jwt()`', 'jwt-plugin', 'jwt-peer', '@fastify/jwt', 'a fresh token each request', fresh, { min: 0.97 }),
    row('jwt', '`jwt()`', 'jwt-plugin', 'jwt-peer', '@fastify/jwt', 'denied (another secret)', foreign, { min: 1.1 }),
    row('scopes', held, 'scopes-plugin', 'scopes-inline', 'inline check (a Set)', 'accepted', one('/hello', bearer(SCOPE_TOKENS.accepted), 200), PAR),
    row('scopes', held, 'scopes-plugin', 'scopes-inline', 'inline check (a Set)', 'denied', one('/hello', bearer(SCOPE_TOKENS.denied), 403), PAR),
    row('routes', routes, 'routes-plugin', 'routes-inline', 'inline check per route', 'accepted', everyRoute(ACCEPTED_TOKEN, 200), PAR, routesWarmup),
    row('routes', routes, 'routes-plugin', 'routes-inline', 'inline check per route', 'denied', everyRoute(DENIED_TOKEN, 403), PAR, routesWarmup),
    row('startup', startup, 'routes-plugin', 'routes-bare', 'no auth', 'CPU ms to listen', undefined, { max: 1.5 }),
    row('startup', startup, 'routes-plugin', 'routes-inline', 'inline check per route', 'CPU ms to listen')
  ]
}

/** Startup milliseconds of each app started this round. */
const startups = new Map<AppName, number>()

/**
 * One round of the rows of one pair of apps: fresh servers (started alone, in turn: their startup
 * times are kept), then for each row, both warmed on its traffic and measured PASSES times side by side.
 */
async function measure (pairRows: Row[], round: number): Promise<void> {
  const names = [pairRows[0].plugin, pairRows[0].other]
  const servers = []
  for (const i of round % 2 === 0 ? [0, 1] : [1, 0]) {
    servers[i] = await startServer(names[i])
    startups.set(names[i], servers[i].startupMs)
  }
  try {
    for (const row of pairRows) {
      const cycles = servers.map(() => (row.requests as () => Cycle)())
      await Promise.all(servers.map(async (server, i) => await load(server.url, cycles[i], { amount: row.warmup ?? WARMUP })))
      for (let pass = 0; pass < PASSES; pass++) {
        const before = await Promise.all(servers.map(async (server) => await server.cpu()))
        const started = performance.now()
        // The load started first has its connections served first: each starts first once.
        const running: Array<Promise<number>> = []
        for (const i of pass % 2 === 0 ? [0, 1] : [1, 0]) running[i] = load(servers[i].url, cycles[i], { seconds: SECONDS })
        const answered = await Promise.all(running)
        const wall = (performance.now() - started) / 1000
        const cpu = (await Promise.all(servers.map(async (server) => await server.cpu()))).map((after, i) => after - before[i])
        const rates = answered.map((count, i) => count / cpu[i])
        rates.forEach((rate, i) => row.rates[i].push(rate))
        row.ratios.push(rates[0] / rates[1])
        log(`${names[0]} ${Math.round(rates[0])}/s, ${names[1]} ${Math.round(rates[1])}/s, ${row.traffic}: ×${(rates[0] / rates[1]).toFixed(3)}` +
          ` (server core busy ${Math.round((cpu[0] + cpu[1]) / wall * 100)}%)`)
      }
    }
  } finally {
    for (const server of servers) await server.exit()
  }
}

/** The startup rows of a round: each app not yet started this round started alone, then each row's ratio. */
async function measureStartups (startupRows: Row[]): Promise<void> {
  for (const name of new Set(startupRows.flatMap(({ plugin, other }) => [plugin, other]))) {
    if (startups.has(name)) continue
    const server = await startServer(name)
    startups.set(name, server.startupMs)
    await server.exit()
  }
  for (const row of startupRows) {
    const [plugin, other] = [startups.get(row.plugin) as number, startups.get(row.other) as number]
    row.rates[0].push(plugin)
    row.rates[1].push(other)
    row.ratios.push(plugin / other)
  }
  log(`startup: ${[...startups].map(([name, ms]) => `${name} ${Math.round(ms)} ms`).join(', ')}`)
}

function median (values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

function verdict ({ target, ratios }: Row): [string, string] {
  if (target === undefined) return ['–', '']
  const ratio = median(ratios)
  if (target.min !== undefined) return [`≥ ${target.min}×`, ratio >= target.min ? 'pass' : '**FAIL**']
  return [`≤ ${target.max}×`, ratio <= (target.max as number) ? 'pass' : '**FAIL**']
}

function table (measured: Row[]): string {
  const number = (value: number): string => Math.round(value).toLocaleString('en-US')
  const lines = [
    '| job | against | traffic | plugin | theirs | plugin × theirs (min–max) | target | result |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |'
  ]
  for (const row of measured) {
    const unit = row.group === 'startup' ? ' ms' : '/s'
    const ratios = `${median(row.ratios).toFixed(3)} (${Math.min(...row.ratios).toFixed(3)}–${Math.max(...row.ratios).toFixed(3)})`
    const [target, result] = verdict(row)
    lines.push(`| ${row.job} | ${row.versus} | ${row.traffic} | ${number(median(row.rates[0]))}${unit} | ${number(median(row.rates[1]))}${unit} | ${ratios} | ${target} | ${result} |`)
  }
  return lines.join('\n')
}

const began = performance.now()
function log (text: string): void {
  console.error(`${Math.round((performance.now() - began) / 1000).toString().padStart(4)} s  ${text}`)
}

async function main (): Promise<void> {
  const groups = process.argv.slice(2)
  const selected = rows().filter((row) => groups.length === 0 || groups.includes(row.group))
  if (selected.length === 0) throw new Error(`no rows: groups are ${[...new Set(rows().map(({ group }) => group))].join(', ')}`)
  if (pinned) execFileSync('/usr/bin/taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' })
  if (selected.some(({ group }) => group === 'jwt')) {
    freshTokens = await jwtTokens(FRESH_TOKENS)
    foreignToken = (await jwtTokens(1, FOREIGN_JWT_SECRET))[0]
  }
  const loaded = selected.filter(({ group }) => group !== 'startup')
  const startupRows = selected.filter(({ group }) => group === 'startup')
  const pairs = new Map<string, Row[]>()
  for (const row of loaded) pairs.set(`${row.plugin} ${row.other}`, [...pairs.get(`${row.plugin} ${row.other}`) ?? [], row])
  log(`${loaded.length} rows of ${pairs.size} pairs, ${ROUNDS} round(s), ${PASSES} passes of ${SECONDS} s each`)
  for (let round = 0; round < ROUNDS; round++) {
    startups.clear()
    for (const pairRows of pairs.values()) await measure(pairRows, round)
    if (startupRows.length > 0) await measureStartups(startupRows)
  }
  const minutes = ((performance.now() - began) / 60_000).toFixed(1)
  console.log(`\n${table(selected)}\n`)
  console.log(`Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}${pinned ? ', servers on core 1, load on core 0' : ', not pinned (no taskset)'};` +
    ` ${ROUNDS} round(s) × ${PASSES} passes of ${SECONDS} s; took ${minutes} min`)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
