// The package as users load it: by name, through the exports map, from CommonJS and from ESM.
import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { built, node, output, root } from './spawn'

t.before(() => {
  if (!built()) throw new Error('run `npm run build` first (npm test does)')
})

const shape = `
  const names = ['requires', 'hasRequiredScope', 'AuthCredentials', 'BaseUser', 'SimpleUser', 'UnauthenticatedUser', 'AuthenticationError']
  console.log(JSON.stringify({
    plugin: typeof plugin,
    name: plugin[Symbol.for('fastify.display-name')],
    meta: plugin[Symbol.for('plugin-meta')],
    types: Object.fromEntries(names.map((name) => [name, typeof api[name]])),
    same: api.requires === plugin.requires && api.AuthCredentials === plugin.AuthCredentials
  }))
`
const expected = {
  plugin: 'function',
  name: 'fastify-authentication',
  meta: { name: 'fastify-authentication', fastify: '5.x' },
  types: {
    requires: 'function',
    hasRequiredScope: 'function',
    AuthCredentials: 'function',
    BaseUser: 'function',
    SimpleUser: 'function',
    UnauthenticatedUser: 'function',
    AuthenticationError: 'function'
  },
  same: true
}

t.test('CommonJS: require() is the plugin, with the API on it and .default', async (t) => {
  const source = `
    const plugin = require('fastify-authentication')
    const api = plugin
    if (plugin.default !== plugin || plugin.fastifyAuthentication !== plugin) throw new Error('no .default')
    ${shape}`
  const { code, stdout, stderr } = await output(node(['-e', source]))
  t.equal(code, 0, stderr)
  t.same(JSON.parse(stdout), expected)
})

t.test('ESM: a default import and named imports, one implementation', async (t) => {
  const source = `
    import plugin, * as api from 'fastify-authentication'
    import { createRequire } from 'node:module'
    if (createRequire(import.meta.url)('fastify-authentication').AuthCredentials !== api.AuthCredentials) throw new Error('two copies')
    ${shape}`
  const { code, stdout, stderr } = await output(node(['--input-type=module', '-e', source]))
  t.equal(code, 0, stderr)
  t.same(JSON.parse(stdout), expected)
})

// `npm test` ends with `npm run test:summary`: what tap left in .tap, in three lines.
t.test('the test summary: counts, coverage and type tests in three lines; a failure or no results exit 1', async (t) => {
  const coverage = (pct: number): string => JSON.stringify({
    total: Object.fromEntries(['lines', 'statements', 'functions', 'branches'].map((name) => [name, { total: 40, covered: 40 * pct / 100, skipped: 0, pct }]))
  })
  const summary = async (results: Record<string, string | Record<string, string>>, report?: string): Promise<{ code: number | null, stdout: string, stderr: string }> => {
    const dir = t.testdir({
      'package.json': JSON.stringify({ scripts: { 'test:types': 'tsd --files a.test-d.ts && tsd --files b.test-d.ts --files c.test-d.ts' } }),
      '.tap': { 'test-results': results, report: report === undefined ? {} : { 'coverage-summary.json': report } }
    })
    const { NODE_V8_COVERAGE: _, NODE_OPTIONS: __, ...env } = process.env
    return output(spawn(process.execPath, [join(root, 'scripts', 'test-summary.mjs')], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] }))
  }

  // Five assertions (one skipped, one todo) in nested subtests, and one more in another directory.
  const nested = [
    'TAP version 14',
    '# Subtest: first',
    '    ok 1 - one',
    '    ok 2 - two # SKIP not here',
    '    1..2',
    'ok 1 - first # time=1ms',
    '',
    '# Subtest: second',
    '    # Subtest: nested',
    '        ok 1 - deep',
    '        1..1',
    '    ok 1 - nested # time=1ms',
    '    ',
    '    not ok 2 - later # TODO some day',
    '      ---',
    '      at:',
    '        line: 1',
    '      ...',
    '    ',
    '    1..2',
    'ok 2 - second # time=2ms',
    '',
    'ok 3 - top-level assertion',
    '1..3',
    '# time=10ms',
    ''
  ].join('\n')
  const passed = await summary({ 'a.test.ts.tap': nested, sub: { 'b.test.ts.tap': 'ok 1 - fine\n1..1\n' } }, coverage(100))
  t.equal(passed.code, 0, passed.stderr)
  t.equal(passed.stdout, `
tests: 4 passed, 0 failed, 1 skipped
files     6 assertions, 1 todo in 2 test files
coverage  100% statements (40/40), 100% branches (40/40), 100% functions (40/40), 100% lines (40/40)
types     3 tsd test files passed; attw checks the packed tarball in test/pack.test.ts
`)

  // A failure, and an assertion after its YAML diagnostics.
  const failing = 'not ok 1 - broken\n  ---\n  found: 1\n  wanted: 2\n  ...\nok 2 - after\n1..2\n'
  const failed = await summary({ 'c.test.ts.tap': failing }, coverage(50))
  t.equal(failed.code, 1, 'a failed assertion')
  t.match(failed.stdout, /^tests: 1 passed, 1 failed\nfiles {5}2 assertions in 1 test file\ncoverage {2}50% statements \(20\/40\)/m)

  const none = await summary({}, coverage(100))
  t.equal(none.code, 1, 'no results')
  t.match(none.stderr, /^test summary: no test results in \.tap\/test-results; run `npm run test:unit` first/)

  const uncovered = await summary({ 'a.test.ts.tap': 'ok 1 - fine\n1..1\n' })
  t.equal(uncovered.code, 1, 'no coverage report')
  t.match(uncovered.stderr, /^test summary: no coverage report in \.tap\/report\/coverage-summary\.json; run `npm run test:unit` first/)
})
