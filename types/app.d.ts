// The app the augmented type tests are written for: its user class and its scopes, declared once.
import { BaseUser } from 'fastify-authentication'

export declare class ApiUser extends BaseUser {
  constructor (id: number)
  readonly id: number
  get isAuthenticated (): boolean
  get displayName (): string
  get identity (): string
}

declare module 'fastify-authentication' {
  interface AuthenticationTypes {
    user: ApiUser
    scope: 'authenticated' | 'read' | 'admin'
  }
}
