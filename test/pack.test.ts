// The package as it is published and installed: `npm pack` on a copy of the project without any
// build output (so `prepack` has to build dist), the tarball installed into a new project with
// fastify, and then every entry point of the exports map loaded from ESM and CommonJS, compiled
// against by a strict TypeScript consumer (node16 and bundler resolution), and checked by attw.
import t from 'tap'
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, sep } from 'node:path'
import { root } from './spawn'

// Packing, installing and two TypeScript programs take tens of seconds, more on a busy machine.
t.setTimeout(300_000)

interface Run { code: number | null, stdout: string, stderr: string }

/**
 * A command as a user runs it: without tap's loader settings, and without coverage, which tap
 * would otherwise collect from every process (tsc included) for files outside the project.
 */
function run (command: string, args: string[], cwd: string): Promise<Run> {
  const { NODE_V8_COVERAGE: _, NODE_OPTIONS: __, ...inherited } = process.env
  const env = { ...inherited, _TAPJS_PROCESSINFO_COVERAGE_: '0' }
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string
  exports: Record<string, unknown>
  peerDependencies?: Record<string, string>
}
const subpaths = Object.keys(manifest.exports)
const specifier = (subpath: string): string => subpath === '.' ? manifest.name : manifest.name + subpath.slice(1)
/** The entry points that are code (not ./package.json). */
const modules = subpaths.filter((subpath) => !subpath.endsWith('.json'))
/** Every file the exports map points to, conditions included. */
function targets (value: unknown): string[] {
  if (typeof value === 'string') return [value]
  return Object.values(value as Record<string, unknown>).flatMap(targets)
}
const installedVersion = (name: string): string =>
  (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version

const work = mkdtempSync(join(tmpdir(), 'fastify-authentication-pack-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))
const source = join(work, 'source')
const consumer = join(work, 'consumer')
const installed = join(consumer, 'node_modules', ...manifest.name.split('/'))
let tarball = ''
let packed: string[] = []

t.before(async () => {
  // The project as a fresh clone has it: no dist, no .tap, the installed node_modules.
  const skipped = new Set(['node_modules', 'dist', '.git', '.tap', 'coverage'])
  cpSync(root, source, {
    recursive: true,
    filter: (path) => !skipped.has(relative(root, path).split(sep)[0]) && !path.endsWith('.tgz')
  })
  symlinkSync(join(root, 'node_modules'), join(source, 'node_modules'), 'dir')
  const pack = await run('npm', ['pack', '--json', '--pack-destination', work], source)
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.stderr}`)
  const [result] = JSON.parse(pack.stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
  tarball = join(work, result.filename)
  packed = result.files.map((file) => file.path)

  mkdirSync(consumer)
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
  // Every peer dependency (the TypeScript consumer imports every entry point) and @types/node,
  // at the versions this project installed, so that the npm cache has them.
  const peers = [...Object.keys(manifest.peerDependencies ?? {}), '@types/node']
    .filter((name) => existsSync(join(root, 'node_modules', name, 'package.json')))
    .map((name) => `${name}@${installedVersion(name)}`)
  const install = await run('npm', ['install', tarball, ...peers, '--prefer-offline', '--no-audit', '--no-fund'], consumer)
  if (install.code !== 0) throw new Error(`npm install of the tarball failed:\n${install.stderr}`)
})

t.test('npm pack builds dist and ships it, the license and the docs, nothing of the bench, tests or example', async (t) => {
  t.ok(existsSync(tarball), 'the tarball was written')
  for (const target of [...new Set(modules.flatMap((subpath) => targets(manifest.exports[subpath])))]) {
    t.ok(packed.includes(target.replace(/^\.\//, '')), `the tarball has ${target}`)
  }
  const docs = readdirSync(join(root, 'docs'), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.md'))
    .map((file) => `docs/${file.split(sep).join('/')}`)
  t.not(docs.length, 0, 'the project has docs')
  for (const file of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'CONTRIBUTING.md', ...docs]) t.ok(packed.includes(file), `the tarball has ${file}`)
  // The build of lib (no source maps) and the Markdown the README leads to: nothing else.
  const shipped = /^(package\.json|README\.md|LICENSE|CHANGELOG\.md|CONTRIBUTING\.md|docs\/.+\.md|dist\/lib\/.+\.(js|mjs|d\.ts|d\.mts))$/
  t.same(packed.filter((path) => !shipped.test(path)), [], 'nothing but the build, the license and the docs')

  const license = readFileSync(join(installed, 'LICENSE'), 'utf8')
  t.match(license, /^MIT License\n\nCopyright \(c\) \d{4} fastify-authentication contributors\n/, 'an MIT license')

  // Every relative link of every page in the package leads to a file in the package (absolute links are not checked).
  const pages = packed.filter((path) => path.endsWith('.md'))
  let links = 0
  for (const page of pages) {
    const text = readFileSync(join(installed, page), 'utf8').replace(/^ *```[^]*?^ *```/gm, '').replace(/`[^`\n]*`/g, '')
    for (const [, link] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:|^#/i.test(link)) continue
      links++
      const file = join(installed, dirname(page), link.replace(/#.*$/, ''))
      t.ok(file.startsWith(installed + sep) && existsSync(file), `${page}: the link to ${link} works in the package`)
    }
  }
  t.ok(links > 20, `relative links checked (${links})`)
})

t.test('every entry point loads from ESM and CommonJS, one implementation for both', async (t) => {
  const specifiers = modules.map(specifier)
  // For each entry point: its exports and their types, or why it failed to load.
  const esm = await run(process.execPath, ['--input-type=module', '-e', `
    import { createRequire } from 'node:module'
    const require = createRequire(import.meta.url)
    const seen = {}
    for (const specifier of ${JSON.stringify(specifiers)}) {
      try {
        const namespace = await import(specifier)
        const exports = require(specifier)
        const names = Object.keys(namespace).filter((name) => !['default', '__esModule', 'module.exports'].includes(name))
        seen[specifier] = {
          names: Object.fromEntries(names.map((name) => [name, typeof namespace[name]])),
          default: typeof namespace.default,
          same: names.filter((name) => namespace[name] !== exports[name])
        }
      } catch (error) {
        seen[specifier] = { error: String(error) }
      }
    }
    console.log(JSON.stringify(seen))`], consumer)
  t.equal(esm.code, 0, esm.stderr)
  const cjs = await run(process.execPath, ['-e', `
    const seen = {}
    for (const specifier of ${JSON.stringify(specifiers)}) {
      try {
        const exports = require(specifier)
        seen[specifier] = { names: Object.fromEntries(Object.keys(exports).map((name) => [name, typeof exports[name]])) }
      } catch (error) {
        seen[specifier] = { error: String(error) }
      }
    }
    seen.version = require('${manifest.name}/package.json').version
    console.log(JSON.stringify(seen))`], consumer)
  t.equal(cjs.code, 0, cjs.stderr)
  type Loaded = { error?: string, names: Record<string, string>, default?: string, same?: string[] }
  const imported = JSON.parse(esm.stdout) as Record<string, Loaded>
  const required = JSON.parse(cjs.stdout) as Record<string, Loaded> & { version: string }
  t.equal(required.version, JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version, 'package.json is exported')

  for (const subpath of modules) {
    const name = specifier(subpath)
    t.equal(imported[name].error, undefined, `${name} loads from ESM`)
    t.equal(required[name].error, undefined, `${name} loads from CommonJS`)
    if (imported[name].error !== undefined || required[name].error !== undefined) continue
    const { names, default: defaultExport, same } = imported[name]
    t.not(Object.keys(names).length, 0, `${name}: named ESM exports`)
    t.same(same, [], `${name}: each ESM export is the CommonJS one`)
    for (const [exported, type] of Object.entries(names)) t.equal(required[name].names[exported], type, `${name}: ${exported} from CommonJS`)
    if (subpath === '.') {
      t.equal(defaultExport, 'function', `${name}: the plugin is the default export`)
      t.equal(names.requires, 'function', `${name}: requires`)
    } else {
      t.ok(Object.values(names).includes('function'), `${name} exports a function`)
    }
  }
})

t.test('the installed package guards routes, from ESM and CommonJS', async (t) => {
  const app = `
    const app = Fastify()
    await app.register(authentication, {
      backend: bearer({ realm: 'pack', tokens: { 'alice-token': { auth: new AuthCredentials([]), user: new SimpleUser('alice') } } })
    })
    app.get('/me', { preHandler: requires('authenticated') }, async (request) => request.user.displayName)
    const anonymous = await app.inject('/me')
    const alice = await app.inject({ url: '/me', headers: { authorization: 'Bearer alice-token' } })
    console.log(JSON.stringify([anonymous.statusCode, anonymous.headers['www-authenticate'], alice.statusCode, alice.body]))`
  const esm = await run(process.execPath, ['--input-type=module', '-e', `
    import Fastify from 'fastify'
    import authentication, { AuthCredentials, SimpleUser, requires } from '${manifest.name}'
    import { bearer } from '${manifest.name}/bearer'
    ${app}`], consumer)
  const cjs = await run(process.execPath, ['-e', `
    const Fastify = require('fastify')
    const authentication = require('${manifest.name}')
    const { AuthCredentials, SimpleUser, requires } = authentication
    const { bearer } = require('${manifest.name}/bearer')
    ;(async () => { ${app} })().catch((error) => { console.error(error); process.exitCode = 1 })`], consumer)
  for (const [kind, answer] of [['ESM', esm], ['CommonJS', cjs]] as const) {
    t.equal(answer.code, 0, `${kind}: ${answer.stderr}`)
    t.same(JSON.parse(answer.stdout), [401, 'Bearer realm="pack"', 200, 'alice'], kind)
  }
})

/** A consumer module that imports every entry point and uses the API, in ESM or CommonJS syntax. */
function consumerSource (syntax: 'esm' | 'cjs'): string {
  const imports = syntax === 'esm'
    ? [
        "import Fastify from 'fastify'",
        `import authentication, { AuthCredentials, SimpleUser, requires, type AuthenticationBackend } from '${manifest.name}'`,
        `import { bearer } from '${manifest.name}/bearer'`,
        ...modules.map((subpath, i) => `import * as entry${i} from '${specifier(subpath)}'`)
      ]
    : [
        "import Fastify = require('fastify')",
        `import authentication = require('${manifest.name}')`,
        `import bearerBackend = require('${manifest.name}/bearer')`,
        'const { AuthCredentials, SimpleUser, requires } = authentication',
        'const { bearer } = bearerBackend',
        'type AuthenticationBackend = authentication.AuthenticationBackend',
        ...modules.map((subpath, i) => `import entry${i} = require('${specifier(subpath)}')`)
      ]
  return `${imports.join('\n')}

// Every export of every entry point has a type, and none is \`any\`.
type NotAny<T> = 0 extends (1 & T) ? false : true
type Typed<M> = [keyof M] extends [never] ? false : false extends { [K in keyof M]-?: NotAny<M[K]> }[keyof M] ? false : true
const typed: [${modules.map((_, i) => `Typed<typeof entry${i}>`).join(', ')}] = [${modules.map(() => 'true').join(', ')}]

declare module '${manifest.name}' {
  interface AuthenticationTypes { scope: 'authenticated' | 'admin' }
}

const backend: AuthenticationBackend = bearer({
  realm: 'api',
  tokens: { 'alice-token': { auth: new AuthCredentials(['admin']), user: new SimpleUser('alice') } }
})

async function build (): Promise<ReturnType<typeof Fastify>> {
  const app = Fastify()
  await app.register(authentication, { backend })
  app.get('/me', { preHandler: requires('authenticated') }, async (request) => request.user.displayName)
  app.get('/admin', { config: { requires: { scopes: 'admin', statusCode: 401 } } }, async (request) => request.auth.scopes.join(' '))
  // @ts-expect-error: a scope the app did not declare
  requires('admni')
  // @ts-expect-error: a token maps to { auth, user }, not to scopes
  bearer({ tokens: { 'alice-token': ['admin'] } })
  return app
}

${syntax === 'esm' ? 'export { build, typed }' : 'export = { build, typed }'}
`
}

t.test('a strict TypeScript consumer compiles, with node16 and bundler resolution', async (t) => {
  const strict = {
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noUnusedLocals: true,
    isolatedModules: true,
    verbatimModuleSyntax: true,
    skipLibCheck: false,
    noEmit: true,
    target: 'es2022',
    types: ['node']
  }
  const projects: Record<string, { compilerOptions: Record<string, unknown>, files: Record<string, string> }> = {
    node16: {
      compilerOptions: { ...strict, module: 'node16', moduleResolution: 'node16' },
      files: { 'esm.mts': consumerSource('esm'), 'cjs.cts': consumerSource('cjs') }
    },
    bundler: {
      compilerOptions: { ...strict, module: 'esnext', moduleResolution: 'bundler' },
      files: { 'app.ts': consumerSource('esm') }
    }
  }
  for (const [resolution, { compilerOptions, files }] of Object.entries(projects)) {
    const dir = join(consumer, resolution)
    mkdirSync(dir)
    for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text)
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: Object.keys(files) }))
  }
  // One tsc for both programs: tsc -b reads the declarations they share (fastify's, Node's) once.
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const compiled = await run(process.execPath, [tsc, '-b', ...Object.keys(projects)], consumer)
  t.equal(compiled.code, 0, `${compiled.stdout}${compiled.stderr}`)
  t.equal(compiled.stdout, '', `no errors in ${Object.keys(projects).join(' or ')}`)
})

t.test('attw finds no problem in any entry point (node16 profile)', async (t) => {
  const attw = join(root, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js')
  const checked = await run(process.execPath, [attw, tarball, '--profile', 'node16', '--format', 'json', '--no-definitely-typed'], work)
  t.equal(checked.code, 0, `attw exits with 0 ${checked.stderr}`)
  const report = JSON.parse(checked.stdout) as {
    analysis: {
      entrypoints: Record<string, { resolutions: Record<string, { resolution?: { fileName: string } }> }>
      problems: Array<{ kind: string, resolutionKind?: string }>
    }
  }
  t.same(Object.keys(report.analysis.entrypoints).sort(), [...subpaths].sort(), 'attw checked every subpath of the exports map')
  // The node16 profile leaves out node10 resolution, where subpaths cannot resolve without exports.
  t.same(report.analysis.problems.filter((problem) => problem.resolutionKind !== 'node10'), [], 'no problems')
  for (const subpath of modules) {
    for (const kind of ['node16-cjs', 'node16-esm', 'bundler']) {
      t.match(report.analysis.entrypoints[subpath].resolutions[kind].resolution?.fileName, /\.d\.[cm]?ts$/, `${subpath} has types for ${kind}`)
    }
  }
})
