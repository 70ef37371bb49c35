// The docs as a reader meets them: every ```ts block of the README and docs/ compiles under
// --strict as a program of its own, in an app as it comes and in one that narrows
// AuthenticationTypes; every relative link leads to a file (and every #anchor to a heading) that
// exists; the README says what package.json declares; and its first app runs as written.
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import ts from 'typescript'
import { output, root } from './spawn'

// The TypeScript programs over lib/ and the peers' types take seconds each, more on a busy machine.
t.setTimeout(120_000)

const read = (file: string): string => readFileSync(join(root, file), 'utf8')
const manifest = JSON.parse(read('package.json')) as {
  name: string
  engines: { node: string }
  peerDependencies: Record<string, string>
  exports: Record<string, string | { import: { types: string } }>
}

/** Every Markdown file a reader gets: the README, the changelog, the contributors' guide and docs/. */
const pages = [
  'README.md', 'CHANGELOG.md', 'CONTRIBUTING.md',
  ...readdirSync(join(root, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.md')).map((file) => join('docs', file).split(sep).join('/')).sort()
]

interface Block {
  page: string
  /** The line of the page the code starts on, 1-based. */
  line: number
  /** The fence's info string: the language, then words like `fragment`. */
  info: string[]
  code: string
}

/** A page's fenced code blocks (CommonMark backtick fences, indented ones in lists included), and its text outside them. */
function parse (page: string): { blocks: Block[], prose: string[] } {
  const lines = read(page).split('\n')
  const blocks: Block[] = []
  const prose: string[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)(`{3,})(.*)$/.exec(lines[i])
    if (open === null) {
      prose.push(lines[i])
      continue
    }
    const [, indent, fence, info] = open
    const closing = new RegExp(`^ *\`{${fence.length},} *$`)
    const body: string[] = []
    let end = i + 1
    for (; end < lines.length && !closing.test(lines[end]); end++) body.push(lines[end].replace(new RegExp(`^ {0,${indent.length}}`), ''))
    if (end === lines.length) throw new Error(`${page}:${i + 1}: a code block that is never closed`)
    blocks.push({ page, line: i + 2, info: info.trim().split(/\s+/).filter(Boolean), code: body.join('\n') })
    // Keep line numbers: the block's lines are blank prose.
    for (let j = i; j <= end; j++) prose.push('')
    i = end
  }
  return { blocks, prose }
}

const parsed = new Map(pages.map((page) => [page, parse(page)]))
const blocks = [...parsed.values()].flatMap(({ blocks }) => blocks)
const typescript = blocks.filter(({ info }) => info[0] === 'ts' && !info.includes('fragment'))
const fragments = blocks.filter(({ info }) => info[0] === 'ts' && info.includes('fragment'))

t.test('the README is a front page: short, with the install line, the peers, the versions and the commands CI greps for', async (t) => {
  const readme = read('README.md')
  t.ok(readme.split('\n').length <= 400, `at most 400 lines (${readme.split('\n').length})`)
  t.match(readme, 'npm install fastify-authentication', 'the install line')
  for (const peer of Object.keys(manifest.peerDependencies)) t.match(readme, peer, `names the peer ${peer}`)
  t.match(readme, manifest.engines.node.replace(/^>=/, ''), `states the Node.js versions (${manifest.engines.node})`)
  t.match(readme, 'Fastify 5.0.0', 'states the oldest Fastify it supports')
  t.match(readme, 'npm ci && npm start', 'how to run the example')
  t.match(readme, 'npm test', 'how to run the tests')
  t.match(readme, '](CONTRIBUTING.md)', 'points contributors to CONTRIBUTING.md')
})

t.test('every code block names its language, and TypeScript is `ts`', async (t) => {
  t.same(blocks.filter(({ info }) => info.length === 0).map(({ page, line }) => `${page}:${line}`), [], 'every block names its language')
  t.same(blocks.filter(({ info }) => ['typescript', 'tsx', 'mts', 'cts'].includes(info[0])).map(({ page, line }) => `${page}:${line}`), [],
    'TypeScript is written `ts`, so that it is compiled')
  t.not(typescript.length, 0, 'blocks to compile')
  t.ok(fragments.length <= 5, `a few fragments on purpose, not more (${fragments.length})`)
})

/** Where each block is compiled from: a file of its own next to the project, never written to disk. */
const snippets = join(root, '.docs-snippets')
const fileOf = ({ page, line }: Block): string => join(snippets, `${page.replace(/[/.]/g, '-')}-${line}.mts`)
// An ES module (.mts), so that top-level await works as in the docs.
const files = new Map(typescript.map((block) => [fileOf(block), block]))
// A block that narrows AuthenticationTypes itself is an app of its own: in a shared program its
// narrowing would reach every other block.
const narrowing = /declare module 'fastify-authentication'/
const plain = typescript.filter(({ code }) => !narrowing.test(code))
const selfNarrowed = typescript.filter(({ code }) => narrowing.test(code))

/** The app that narrows AuthenticationTypes as the docs advise: its users, and the scopes the docs use. */
const narrowedApp = join(snippets, 'narrowed-app.mts')
const narrowedAppSource = `
import type { SimpleUser } from 'fastify-authentication'
import type { JwtUser } from 'fastify-authentication/jwt'
import type { TicketUser } from 'fastify-authentication/websocket'

declare module 'fastify-authentication' {
  interface AuthenticationTypes {
    user: SimpleUser | JwtUser | TicketUser
    scope: 'authenticated' | 'read' | 'write' | 'admin' | 'chat'
  }
}
`

/** `fastify-authentication` and its subpaths, mapped to lib/ the way the exports map points ESM at dist/. */
const paths = Object.fromEntries(Object.entries(manifest.exports).filter(([subpath]) => subpath !== './package.json').map(([subpath, target]) => {
  const types = typeof target === 'string' ? target : target.import.types
  const source = types.replace(/^\.\/dist\/lib\//, 'lib/').replace(/\.d\.(m?)ts$/, '.$1ts')
  return [subpath === '.' ? manifest.name : manifest.name + subpath.slice(1), [join(root, source)]]
}))

const { config } = ts.readConfigFile(join(root, 'tsconfig.base.json'), ts.sys.readFile) as { config: { compilerOptions: object } }
const { options, errors } = ts.convertCompilerOptionsFromJson({
  ...config.compilerOptions,
  // Snippets show one thing each: a name they declare and do not use is no error.
  noUnusedLocals: false,
  noUnusedParameters: false,
  declaration: false,
  sourceMap: false,
  noEmit: true,
  paths
}, root)

// The files every program reads (lib/, the peers' types, Node's), parsed once for all of them.
const parsedFiles = new Map<string, ts.SourceFile | undefined>()
const host = ts.createCompilerHost(options)
const { fileExists, readFile, getSourceFile } = host

/** The diagnostics of `checked`, each as `page:line: message`, from one program holding every file of `sources`. */
function compile (sources: Map<string, string>, checked: readonly string[]): string[] {
  const programHost: ts.CompilerHost = {
    ...host,
    fileExists: (file) => sources.has(file) || fileExists.call(host, file),
    readFile: (file) => sources.get(file) ?? readFile.call(host, file),
    getSourceFile (file, language, ...rest) {
      const text = sources.get(file)
      if (text !== undefined) return ts.createSourceFile(file, text, language)
      if (!parsedFiles.has(file)) parsedFiles.set(file, getSourceFile.call(host, file, language, ...rest))
      return parsedFiles.get(file)
    }
  }
  const program = ts.createProgram({ rootNames: [...sources.keys()], options, host: programHost })
  // Only the blocks are checked: lib/ has its own type check (tsc -p .), and checking it here would only be slower.
  return [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics(),
    ...checked.flatMap((file) => ts.getPreEmitDiagnostics(program, program.getSourceFile(file)))].map(where)
}

/** A diagnostic at the line of the page it comes from. */
function where (diagnostic: ts.Diagnostic): string {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
  const block = diagnostic.file === undefined ? undefined : files.get(diagnostic.file.fileName)
  if (block === undefined || diagnostic.start === undefined) return `${diagnostic.file?.fileName ?? 'options'}: ${message}`
  const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start)
  return `${block.page}:${block.line + line}: TS${diagnostic.code}: ${message}`
}

const sourcesOf = (list: readonly Block[]): Map<string, string> => new Map(list.map((block) => [fileOf(block), block.code]))

t.test('every ts block compiles under --strict, in one program with each block a module of its own', async (t) => {
  t.same(errors.map(where), [], 'the compiler options')
  t.equal(compile(sourcesOf(plain), [...sourcesOf(plain).keys()]).join('\n'), '', `${plain.length} blocks`)
  // Each block that narrows the types itself, alone.
  for (const block of selfNarrowed) t.equal(compile(sourcesOf([block]), [fileOf(block)]).join('\n'), '', `${block.page}:${block.line}, an app of its own`)
})

t.test('every ts block compiles in an app that narrows AuthenticationTypes', async (t) => {
  t.not(selfNarrowed.length, 0, 'the docs show how to narrow the types')
  // With a file that misspells a scope, to show that the narrowing is real.
  const misspelt = join(snippets, 'misspelt.mts')
  const sources = sourcesOf(plain).set(narrowedApp, narrowedAppSource).set(misspelt, "import { requires } from 'fastify-authentication'\nrequires('admni')\n")
  const found = compile(sources, [...sources.keys()])
  t.equal(found.filter((diagnostic) => !diagnostic.startsWith(misspelt)).join('\n'), '', `${plain.length} blocks, narrowed`)
  const misspelling = found.filter((diagnostic) => diagnostic.startsWith(misspelt))
  t.equal(misspelling.length, 1, 'a misspelt scope is an error there')
  t.match(misspelling[0], /Argument of type '"admni"' is not assignable/)
})

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug (heading: string): string {
  return heading.trim().toLowerCase()
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-')
}

/** The anchors of a page's headings, with GitHub's -1, -2… for repeated ones. */
function anchorsOf (page: string): Set<string> {
  const anchors = new Set<string>()
  const { prose } = parsed.get(page) ?? parse(page)
  for (const line of prose) {
    const heading = /^#{1,6} +(.+?)(?: +#+)? *$/.exec(line)
    if (heading === null) continue
    const base = slug(heading[1])
    let anchor = base
    for (let n = 1; anchors.has(anchor); n++) anchor = `${base}-${n}`
    anchors.add(anchor)
  }
  return anchors
}

/** A page's links outside code, as written: `[text](target)` and `[label]: target`. */
function linksOf (page: string): Array<{ line: number, target: string }> {
  const { prose } = parsed.get(page)!
  return prose.flatMap((text, i) => {
    const outsideCode = text.replace(/`[^`]*`/g, '')
    return [...outsideCode.matchAll(/\]\(<?([^)\s>]+)>?(?: +"[^"]*")?\)|^ {0,3}\[[^\]]+\]: +(\S+)/g)]
      .map(([, inline, reference]) => ({ line: i + 1, target: inline ?? reference }))
  })
}

t.test('every relative link leads to a file that exists, and every anchor to a heading', async (t) => {
  const broken: string[] = []
  let checked = 0
  for (const page of pages) {
    for (const { line, target } of linksOf(page)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue
      checked++
      const [path, anchor] = target.split('#') as [string, string | undefined]
      const file = path === '' ? page : relative(root, join(root, dirname(page), decodeURI(path))).split(sep).join('/')
      if (file.startsWith('..') || !existsSync(join(root, file))) broken.push(`${page}:${line}: ${target} leads nowhere`)
      else if (anchor !== undefined && !(file.endsWith('.md') && anchorsOf(file).has(anchor))) broken.push(`${page}:${line}: ${target} names no heading of ${file}`)
    }
  }
  t.same(broken, [], 'no broken link')
  t.ok(checked > 20, `relative links checked (${checked})`)
})

t.test('the README\'s first app runs as written, and answers as the README says', async (t) => {
  if (!existsSync(join(root, 'dist', 'lib', 'index.mjs'))) throw new Error('run `npm run build` first (npm test does)')
  const readme = parsed.get('README.md')!.blocks
  const app = readme.find(({ info }) => info[0] === 'ts') as Block
  const tries = readme[readme.indexOf(app) + 1]
  t.same(tries.info, ['sh'], 'the app is followed by the commands to try it')
  // Plain JavaScript too: saved as app.mjs in a project that has the package, it runs with node.
  mkdirSync(join(root, '.tap'), { recursive: true })
  const dir = mkdtempSync(join(root, '.tap', 'docs-first-app-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'app.mjs'), app.code)
  const { NODE_V8_COVERAGE: _, NODE_OPTIONS: __, ...env } = process.env
  const server = spawn(process.execPath, ['app.mjs'], { cwd: dir, env: { ...env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = output(server)
  t.teardown(() => { server.kill() })
  const address = await new Promise<string>((resolve, reject) => {
    let printed = ''
    server.stdout.on('data', (chunk: Buffer) => {
      printed += chunk
      const found = /listening at (http:\/\/\S+)/.exec(printed)
      if (found !== null) resolve(found[1])
    })
    exited.then(({ code, stderr }) => reject(new Error(`the app exited with ${String(code)}:\n${stderr}`)), reject)
  })

  const curls = [...tries.code.matchAll(/^curl (.+?) +# (\d{3}) (.*)$/gm)]
  t.ok(curls.length >= 4, 'commands to try')
  for (const [, command, status, comment] of curls) {
    const args = [...command.matchAll(/'([^']*)'|(\S+)/g)].map(([, quoted, bare]) => quoted ?? bare)
    const headers: Record<string, string> = {}
    for (let i = args.indexOf('-H'); i !== -1; i = args.indexOf('-H', i + 1)) {
      const [name, value] = args[i + 1].split(': ')
      headers[name] = value
    }
    const url = (args.at(-1) as string).replace(/^http:\/\/localhost:3000/, address)
    const answer = await fetch(url, { headers })
    const body = await answer.text()
    t.equal(answer.status, Number(status), command)
    if (comment.startsWith('WWW-Authenticate: ')) t.equal(answer.headers.get('www-authenticate'), comment.slice(18), `${command}: the challenge`)
    else t.equal(body, comment, `${command}: the body`)
  }
})
