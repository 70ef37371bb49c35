import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { Registration } from '../registration'
import type { Refusal } from './decision'
import { logFieldsOf, logLineOf } from '../model/errors'
import { publishRefusal } from './events'
import { runOnError } from './on-error'

/** Sends a refusal `decide` made: the one place the plugin answers a request it refuses. */
export function answer (
  refusal: Refusal, registration: Registration | undefined, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction
): void {
  const { reason, statusCode, challenge, retryAfter, location, body } = refusal
  publishRefusal(request, reply, reason, refusal.required)
  const { failure } = refusal
  // The plugin's own failures are the server's trouble: logged where an operator looks, with the
  // cause; an outage is logged once, where it is met (model/outage.ts).
  if (failure === undefined || reason === 'unavailable') request.log.debug(logFieldsOf(reason), logLineOf(reason))
  else request.log.error({ reason, err: failure }, logLineOf(reason))
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
