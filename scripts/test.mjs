// npm test: the build, then the linters and the type tests side by side, then the tap suite with
// its 100% coverage gate. Each step is an npm script of package.json. A step prints only what
// fails; the last lines are the summary, and the suite's full TAP is left in .tap/test.tap.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'

const started = performance.now()

/** Runs `npm run <script>`, its output kept unless `live`. Resolves with its exit code, output and seconds. */
function run (script, { live = false } = {}) {
  const begun = performance.now()
  const child = spawn('npm', ['run', '--silent', script], { stdio: ['ignore', live ? 'inherit' : 'pipe', live ? 'inherit' : 'pipe'] })
  let output = ''
  child.stdout?.on('data', (chunk) => { output += chunk })
  child.stderr?.on('data', (chunk) => { output += chunk })
  return new Promise((resolve) => child.on('close', (code) => {
    resolve({ script, code, output, seconds: (performance.now() - begun) / 1000 })
  }))
}

/** Prints what a step said, and says which step failed. */
function report ({ script, code, output }) {
  if (output.trim() !== '') process.stdout.write(output.endsWith('\n') ? output : output + '\n')
  if (code !== 0) console.log(`npm run ${script} failed (exit code ${code})`)
}

const seconds = (value) => `${value.toFixed(1)} s`

// The tests run the built example and package, and tsd reads the built declarations.
const build = await run('build')
report(build)
if (build.code !== 0) process.exit(1)

// eslint and tsc, and tsd: one core each.
const checks = await Promise.all([run('lint'), run('test:types')])
checks.forEach(report)

// tap prints its failures itself (the min reporter), and the coverage table if it is short of 100%.
const suite = await run('test:unit', { live: true })
if (suite.code !== 0) console.log(`npm run test:unit failed (exit code ${suite.code})`)

const summary = await run('test:summary', { live: true })
const [lint, types] = checks
const outcome = ({ code, seconds: took }) => `${code === 0 ? 'passed' : 'FAILED'}, ${seconds(took)}`
const typeTests = JSON.parse(readFileSync('package.json', 'utf8')).scripts['test:types'].split('--files ').length - 1
console.log(`build     ${outcome(build)}: lib and example (tsc -b)
lint      ${outcome(lint)}: eslint, and tsc on the tests and the bench
types     ${outcome(types)}: ${typeTests} tsd files; attw checks the packed tarball in test/pack.test.ts
time      ${seconds((performance.now() - started) / 1000)} in all, lint and types side by side`)
if ([...checks, suite, summary].some(({ code }) => code !== 0)) process.exit(1)
