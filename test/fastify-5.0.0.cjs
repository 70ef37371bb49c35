'use strict'
// `npm run test:fastify-5.0`: the suite against the first Fastify of the peer range, 5.0.0, which
// package.json installs beside the lockfile's as the npm alias fastify-5.0.0. Preloaded in every
// test process (node --require), this file makes `fastify` and `fastify/...` resolve to it, so
// node_modules stays as it is. Node 20 has no public hook for require(), hence the wrapped
// Module._resolveFilename.
const Module = require('node:module')

const resolveFilename = Module._resolveFilename
Module._resolveFilename = function (request, ...rest) {
  const aliased = request === 'fastify' || request.startsWith('fastify/') ? 'fastify-5.0.0' + request.slice('fastify'.length) : request
  return resolveFilename.call(this, aliased, ...rest)
}

const { version } = require('fastify/package.json')
if (version !== '5.0.0') throw new Error(`test/fastify-5.0.0.cjs: expected fastify 5.0.0, got ${version}`)
