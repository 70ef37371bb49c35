// npm run test:summary: what the last `npm run test:unit` did, in three lines. Counts the
// assertions and test files in the TAP it left in .tap/test.tap, and reads the json-summary
// coverage report next to it. Exits 1 on a failed assertion or coverage short of 100%.
import { readFileSync } from 'node:fs'

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
 * The assertions of the run's TAP, as tap counts them: test points that are not the result of a
 * subtest. A subtest's own point follows its body, which is indented deeper; YAML diagnostics
 * (between `---` and `...`) and comments are not TAP lines. Each test file is a subtest at the top.
 */
function count (tap) {
  const counts = { total: 0, pass: 0, fail: 0, skip: 0, todo: 0, files: 0 }
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
    if (point !== null && indent === 0) counts.files++
    if (point !== null && previous <= indent) {
      counts.total++
      const directive = point[2]?.toLowerCase()
      counts[directive ?? (point[1] === undefined ? 'pass' : 'fail')]++
    }
    previous = indent
  }
  return counts
}

const results = '.tap/test.tap'
const tap = read(results, 'test results')
const counts = count(tap)
if (counts.files === 0) fail(`no test results in ${results}`)
const took = /\n# time=([\d.]+)ms\s*$/.exec(tap)
const coverage = JSON.parse(read('.tap/report/coverage-summary.json', 'coverage report')).total

// The first line is the plain 'N passed, N failed[, N skipped]' line that CI reads.
const skipped = counts.skip > 0 ? `, ${counts.skip} skipped` : ''
const todo = counts.todo > 0 ? `, ${counts.todo} todo` : ''
const measures = ['statements', 'branches', 'functions', 'lines']
const figures = measures.map((name) => `${coverage[name].pct}% ${name} (${coverage[name].covered}/${coverage[name].total})`).join(', ')
const covered = measures.every((name) => coverage[name].pct === 100)

console.log(`
tests: ${counts.pass} passed, ${counts.fail} failed${skipped}
files     ${counts.total} assertions${todo} in ${counts.files} test file${counts.files === 1 ? '' : 's'}${took === null ? '' : `, ${(took[1] / 1000).toFixed(1)} s`}; the full TAP is in ${results}
coverage  ${figures}${covered ? '' : '; below the 100% gate'}`)
if (counts.fail > 0 || !covered) process.exit(1)
