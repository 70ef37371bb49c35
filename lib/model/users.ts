/** Who the caller is. Apps extend it for their own users. */
export abstract class BaseUser {
  abstract get isAuthenticated (): boolean
  abstract get displayName (): string
  abstract get identity (): string
}

/** A signed-in user known by a name. */
export class SimpleUser extends BaseUser {
  readonly username: string

  constructor (username: string) {
    super()
    if (typeof username !== 'string') throw new TypeError('SimpleUser(username) takes a string')
    this.username = username
  }

  get isAuthenticated (): boolean { return true }
  get displayName (): string { return this.username }
  get identity (): string { return this.username }
}

/** The anonymous caller: what every request gets when no backend recognised it. */
export class UnauthenticatedUser extends BaseUser {
  get isAuthenticated (): boolean { return false }
  get displayName (): string { return '' }
  get identity (): string { return '' }
}
