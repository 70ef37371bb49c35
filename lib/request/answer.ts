import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { Registration } from '../registration'
import type { Refusal } from './decision'
import { logLineOf } from '../model/errors'
import { publishRefusal } from './events'
import { runOnError } from './on-error'

/** Sends a refusal `decide` made: the one place the plugin answers a request it refuses. */
export function answer (
  refusal: Refusal, registration: Registration | undefined, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction
): void {
  const { reason, statusCode, challenge, retryAfter, location, body } = refusal
  publishRefusal(request, reply, reason, refusal.required)
  const { failure } = refusal
  if (failure === undefined) {
    request.log.debug({ reason }, logLineOf(reason))
  } else {
    // The plugin's own failure: Fastify's error handler answers it and logs it with its cause,
    // unless the decision wrote its answer (a timeout, 503 with its reason), logged here alike.
    if (body === undefined) return done(failure)
    request.log.error({ reason, err: failure }, logLineOf(reason))
  }
  // Set before a custom onError runs: it keeps them unless it removes them on purpose.
  if (challenge !== undefined) reply.header('www-authenticate', challenge)
  if (retryAfter !== undefined) reply.header('retry-after', retryAfter)
  if (refusal.rejected !== undefined && registration?.onError !== undefined) {
    return runOnError(registration.onError, refusal.rejected, request, reply, done)
  }
  if (location !== undefined) reply.header('location', location)
  if (body !== undefined) reply.type('application/json; charset=utf-8')
  reply.code(statusCode).send(body)
}
