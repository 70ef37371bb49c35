import { AuthCredentials, SimpleUser, type AuthenticationBackend } from '../lib/index'

/**
 * The ticket tests' own backend: `Authorization: Token <name>` is the user `<name>` with scopes
 * `authenticated` and `chat`, and `x-expires-at` (epoch ms) the credentials' expiry.
 */
export const tokens: AuthenticationBackend = {
  authenticate (request) {
    const header = request.headers.authorization
    if (header === undefined) return null
    const expiresAt = request.headers['x-expires-at']
    return {
      auth: new AuthCredentials(['authenticated', 'chat'], expiresAt === undefined ? {} : { expiresAt: Number(expiresAt) }),
      user: new SimpleUser(header.replace(/^Token /, ''))
    }
  }
}
