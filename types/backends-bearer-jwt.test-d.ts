// The bearer and jwt backends, with AuthenticationTypes augmented: what verify, tokens, scopes and
// user return is checked against the app's user and scopes. (Without augmentation, the suite's
// own tests are the check: they call jwt() without a user, which compiles only then.)
import type { FastifyRequest } from 'fastify'
import { expectAssignable, expectError, expectType } from 'tsd'
import { AuthCredentials, BaseUser, SimpleUser, type AuthenticationBackend } from 'fastify-authentication'
import { bearer, type BearerOptions, type BearerTokens } from 'fastify-authentication/bearer'
import { JwtUser, jwt, type JwtAlgorithm, type JwtClaims, type JwtOptions } from 'fastify-authentication/jwt'
import { ApiUser } from './app'

const caller = { auth: new AuthCredentials(['read']), user: new ApiUser(1) }

// bearer: exactly one of verify and tokens; verify's answer is the app's caller, sync or async.
expectType<AuthenticationBackend>(bearer({ tokens: new Map([['token', caller]]) }))
expectType<AuthenticationBackend>(bearer({ tokens: { token: caller }, realm: 'api' }))
bearer({
  verify (token, request) {
    expectType<string>(token)
    expectType<FastifyRequest>(request)
    return token === 'token' ? caller : null
  }
})
bearer({ verify: async () => undefined })
bearer({ verify: async (token) => token === 'token' ? caller : null, realm: 'api' })
expectAssignable<BearerTokens>(new Map([['token', caller]]))
expectAssignable<BearerOptions>({ tokens: { token: caller } })
expectError(bearer({}))
expectError(bearer({ realm: 'api' }))
expectError(bearer({ verify: () => null, tokens: { token: caller } }))
expectError(bearer({ verify: () => null, realm: 42 }))
expectError(bearer({ verify: 'token' }))
expectError(bearer({ verify: () => ({ auth: new AuthCredentials(['read']), user: new SimpleUser('alice') }) }))
expectError(bearer({ verify: () => ({ auth: new AuthCredentials(['reed']), user: new ApiUser(1) }) }))
expectError(bearer({ verify: async () => ({ auth: ['read'], user: new ApiUser(1) }) }))
expectError(bearer({ tokens: { token: { auth: new AuthCredentials(['read']) } } }))
expectError(bearer({ tokens: new Map([['token', { auth: new AuthCredentials(['read']), user: new SimpleUser('alice') }]]) }))
expectError(bearer({ tokens: [['token', caller]] }))

// jwt: a key (exactly one of secret and jwks), algorithms, and here a user, since a JwtUser is not an ApiUser.
// With jwks, issuer and audience are required; null says any will do.
const user = (claims: JwtClaims) => new ApiUser(Number(claims.sub))
expectType<AuthenticationBackend>(jwt({ secret: 'a secret of at least thirty-two bytes', algorithms: ['HS256'], user }))
expectType<AuthenticationBackend>(jwt({ secret: new Uint8Array(32), algorithms: ['HS256'], user }))
expectType<AuthenticationBackend>(jwt({
  jwks: 'https://issuer.example/.well-known/jwks.json',
  algorithms: ['RS256', 'ES256'],
  issuer: ['https://issuer.example'],
  audience: 'api',
  clockTolerance: 30,
  requireExpiration: true,
  realm: 'api',
  scopes (claims) {
    expectType<JwtClaims>(claims)
    expectType<string | undefined>(claims.sub)
    expectType<unknown>(claims.scope)
    return claims.admin === true ? ['admin'] : ['read']
  },
  async user (claims) {
    return typeof claims.sub === 'string' ? new ApiUser(Number(claims.sub)) : null
  },
  async isRevoked (claims, request) {
    expectType<FastifyRequest>(request)
    return claims.jti === 'revoked'
  }
}))
expectType<AuthenticationBackend>(jwt({ jwks: 'https://issuer.example/jwks.json', algorithms: ['RS256'], issuer: null, audience: null, user }))
expectType<AuthenticationBackend>(jwt({ secret: 'a secret of at least thirty-two bytes', algorithms: ['HS256'], audience: null, requireExpiration: false, user }))
expectError(jwt({ jwks: 'https://issuer.example/jwks.json', algorithms: ['RS256'], audience: 'api', user }))
expectError(jwt({ jwks: 'https://issuer.example/jwks.json', algorithms: ['RS256'], issuer: 'https://issuer.example', user }))
expectError(jwt({ jwks: 'https://issuer.example/jwks.json', algorithms: ['RS256'], issuer: 'https://issuer.example', audience: 'api', requireExpiration: 'yes', user }))
expectError(jwt({ secret: 'a secret of at least thirty-two bytes', algorithms: ['HS256'] }))
expectError(jwt({ secret: 'a secret of at least thirty-two bytes', user }))
expectError(jwt({ algorithms: ['HS256'], user }))
expectError(jwt({ secret: 'a secret', jwks: 'https://issuer.example/jwks.json', algorithms: ['HS256'], user }))
expectError(jwt({ secret: 42, algorithms: ['HS256'], user }))
expectError(jwt({ jwks: new URL('https://issuer.example/jwks.json'), algorithms: ['RS256'], issuer: null, audience: null, user }))
expectError(jwt({ secret: 'a secret', algorithms: 'HS256', user }))
expectError(jwt({ secret: 'a secret', algorithms: ['none'], user }))
expectError(jwt({ jwks: 'https://issuer.example/jwks.json', algorithms: ['RS265'], issuer: null, audience: null, user }))
expectAssignable<readonly JwtAlgorithm[]>(['HS256', 'RS256', 'PS256', 'ES256', 'EdDSA'])
expectError(jwt({ secret: 'a secret', algorithms: ['HS256'], user, clockTolerance: '30s' }))
expectError(jwt({ secret: 'a secret', algorithms: ['HS256'], user, scopes: () => ['reed'] }))
expectError(jwt({ secret: 'a secret', algorithms: ['HS256'], user, scopes: () => 'read' }))
expectError(jwt({ secret: 'a secret', algorithms: ['HS256'], user: (claims) => new JwtUser({ ...claims, sub: 'u' }) }))
expectError(jwt({ secret: 'a secret', algorithms: ['HS256'], user, isRevoked: () => 'no' }))
expectError(jwt({ secret: 'a secret', algorithms: ['HS256'], user, audiance: 'api' }))
expectAssignable<JwtOptions>({ secret: 'a secret', algorithms: ['HS256'], user })

// JwtUser: a BaseUser whose claims always carry a sub.
const jwtUser = new JwtUser({ sub: 'u-1', name: 'Alice' })
expectAssignable<BaseUser>(jwtUser)
expectType<string>(jwtUser.claims.sub)
expectType<unknown>(jwtUser.claims.name)
expectType<string>(jwtUser.displayName)
expectError(new JwtUser({ name: 'Alice' }))
expectError(jwtUser.claims.sub = 'root')
