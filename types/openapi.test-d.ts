// fastify-authentication/openapi: openapi() gives @fastify/swagger options to spread into its own.
import Fastify from 'fastify'
import swagger, { type FastifyDynamicSwaggerOptions, type SwaggerTransform } from '@fastify/swagger'
import { expectAssignable, expectError, expectType } from 'tsd'
import authentication from 'fastify-authentication'
import { bearer } from 'fastify-authentication/bearer'
import { openapi, type OpenapiOptions, type OpenapiSwaggerOptions } from 'fastify-authentication/openapi'

const app = Fastify()
app.register(authentication, { backend: bearer({ tokens: new Map() }) })
app.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 'api', version: '1.0.0' } }, ...openapi() })
app.register(swagger, { openapi: { openapi: '3.0.3' }, ...openapi({ transform: ({ schema, url }) => ({ schema, url }) }), hideUntagged: true })

expectType<OpenapiSwaggerOptions>(openapi())
expectType<SwaggerTransform>(openapi().transform)
expectAssignable<FastifyDynamicSwaggerOptions>({ openapi: {}, ...openapi() })
expectAssignable<OpenapiOptions>({})
expectAssignable<OpenapiOptions>({ transform: openapi().transform })

// The app's own transform has @fastify/swagger's signature.
openapi({
  transform ({ schema, url, route }) {
    expectType<string>(url)
    expectType<string>(route.url)
    return { schema: { ...schema, tags: ['api'] }, url }
  }
})
expectError(openapi({ transform: () => 42 }))
expectError(openapi({ transform: 'transform' }))
expectError(openapi({ transfrom: () => ({ schema: {}, url: '/' }) }))
expectError(openapi(null))
