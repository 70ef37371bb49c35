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
t.test('the test summary: counts, files, time and coverage; a failure, coverage short of 100% or no results exit 1', async (t) => {
  const coverage = (pct: number): string => JSON.stringify({
    total: Object.fromEntries(['lines', 'statements', 'functions', 'branches'].map((name) => [name, { total: 40, covered: 40 * pct / 100, skipped: 0, pct }]))
  })
  const summary = async (results?: string, report?: string): Promise<{ code: number | null, stdout: string, stderr: string }> => {
    const dir = t.testdir({
      '.tap': { ...(results === undefined ? {} : { 'test.tap': results }), report: report === undefined ? {} : { 'coverage-summary.json': report } }
    })
    const { NODE_V8_COVERAGE: _, NODE_OPTIONS: __, ...env } = process.env
    return output(spawn(process.execPath, [join(root, 'scripts', 'test-summary.mjs')], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] }))
  }

  // Two test files as tap reports them: five assertions (one skipped, one todo) in nested
  // subtests of the first, and one in the second.
  const run = [
    'TAP version 14',
    '1..2',
    '# Subtest: test/a.test.ts',
    '    # Subtest: first',
    '        ok 1 - one',
    '        ok 2 - two # SKIP not here',
    '        1..2',
    '    ok 1 - first # time=1ms',
    '    ',
    '    # Subtest: second',
    '        # Subtest: nested',
    '            ok 1 - deep',
    '            1..1',
    '        ok 1 - nested # time=1ms',
    '        ',
    '        not ok 2 - later # TODO some day',
    '          ---',
    '          at:',
    '            line: 1',
    '          ...',
    '        ',
    '        1..2',
    '    ok 2 - second # time=2ms',
    '    ',
    '    ok 3 - top-level assertion',
    '    1..3',
    '    # time=10ms',
    'ok 1 - test/a.test.ts # time=10ms',
    '',
    '# Subtest: test/b.test.ts',
    '    ok 1 - fine',
    '    1..1',
    'ok 2 - test/b.test.ts # time=3ms',
    '',
    '# { total: 6, pass: 4, skip: 1, todo: 1 }',
    '# time=61234.5ms',
    ''
  ].join('\n')
  const passed = await summary(run, coverage(100))
  t.equal(passed.code, 0, passed.stderr)
  t.equal(passed.stdout, `
tests: 4 passed, 0 failed, 1 skipped
files     6 assertions, 1 todo in 2 test files, 61.2 s; the full TAP is in .tap/test.tap
coverage  100% statements (40/40), 100% branches (40/40), 100% functions (40/40), 100% lines (40/40)
`)

  // A failure, and an assertion after its YAML diagnostics.
  const failing = '# Subtest: test/c.test.ts\n    not ok 1 - broken\n      ---\n      found: 1\n      wanted: 2\n      ...\n    ok 2 - after\n    1..2\nnot ok 1 - test/c.test.ts\n'
  const failed = await summary(failing, coverage(100))
  t.equal(failed.code, 1, 'a failed assertion')
  t.match(failed.stdout, /^tests: 1 passed, 1 failed\nfiles {5}2 assertions in 1 test file; the full TAP/m)

  const short = await summary(run, coverage(50))
  t.equal(short.code, 1, 'coverage short of 100%')
  t.match(short.stdout, /^coverage {2}50% statements \(20\/40\), .*; below the 100% gate$/m)

  const none = await summary(undefined, coverage(100))
  t.equal(none.code, 1, 'no results')
  t.match(none.stderr, /^test summary: no test results in \.tap\/test\.tap; run `npm run test:unit` first/)
  const empty = await summary('TAP version 14\n', coverage(100))
  t.equal(empty.code, 1, 'a run that ran no test file')
  t.match(empty.stderr, /^test summary: no test results in \.tap\/test\.tap/)

  const uncovered = await summary(run)
  t.equal(uncovered.code, 1, 'no coverage report')
  t.match(uncovered.stderr, /^test summary: no coverage report in \.tap\/report\/coverage-summary\.json; run `npm run test:unit` first/)
})
