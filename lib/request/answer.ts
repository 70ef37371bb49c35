import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { Registration } from '../registration'
import type { Refusal } from './decision'
import { publishRefusal } from './events'
import { runOnError } from './on-error'

/** Sends a refusal `decide` made: the one place the plugin answers a request it refuses. */
export function answer (
  refusal: Refusal, registration: Registration | undefined, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction
): void {
  publishRefusal(request, reply, refusal.reason, refusal.required)
  // Fastify's error handler answers the plugin's own failures, and logs them with their cause.
  if (refusal.failure !== undefined) return done(refusal.failure)
  if (refusal.rejected !== undefined) {
    request.log.debug('fastify-authentication: the backend refused the credentials')
    if (registration?.onError !== undefined) return runOnError(registration.onError, refusal.rejected, request, reply, done)
  }
  const { statusCode, challenge, retryAfter, location, contentType, body } = refusal
  if (challenge !== undefined) reply.header('www-authenticate', challenge)
  if (retryAfter !== undefined) reply.header('retry-after', retryAfter)
  if (location !== undefined) reply.header('location', location)
  if (contentType !== undefined) reply.type(contentType)
  reply.code(statusCode).send(body)
}
