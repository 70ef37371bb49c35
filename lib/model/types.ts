import type { BaseUser } from './users'

/**
 * Augment this interface to narrow the plugin's types to your app:
 *
 *   declare module 'fastify-authentication' {
 *     interface AuthenticationTypes { user: ApiUser; scope: 'authenticated' | 'admin' }
 *   }
 */
export interface AuthenticationTypes {}

/** A scope name: `string` unless the app narrowed it through `AuthenticationTypes`. */
export type Scope = AuthenticationTypes extends { scope: infer S extends string } ? S : string

/** The app's user type: `BaseUser` unless the app narrowed it through `AuthenticationTypes`. */
export type AuthenticatedUser = AuthenticationTypes extends { user: infer U extends BaseUser } ? U : BaseUser
