// The ESM entry: the same single implementation as the CommonJS one, under named exports.
import fastifyAuthentication from './index.js'

export default fastifyAuthentication
export const {
  requires, hasRequiredScope, AuthCredentials, BaseUser, SimpleUser, UnauthenticatedUser, AuthenticationError, MemoryStore, channels
} = fastifyAuthentication
// The classes are types too.
export type AuthCredentials = fastifyAuthentication.AuthCredentials
export type BaseUser = fastifyAuthentication.BaseUser
export type SimpleUser = fastifyAuthentication.SimpleUser
export type UnauthenticatedUser = fastifyAuthentication.UnauthenticatedUser
export type AuthenticationError = fastifyAuthentication.AuthenticationError
export type MemoryStore = fastifyAuthentication.MemoryStore
// Re-exported from where they are declared, so that apps can augment AuthenticationTypes.
export type { AuthenticationTypes, AuthenticatedUser, Scope } from './model/types.js'
export type { AuthenticationBackend, AuthenticationResult } from './backends/contract.js'
export type { AuthenticationOptions } from './options.js'
export type { RequiresOptions, RouteRequires } from './routes/guard.js'
export type { ScopeMatch } from './model/scopes.js'
export type { AuthenticationStore, MemoryStoreOptions, StoreCount } from './store/memory.js'
export type { LockoutOptions } from './request/lockout.js'
export type { RefusalReason, RefusedMessage, AuthenticatedMessage } from './request/events.js'
