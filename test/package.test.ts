// The package as users load it: by name, through the exports map, from CommonJS and from ESM.
import t from 'tap'
import { built, node, output } from './spawn'

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
