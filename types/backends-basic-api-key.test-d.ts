// The basic and api-key backends: verify's arguments are typed, and its result is checked
// against the app's AuthenticationTypes (augmented here: an ApiUser, two scopes).
import Fastify, { type FastifyRequest } from 'fastify'
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd'
import authentication, { AuthCredentials, SimpleUser, type AuthenticationBackend } from 'fastify-authentication'
import { basic, safeEqual, type BasicOptions } from 'fastify-authentication/basic'
import { apiKey, type ApiKeyOptions } from 'fastify-authentication/api-key'
import { ApiUser } from './app'

const caller = { auth: new AuthCredentials(['read']), user: new ApiUser(1) }

// basic
const passwords = basic({
  verify (username, password, request) {
    expectType<string>(username)
    expectType<string>(password)
    expectType<FastifyRequest>(request)
    return safeEqual(password, 'wonderland') ? caller : null
  }
})
expectType<AuthenticationBackend>(passwords)
expectType<boolean>(safeEqual('a', 'b'))
expectError(safeEqual('a', undefined))
expectError(safeEqual('a', Buffer.from('a')))

basic({ verify: async () => caller, realm: 'staff' })
basic({ verify: () => undefined })
expectAssignable<BasicOptions>({ verify: async () => null })
expectError(basic({ verify: () => ({ auth: new AuthCredentials(['read']), user: new SimpleUser('tom') }) }))
expectError(basic({ verify: () => ({ auth: new AuthCredentials(['admni']), user: new ApiUser(1) }) }))
expectError(basic({ verify: async () => ({ user: new ApiUser(1) }) }))
expectError(basic({ verify: () => 'tom' }))
expectError(basic({ verify: () => caller, realm: 42 }))
expectError(basic({ verify: () => caller, Realm: 'api' }))
expectError(basic({ realm: 'api' }))

// apiKey: exactly one place, a header or a cookie (never the query string, which logs keep)
const keys = apiKey({
  header: 'x-api-key',
  verify (key, request) {
    expectType<string>(key)
    expectType<FastifyRequest>(request)
    return key === 'k' ? caller : null
  }
})
expectType<AuthenticationBackend>(keys)
apiKey({ cookie: 'api_key', verify: async () => caller })
apiKey({ cookie: 'api_key', verify: () => undefined })
expectAssignable<ApiKeyOptions>({ header: 'x-api-key', verify: async () => null })
expectError(apiKey({ query: 'api_key', verify: () => caller }))
expectNotAssignable<ApiKeyOptions>({ query: 'api_key', verify: async () => null })
expectError(apiKey({ verify: () => caller }))
expectError(apiKey({ header: 'x-api-key', cookie: 'api_key', verify: () => caller }))
expectError(apiKey({ header: 'x-api-key', query: 'api_key', verify: () => caller }))
expectError(apiKey({ header: 'x-api-key' }))
expectError(apiKey({ header: 42, verify: () => caller }))
expectError(apiKey({ header: 'x-api-key', verify: () => ({ auth: new AuthCredentials(), user: new SimpleUser('tom') }) }))
expectError(apiKey({ header: 'x-api-key', verify: async () => ({ auth: new AuthCredentials(['admni']), user: new ApiUser(1) }) }))

// Both plug into the plugin, alone or in a chain.
const app = Fastify()
app.register(authentication, { backend: passwords })
app.register(authentication, { backend: [keys, passwords] })
