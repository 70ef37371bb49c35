// The audit events' names and types, from the main entry.
import { subscribe } from 'node:diagnostics_channel'
import type { FastifyRequest } from 'fastify'
import { expectAssignable, expectError, expectType } from 'tsd'
import { channels, AuthenticationError, type AuthenticatedMessage, type RefusalReason, type RefusedMessage } from 'fastify-authentication'

expectType<'fastify-authentication:refused'>(channels.refused)
expectType<'fastify-authentication:authenticated'>(channels.authenticated)

subscribe(channels.refused, (message) => {
  const { request, reason, statusCode, required } = message as RefusedMessage
  expectType<FastifyRequest>(request)
  expectType<RefusalReason>(reason)
  expectType<number>(statusCode)
  expectType<readonly string[] | undefined>(required)
})
subscribe(channels.authenticated, (message) => {
  expectType<FastifyRequest['user']>((message as AuthenticatedMessage).user)
})

expectAssignable<RefusalReason>('expired')
expectAssignable<RefusalReason>('foreign-origin')
expectError<RefusalReason>('origin')
expectError<RefusalReason>('invalid-credentials')
expectType<RefusalReason>(new AuthenticationError('Expired', { statusCode: 401, reason: 'expired' }).reason)
expectError(new AuthenticationError('x', { reason: 'nope' }))
