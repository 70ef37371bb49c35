// `npm run bench -- --profile [backends | scale]`: the servers under `node --cpu-prof`, and where
// their CPU time goes, counted over the load only (not the start-up), in µs per request: by
// package, by function, and for the plugin, against the hand-written check on the same case.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { startServer } from './child'
import type { VariantName } from './servers'
import type { Suite, SuiteName } from './suites'

/** One profile: `variant` under the load of its suite's `case`, compared with `against`'s profile of the same case. */
interface Plan {
  suite: SuiteName
  variant: VariantName
  case: string
  against?: VariantName
}

function compared (suite: SuiteName, name: string, inline: VariantName, ...others: VariantName[]): Plan[] {
  return [{ suite, variant: inline, case: name }, ...others.map((variant) => ({ suite, variant, case: name, against: inline }))]
}

export const profiles = {
  core: [
    ...compared('core', 'accepted', 'inline', 'plugin-requires', 'plugin-config'),
    ...compared('core', 'denied', 'inline', 'plugin-requires', 'plugin-config', 'fastify-auth'),
    ...compared('ws', 'wsRefused', 'inline', 'plugin-requires', 'plugin-config')
  ],
  backends: (['bearer', 'basic', 'jwt'] as const).flatMap((backend) => (backend === 'jwt' ? ['reused', 'fresh', 'denied'] : ['accepted', 'denied'])
    .flatMap((name) => compared(backend, name, `${backend}-inline`, `${backend}-plugin`, `${backend}-peer`))),
  scale: [
    ...compared('scopes', '10000 all present', 'scopes-inline', 'scopes-plugin'),
    ...compared('scopes', '10000 any absent', 'scopes-inline', 'scopes-plugin'),
    ...compared('routes', 'accepted', 'routes-inline-10000', 'routes-plugin-10000'),
    ...compared('timeout', 'accepted', 'async-inline', 'async-plugin', 'async-plugin-timeout')
  ]
} satisfies Record<string, Plan[]>

export type ProfileName = keyof typeof profiles

const INTERVAL = 100
const TOP = 20

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
interface CpuProfile { nodes: ProfileNode[], startTime: number, samples: number[], timeDeltas: number[] }

/** Samples between two clock readings, by function (self), by package, and lib/'s inclusive. */
interface Analysis {
  requests: number
  busy: number
  self: Map<string, number>
  packages: Map<string, number>
  inclusive: Map<string, number>
}

export async function profile (dir: string, seconds: number, plans: readonly Plan[], suites: readonly Suite[]): Promise<void> {
  mkdirSync(dir, { recursive: true })
  const sections: string[] = []
  const analyses = new Map<string, Analysis>()
  const nameOf = (variant: VariantName, name: string): string => `${variant}-${name.replaceAll(' ', '-')}`
  for (const plan of plans) {
    const suite = suites.find(({ name }) => name === plan.suite) as Suite
    const load = suite.cases.find(({ name }) => name === plan.case)
    if (load === undefined) throw new Error(`the ${plan.suite} suite has no case ${plan.case}`)
    const name = nameOf(plan.variant, plan.case)
    const server = await startServer(plan.variant, suite.mode, {
      nodeFlags: ['--cpu-prof', `--cpu-prof-interval=${INTERVAL}`, `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}.cpuprofile`]
    })
    await load.run(server, plan.variant, undefined, suite.mode === 'http' ? 20_000 : 1000)
    const from = (await server.usage()).clock
    const { rps, total } = await load.run(server, plan.variant, seconds)
    const to = (await server.usage()).clock
    await server.exit()
    const analysis = analyse(path.join(dir, `${name}.cpuprofile`), from, to, total)
    analyses.set(name, analysis)
    const baseline = plan.against === undefined ? undefined : analyses.get(nameOf(plan.against, plan.case))
    const section = `### ${name}: ${Math.round(rps)}/s under the profiler\n\n${render(analysis, baseline)}`
    console.log(section + '\n')
    sections.push(section)
  }
  writeFileSync(path.join(dir, 'summary.md'), `# CPU profiles: server CPU time per request during the load (µs), ${INTERVAL} µs samples\n\n${sections.join('\n\n')}\n`)
  console.log(`profiles and summary.md in ${path.relative(process.cwd(), dir)}`)
}

function analyse (file: string, from: number, to: number, requests: number): Analysis {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

  const analysis: Analysis = { requests, busy: 0, self: new Map(), packages: new Map(), inclusive: new Map() }
  let time = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    time += profile.timeDeltas[i]
    if (time < from || time > to) continue
    const node = byId.get(profile.samples[i]) as ProfileNode
    if (node.callFrame.functionName === '(idle)') continue
    analysis.busy++
    add(analysis.self, key(node.callFrame))
    add(analysis.packages, packageOf(node.callFrame))
    // Inclusive time, for lib/'s functions only: each function once per sample, however deep.
    const seen = new Set<string>()
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = (byId.get(id) as ProfileNode).callFrame
      if (packageOf(frame) === 'lib/') seen.add(key(frame))
    }
    for (const name of seen) add(analysis.inclusive, name)
  }
  return analysis
}

function render (analysis: Analysis, baseline: Analysis | undefined): string {
  const us = (a: Analysis, samples: number): number => samples * INTERVAL / a.requests
  const format = (value: number): string => value.toFixed(3).padStart(7)
  const sorted = (map: Map<string, number>): Array<[string, number]> => [...map].sort((a, b) => b[1] - a[1])
  const lines = [
    `${analysis.busy} busy samples, ${analysis.requests} requests: ${us(analysis, analysis.busy).toFixed(2)} µs per request. By package (µs per request):`,
    sorted(analysis.packages).filter(([, n]) => us(analysis, n) >= 0.01).map(([name, n]) => `${name || '(native)'} ${us(analysis, n).toFixed(2)}`).join(', '),
    '',
    '```',
    `top ${TOP} functions by self time (µs per request):`,
    ...sorted(analysis.self).slice(0, TOP).map(([name, n]) => `${format(us(analysis, n))}  ${name}`),
    '',
    'JavaScript outside Node.js itself, self time (µs per request):',
    ...sorted(analysis.self).filter(([name]) => /(fastify|find-my-way|lib\/|bench\/)/.test(name)).slice(0, TOP)
      .map(([name, n]) => `${format(us(analysis, n))}  ${name}`),
    '',
    'lib/ functions, self / inclusive time (µs per request; inclusive counts what they call, reply.send included):',
    ...sorted(analysis.inclusive).map(([name, n]) => `${format(us(analysis, analysis.self.get(name) ?? 0))} / ${format(us(analysis, n))}  ${name}`),
    '```'
  ]
  if (baseline !== undefined) {
    const delta = (a: Map<string, number>, b: Map<string, number>): Array<[string, number]> => [...new Set([...a.keys(), ...b.keys()])]
      .map((name): [string, number] => [name, us(analysis, a.get(name) ?? 0) - us(baseline, b.get(name) ?? 0)])
      .sort((x, y) => y[1] - x[1])
    lines.push(
      '',
      `Against the inline check on the same path: ${(us(analysis, analysis.busy) - us(baseline, baseline.busy)).toFixed(2)} µs per request more. By package:`,
      delta(analysis.packages, baseline.packages).filter(([, d]) => Math.abs(d) >= 0.02).map(([name, d]) => `${name || '(native)'} ${d >= 0 ? '+' : ''}${d.toFixed(2)}`).join(', '),
      '',
      '```',
      'functions with the most extra self time (µs per request):',
      ...delta(analysis.self, baseline.self).slice(0, 15).map(([name, d]) => `${format(d)}  ${name}`),
      '```'
    )
  }
  return lines.join('\n')
}

function add (map: Map<string, number>, name: string): void {
  map.set(name, (map.get(name) ?? 0) + 1)
}

function key (frame: CallFrame): string {
  const where = shortUrl(frame.url)
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName}${where === '' ? '' : ` ${where}:${frame.lineNumber + 1}`}`
}

function shortUrl (url: string): string {
  const modules = url.lastIndexOf('/node_modules/')
  if (modules !== -1) return url.slice(modules + '/node_modules/'.length)
  const dist = url.indexOf('/dist/')
  return dist === -1 ? url : url.slice(dist + '/dist/'.length)
}

function packageOf (frame: CallFrame): string {
  const { url } = frame
  if (url === '') return /^\(.*\)$/.test(frame.functionName) ? frame.functionName : '(native)'
  if (url.includes('/dist/lib/')) return 'lib/'
  if (url.includes('/dist/bench/')) return 'bench/'
  const modules = url.lastIndexOf('/node_modules/')
  if (modules !== -1) {
    const parts = url.slice(modules + '/node_modules/'.length).split('/')
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]
  }
  return url.startsWith('node:') ? 'node:internal' : 'other'
}
