import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import * as backend from './backends/contract'
import * as credentials from './model/credentials'
import * as errors from './model/errors'
import * as options from './options'
import * as events from './request/events'
import { registerAuthentication } from './plugin'
import * as guards from './routes/guard'
import * as requiresHook from './routes/requires'
import * as scopes from './model/scopes'
import * as store from './store/memory'
import * as lockout from './request/lockout'
import * as types from './model/types'
import * as users from './model/users'
// Watches the apps created from now on: see lib/routes/watch.ts.
import './routes/watch'

declare module 'fastify' {
  interface FastifyRequest {
    /** What the caller may do. Anonymous callers have no scopes. */
    auth: credentials.AuthCredentials
    /** Who the caller is: the backend's user, or an `UnauthenticatedUser`. */
    user: types.AuthenticatedUser | users.UnauthenticatedUser
  }
  interface FastifyContextConfig {
    /** Scopes this route needs, with the same options as `requires()`. */
    requires?: guards.RouteRequires
    /** `false` skips the backend for this route (health checks): the request is anonymous. */
    authenticate?: boolean
  }
}

// Async so that a bad option rejects registration (avvio does not catch a synchronous throw).
async function fastifyAuthentication (fastify: FastifyInstance, options: options.AuthenticationOptions): Promise<void> {
  await registerAuthentication(fastify, options)
}

fp(fastifyAuthentication, { name: 'fastify-authentication', fastify: '5.x' })

// `require('fastify-authentication')` is the plugin itself, as with every Fastify plugin, with
// the rest of the API on it; index.mts gives ESM the same names.
/* c8 ignore start -- TypeScript emits `(fastifyAuthentication || (fastifyAuthentication = {}))` for a
   namespace; the function always exists here, so the `= {}` branch cannot run. */
namespace fastifyAuthentication {
  export import requires = requiresHook.requires
  export import hasRequiredScope = scopes.hasRequiredScope
  export import AuthCredentials = credentials.AuthCredentials
  export import BaseUser = users.BaseUser
  export import SimpleUser = users.SimpleUser
  export import UnauthenticatedUser = users.UnauthenticatedUser
  export import AuthenticationError = errors.AuthenticationError
  export import AuthenticationTypes = types.AuthenticationTypes
  export import AuthenticatedUser = types.AuthenticatedUser
  export import Scope = types.Scope
  export import AuthenticationBackend = backend.AuthenticationBackend
  export import AuthenticationResult = backend.AuthenticationResult
  export import AuthenticationOptions = options.AuthenticationOptions
  export import RequiresOptions = guards.RequiresOptions
  export import RouteRequires = guards.RouteRequires
  export import ScopeMatch = scopes.ScopeMatch
  export import MemoryStore = store.MemoryStore
  export import MemoryStoreOptions = store.MemoryStoreOptions
  export import AuthenticationStore = store.AuthenticationStore
  export import StoreCount = store.StoreCount
  export import LockoutOptions = lockout.LockoutOptions
  export import channels = events.channels
  export import RefusalReason = events.RefusalReason
  export import RefusedMessage = events.RefusedMessage
  export import AuthenticatedMessage = events.AuthenticatedMessage
}
// Types the two properties set just below.
declare namespace fastifyAuthentication {
  export { fastifyAuthentication as default, fastifyAuthentication }
}
/* c8 ignore stop */
Object.assign(fastifyAuthentication, { default: fastifyAuthentication, fastifyAuthentication })

export = fastifyAuthentication
