// The results as Markdown: printed, and written to bench/results.md.
import os from 'node:os'
import { pairedRatio, median } from './stats'
import { variantNames, type VariantName } from './servers'

export const paths = ['accepted', 'denied', 'wsOpen', 'wsRefused'] as const
export type Path = typeof paths[number]

const pathTitles: Record<Path, string> = {
  accepted: 'accepted req/s',
  denied: 'denied req/s',
  wsOpen: 'WS opened hs/s',
  wsRefused: 'WS refused hs/s'
}

/** Requests (or handshakes) per second, one entry per pass (empty where a pass did not measure it). */
export type Samples = Record<VariantName, Record<Path, number[]>>

export interface Memory {
  variant: VariantName
  first: number
  last: number
  firstCount: number
  lastCount: number
}

export interface Run {
  mode: string
  settings: string
  pinned: boolean
  samples: Samples
  /** Server CPU time / wall time during each measurement. */
  cpu: Samples
  /** The share of a core other work took during each measurement kept. */
  other: number[]
  /** Measurements kept although disturbed (the run's patience ran out). */
  disturbed: number
  memory: Memory[]
  seconds: number
}

interface Target {
  what: string
  measured: number
  min: number
  unit: string
}

export function emptySamples (): Samples {
  return Object.fromEntries(variantNames.map((name) => [name, Object.fromEntries(paths.map((path) => [path, []]))])) as unknown as Samples
}

export function growth (memory: Memory): number {
  return memory.last / memory.first - 1
}

function targets (run: Run): Target[] {
  const { samples } = run
  const list: Target[] = []
  const plugins: VariantName[] = ['plugin-requires', 'plugin-config']
  for (const plugin of plugins) {
    for (const path of ['accepted', 'denied'] as const) {
      list.push({ what: `${plugin} ${path} ≥ 0.97× inline`, measured: pairedRatio(samples[plugin][path], samples.inline[path]), min: 0.97, unit: '×' })
    }
  }
  for (const plugin of plugins) {
    list.push({ what: `${plugin} denied ≥ 2× @fastify/auth`, measured: pairedRatio(samples[plugin].denied, samples['fastify-auth'].denied), min: 2, unit: '×' })
  }
  for (const plugin of plugins) {
    list.push({ what: `${plugin} refused WS handshakes ≥ 0.9× inline`, measured: pairedRatio(samples[plugin].wsRefused, samples.inline.wsRefused), min: 0.9, unit: '×' })
  }
  for (const memory of run.memory) {
    // Growth is compared the other way round: at most +10 %.
    list.push({ what: `${memory.variant} heap after ${count(memory.lastCount)} requests within 10% of after ${count(memory.firstCount)}`, measured: -growth(memory), min: -0.1, unit: '%' })
  }
  return list
}

export function failedTargets (run: Run): number {
  return targets(run).filter((target) => !(target.measured >= target.min)).length
}

export function markdown (run: Run): string {
  const cpus = os.cpus()
  const lines = [
    '# fastify-authentication benchmark',
    '',
    `- Machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${os.type()} ${os.release()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    `- Node ${process.version}, fastify ${version('fastify')}, @fastify/auth ${version('@fastify/auth')}, @fastify/bearer-auth ${version('@fastify/bearer-auth')}, fastify-guard ${version('fastify-guard')}, @fastify/websocket ${version('@fastify/websocket')}, autocannon ${version('autocannon')}`,
    `- Date: ${new Date().toISOString()}; mode: ${run.mode} (${run.settings}); took ${Math.round(run.seconds)} s`,
    `- ${run.pinned ? 'Server pinned to core 1 (taskset -c 1), load (autocannon, ws clients) to core 0' : 'Not pinned: taskset is missing'}; servers listen on 127.0.0.1, one process per variant`,
    '',
    '## Throughput',
    '',
    'Medians over the passes (every pass measures each variant once, in turn); `×inline` is the median of the pass-by-pass',
    'ratios to the hand-written inline check (the floor: read the header, look the token up in a Map, refuse with a JSON 403).',
    '',
    table(
      ['variant', ...paths.flatMap((path) => [pathTitles[path], '×inline'])],
      variantNames.map((name) => [
        name,
        ...paths.flatMap((path) => {
          const values = run.samples[name][path].filter(Number.isFinite)
          if (values.length === 0) return ['–', '–']
          return [Math.round(median(values)).toLocaleString('en-US'), pairedRatio(run.samples[name][path], run.samples.inline[path]).toFixed(3)]
        })
      ])
    ),
    '',
    'Server CPU: the server process\'s CPU time over wall time during the runs, and that time per request (or handshake),',
    'medians. Near 100%, the server set the rate; well below, the load did, and the time per request is the fairer comparison.',
    `Other work on the two cores during the runs kept: median ${share(median(run.other))}, at most ${share(Math.max(...run.other))} of a core; ` +
      `${run.disturbed} of ${run.other.length} runs kept although disturbed (re-run up to 3 times, after waiting for quiet, while the run's patience lasts).`,
    '',
    table(['variant', ...paths.map((path) => pathTitles[path].replace(/ (req|hs)\/s$/, ''))], variantNames.map((name) => [
      name,
      ...paths.map((path) => {
        const cpu = run.cpu[name][path]
        const cost = cpu.map((share, pass) => share / run.samples[name][path][pass] * 1e6).filter(Number.isFinite)
        return cost.length === 0 ? '–' : `${share(median(cpu.filter(Number.isFinite)))} · ${median(cost).toFixed(1)} µs`
      })
    ])),
    '',
    '## Targets',
    '',
    table(['target', 'measured', 'result'], targets(run).map((target) => [
      target.what,
      target.unit === '%' ? `${(-target.measured * 100).toFixed(1)}%` : `${target.measured.toFixed(3)}×`,
      target.measured >= target.min ? 'PASS' : 'FAIL'
    ])),
    '',
    '## Memory',
    '',
    'Mixed users (accepted, denied, unknown and missing tokens, cycling through thousands of tokens); heap used after a forced GC, inside the server process.',
    '',
    table(['variant', 'heap after first', 'heap after last', 'growth'], run.memory.map((memory) => [
      memory.variant,
      `${mb(memory.first)} (${count(memory.firstCount)} requests)`,
      `${mb(memory.last)} (${count(memory.lastCount)} requests)`,
      `${(growth(memory) * 100).toFixed(1)}%`
    ])),
    ''
  ]
  return lines.join('\n')
}

function table (head: string[], rows: string[][]): string {
  return [head, head.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n')
}

function share (value: number): string {
  return Number.isFinite(value) ? `${Math.round(value * 100)}%` : '?'
}

function mb (bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(2)} MiB`
}

function count (n: number): string {
  return n.toLocaleString('en-US')
}

function version (name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version
  } catch {
    return '?'
  }
}
