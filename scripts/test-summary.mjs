// npm run test:summary: the last lines of `npm test`. Counts the assertions in the TAP that
// `npm run test:unit` left in .tap/test-results (one file per test file), reads the json-summary
// coverage report next to it, and names the type tests of package.json: three lines.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

function fail (message) {
  console.error(`test summary: ${message}; run \`npm run test:unit\` first`)
  process.exit(1)
}

function read (path, what) {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    fail(`no ${what} in ${path}`)
  }
}

/**
 * The assertions of one test file's TAP, as tap counts them: test points that are not the result
 * of a subtest. A subtest's own point follows its body, which is indented deeper; YAML
 * diagnostics (between `---` and `...`) and comments are not TAP lines.
 */
function count (tap, counts) {
  let yaml = -1
  let previous = 0
  for (const line of tap.split('\n')) {
    const indent = line.length - line.trimStart().length
    const text = line.trim()
    if (yaml !== -1) {
      if (indent === yaml && text === '...') yaml = -1
      continue
    }
    if (text === '---') yaml = indent
    if (text === '' || text.startsWith('#') || text === '---') continue
    const point = /^(not )?ok\b(?:.*# (SKIP|TODO)\b)?/i.exec(text)
    if (point !== null && previous <= indent) {
      counts.total++
      const directive = point[2]?.toLowerCase()
      counts[directive ?? (point[1] === undefined ? 'pass' : 'fail')]++
    }
    previous = indent
  }
}

const results = '.tap/test-results'
const files = readdirSync(results, { recursive: true }).filter((file) => file.endsWith('.tap'))
if (files.length === 0) fail(`no test results in ${results}`)
const counts = { total: 0, pass: 0, fail: 0, skip: 0, todo: 0 }
for (const file of files) count(readFileSync(join(results, file), 'utf8'), counts)
const coverage = JSON.parse(read('.tap/report/coverage-summary.json', 'coverage report')).total
const typeTests = JSON.parse(read('package.json', 'package.json')).scripts['test:types']

// The first line is the plain 'N passed, N failed[, N skipped]' line that CI reads.
const skipped = counts.skip > 0 ? `, ${counts.skip} skipped` : ''
const todo = counts.todo > 0 ? `, ${counts.todo} todo` : ''
const figures = ['statements', 'branches', 'functions', 'lines']
  .map((name) => `${coverage[name].pct}% ${name} (${coverage[name].covered}/${coverage[name].total})`).join(', ')

console.log(`
tests: ${counts.pass} passed, ${counts.fail} failed${skipped}
files     ${counts.total} assertions${todo} in ${files.length} test file${files.length === 1 ? '' : 's'}
coverage  ${figures}
types     ${typeTests.split('--files ').length - 1} tsd test files passed; attw checks the packed tarball in test/pack.test.ts`)
if (counts.fail > 0) process.exit(1)
