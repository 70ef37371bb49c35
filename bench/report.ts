// The results as Markdown: printed, and written to bench/results.md.
import os from 'node:os'
import { coreVariantNames, type VariantName } from './servers'
import { pairedRatio, pairedRatios, median, spread, type Spread } from './stats'
import { pairKey, sectionPairs, sections, type Cell, type Section, type Series, type Target } from './suites'

export const paths = ['accepted', 'denied', 'wsOpen', 'wsRefused'] as const
export type Path = typeof paths[number]

const pathTitles: Record<Path, string> = {
  accepted: 'accepted req/s',
  denied: 'denied req/s',
  wsOpen: 'WS opened hs/s',
  wsRefused: 'WS refused hs/s'
}

/** Per variant and case, one value per slot (a hole where a slot did not measure it). */
export type Samples = Partial<Record<VariantName, Record<string, number[]>>>

export interface Memory {
  variant: VariantName
  first: number
  last: number
  firstCount: number
  lastCount: number
}

export interface Run {
  /** The command that made it, and what it measured. */
  command: string
  build: string
  rounds: number
  settings: string
  pinned: boolean
  samples: Samples
  /** The ratios of the pairs measured side by side (by `pairKey`), one per slot. */
  pairs: Record<string, number[]>
  /** Server CPU time / wall time during each measurement. */
  cpu: Samples
  /** The share of a core other work took during each measurement kept. */
  other: number[]
  /** Measurements left out: still disturbed when the run's patience ran out. */
  leftOut: Series[]
  memory: Memory[]
  seconds: number
}

/** A target, judged on a median (and shown with the range it came from). */
interface Judged {
  what: string
  measured: Spread
  unit: '×' | '%'
  min?: number
  max?: number
}

/** The values of one series (empty if it was never measured). */
export function series (samples: Samples, { variant, case: name }: Series): number[] {
  return samples[variant]?.[name] ?? []
}

export function store (samples: Samples, { variant, case: name }: Series, slot: number, value: number): void {
  const cases = samples[variant] ??= {}
  const values = cases[name] ??= []
  values[slot] = value
}

export function growth (memory: Memory): number {
  return memory.last / memory.first - 1
}

/** The core comparison's targets (the sections carry their own). */
export function coreTargets (): Target[] {
  const list: Target[] = []
  const ratio = (variant: VariantName, to: VariantName, path: Path): Target['ratio'] => [{ variant, case: path }, { variant: to, case: path }]
  const plugins: VariantName[] = ['plugin-requires', 'plugin-config']
  for (const plugin of plugins) {
    for (const path of ['accepted', 'denied'] as const) list.push({ what: `${plugin} ${path} ≥ 0.97× inline`, ratio: ratio(plugin, 'inline', path), min: 0.97 })
  }
  for (const plugin of plugins) list.push({ what: `${plugin} denied ≥ 2× @fastify/auth`, ratio: ratio(plugin, 'fastify-auth', 'denied'), min: 2 })
  for (const plugin of plugins) list.push({ what: `${plugin} refused WS handshakes ≥ 0.9× inline`, ratio: ratio(plugin, 'inline', 'wsRefused'), min: 0.9 })
  return list
}

/** A pair's slot-by-slot ratios: measured side by side, or those of the two series measured in turn. */
function ratios (run: Run, pair: [Series, Series]): number[] {
  return run.pairs[pairKey(pair)] ?? pairedRatios(series(run.samples, pair[0]), series(run.samples, pair[1]))
}

function judge (run: Run, target: Target): Judged {
  return { what: target.what, measured: spread(ratios(run, target.ratio)), unit: '×', min: target.min, max: target.max }
}

function memoryTargets (run: Run): Judged[] {
  return run.memory.map((memory) => ({
    what: `${memory.variant} heap after ${count(memory.lastCount)} requests within 10% of after ${count(memory.firstCount)}`,
    measured: spread([growth(memory)]),
    unit: '%',
    max: 0.1
  }))
}

function passes (target: Judged): boolean {
  return meets(target, target.measured.median)
}

/** Whether a measured value is within a target's bounds. */
export function meets ({ min, max }: { min?: number, max?: number }, value: number): boolean {
  return (min === undefined || value >= min) && (max === undefined || value <= max)
}

function allTargets (run: Run): Judged[] {
  return [...coreTargets().map((target) => judge(run, target)), ...memoryTargets(run), ...sections.flatMap((section) => section.targets.map((target) => judge(run, target)))]
}

export function failedTargets (run: Run): number {
  return allTargets(run).filter((target) => !passes(target)).length
}

function targetTable (targets: Judged[]): string {
  return table(['target', 'measured', 'result'], targets.map((target) => [
    target.what,
    target.unit === '%'
      ? `${(target.measured.median * 100).toFixed(1)}%`
      : formatSpread(target.measured, (ratio) => ratio.toFixed(3), '×'),
    passes(target) ? 'PASS' : 'FAIL'
  ]))
}

/** A median and its range: `63,124 (62,001–64,300)`, the unit after the median only. */
export function formatSpread ({ median, min, max }: Spread, format: (value: number) => string, unit = ''): string {
  return Number.isFinite(median) ? `${format(median)}${unit} (${format(min)}–${format(max)})` : '–'
}

function formatCell (run: Run, cell: Cell): string {
  if (typeof cell === 'string') return cell
  if ('ratio' in cell) return formatSpread(spread(ratios(run, cell.ratio)), (ratio) => ratio.toFixed(3))
  // Requests per second, or a startup's milliseconds and bytes.
  const values = spread(series(run.samples, cell.of))
  if (cell.of.case === 'startup') return formatSpread(values, count, ' ms')
  if (cell.of.case === 'heap') return formatSpread(values, (bytes) => (bytes / 2 ** 20).toFixed(1), ' MiB')
  return formatSpread(values, count)
}

/** The series a section shows or judges. */
function sectionSeries (section: Section): (series: Series) => boolean {
  const key = ({ variant, case: name }: Series): string => `${variant} ${name}`
  const measured = section.rows.flat().flatMap((cell) => typeof cell !== 'string' && 'of' in cell ? [cell.of] : [])
  const shown = new Set([...measured, ...sectionPairs(section).flat()].map(key))
  return (series) => shown.has(key(series))
}

/** How many measurements of these series were left out. */
function leftOut (run: Run, of: (series: Series) => boolean): number {
  return run.leftOut.filter(of).length
}

function renderSection (run: Run, section: Section): string[] {
  const sideBySide = sectionPairs(section).some((pair) => pairKey(pair) in run.pairs)
  return [
    `## ${section.title}`,
    '',
    ...section.text,
    `Medians (min–max) over the passes of the ${run.rounds} interleaved round(s) of \`${run.command}\`; ratios are taken pass by pass` +
      (sideBySide ? ', each between two servers loaded at the same time, sharing core 1; req/s is requests per second of the server\'s own CPU time, in the first pair it was in' : '') +
      `${leftOut(run, sectionSeries(section)) === 0 ? '' : `, leaving out the ${leftOut(run, sectionSeries(section))} run(s) still disturbed after 3 attempts`}.`,
    '',
    table(section.head, section.rows.map((row) => row.map((cell) => formatCell(run, cell)))),
    '',
    ...(section.targets.length === 0 ? [] : [targetTable(section.targets.map((target) => judge(run, target))), ''])
  ]
}

export function markdown (run: Run): string {
  const cpus = os.cpus()
  const lines = [
    '# fastify-authentication benchmark',
    '',
    `- Machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${os.type()} ${os.release()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    `- Node ${process.version}, ${['fastify', '@fastify/auth', '@fastify/bearer-auth', '@fastify/basic-auth', '@fastify/jwt', 'jose', 'fastify-guard', '@fastify/websocket', 'autocannon'].map((name) => `${name} ${version(name)}`).join(', ')}`,
    `- Date: ${new Date().toISOString()}; \`${run.command}\` (${run.settings}); took ${Math.round(run.seconds)} s; ${run.build}`,
    `- ${run.pinned ? 'Server pinned to core 1 (taskset -c 1), load (autocannon, ws clients) to core 0' : 'Not pinned: taskset is missing'}; servers listen on 127.0.0.1, one process per variant (side by side, per variant and case)`,
    '',
    '## Throughput',
    '',
    'Medians over the passes (every pass measures each variant once, in turn); `×inline` is the median of the pass-by-pass',
    'ratios to the hand-written inline check (the floor: read the header, look the token up in a Map, refuse with a JSON 403).',
    '`inline-twin` is the same server as `inline`, in a second process: its ratio is what noise alone gives.',
    '',
    table(
      ['variant', ...paths.flatMap((path) => [pathTitles[path], '×inline'])],
      coreVariantNames.map((name) => [
        name,
        ...paths.flatMap((path) => {
          const rates = series(run.samples, { variant: name, case: path })
          const values = rates.filter(Number.isFinite)
          if (values.length === 0) return ['–', '–']
          return [Math.round(median(values)).toLocaleString('en-US'), pairedRatio(rates, series(run.samples, { variant: 'inline', case: path })).toFixed(3)]
        })
      ])
    ),
    '',
    'Server CPU: the server process\'s CPU time over wall time during the runs, and that time per request (or handshake),',
    'medians. Near 100%, the server set the rate; well below, the load did, and the time per request is the fairer comparison.',
    `Other work on the two cores during the runs kept (in the whole run): median ${share(median(run.other))}, at most ${share(Math.max(...run.other))} of a core; ` +
      `${run.leftOut.length} of ${run.other.length + run.leftOut.length} runs left out, still disturbed after 3 attempts (each after waiting for quiet, while the run's patience lasted).`,
    '',
    table(['variant', ...paths.map((path) => pathTitles[path].replace(/ (req|hs)\/s$/, ''))], coreVariantNames.map((name) => [
      name,
      ...paths.map((path) => {
        const cpu = series(run.cpu, { variant: name, case: path })
        const rates = series(run.samples, { variant: name, case: path })
        const cost = cpu.map((share, pass) => share / rates[pass] * 1e6).filter(Number.isFinite)
        return cost.length === 0 ? '–' : `${share(median(cpu.filter(Number.isFinite)))} · ${median(cost).toFixed(1)} µs`
      })
    ])),
    '',
    '## Targets',
    '',
    targetTable([...coreTargets().map((target) => judge(run, target)), ...memoryTargets(run)]),
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
    '',
    ...sections.flatMap((section) => renderSection(run, section))
  ]
  return lines.join('\n')
}

export function table (head: string[], rows: string[][]): string {
  return [head, head.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n')
}

function share (value: number): string {
  return Number.isFinite(value) ? `${Math.round(value * 100)}%` : '?'
}

function mb (bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(2)} MiB`
}

export function count (n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

function version (name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version
  } catch {
    return '?'
  }
}
