// `npm run bench -- --profile`: the servers under `node --cpu-prof`, and where their CPU time goes,
// counted over the load only (not the start-up), in µs per request: by package, by function, and
// for the plugin, against the inline check on the same path.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { startServer } from './child'
import { runHttp } from './http'
import type { VariantName } from './servers'
import { ACCEPTED_TOKEN, bearer, DENIED_TOKEN } from './tokens'
import { runHandshakes } from './websocket'

type Kind = 'accepted' | 'denied'
type Case = [VariantName, 'http' | 'ws', Kind]
const cases: Case[] = [
  ['inline', 'http', 'accepted'],
  ['plugin-requires', 'http', 'accepted'],
  ['plugin-config', 'http', 'accepted'],
  ['inline', 'http', 'denied'],
  ['plugin-requires', 'http', 'denied'],
  ['plugin-config', 'http', 'denied'],
  ['fastify-auth', 'http', 'denied'],
  ['inline', 'ws', 'denied'],
  ['plugin-requires', 'ws', 'denied'],
  ['plugin-config', 'ws', 'denied']
]
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

export async function profile (dir: string, seconds: number): Promise<void> {
  mkdirSync(dir, { recursive: true })
  const sections: string[] = []
  const analyses = new Map<string, Analysis>()
  for (const [variant, mode, kind] of cases) {
    const name = `${variant}-${mode}-${kind}`
    const server = await startServer(variant, mode, {
      nodeFlags: ['--cpu-prof', `--cpu-prof-interval=${INTERVAL}`, `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}.cpuprofile`]
    })
    const headers = { authorization: bearer(kind === 'accepted' ? ACCEPTED_TOKEN : DENIED_TOKEN) }
    const load = async (duration: number, amount?: number): Promise<{ rps: number, total: number }> => mode === 'http'
      ? await runHttp({ url: server.url + '/hello', requests: [{ headers }], expect: kind === 'accepted' ? [200] : [401, 403], duration, amount })
      : await runHandshakes({ url: server.url + '/ws', headers, expect: kind === 'accepted' ? 101 : 403, concurrency: 50, duration, limit: amount ?? 100_000 })
    await load(60, mode === 'http' ? 20_000 : 1000)
    const from = (await server.usage()).clock
    const { rps, total } = await load(seconds)
    const to = (await server.usage()).clock
    await server.exit()
    const analysis = analyse(path.join(dir, `${name}.cpuprofile`), from, to, total)
    analyses.set(name, analysis)
    const baseline = variant === 'inline' ? undefined : analyses.get(`inline-${mode}-${kind}`)
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
