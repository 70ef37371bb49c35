import { channel } from 'node:diagnostics_channel'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { RefusalReason as Reason } from '../model/errors'
import type { Scope } from '../model/types'

export type RefusalReason = Reason

/** The names of the channels the plugin publishes on, for `subscribe(channels.refused, …)`. */
export const channels = {
  refused: 'fastify-authentication:refused',
  authenticated: 'fastify-authentication:authenticated'
} as const

export interface RefusedMessage {
  request: FastifyRequest
  reason: RefusalReason
  /** The status the client got. */
  statusCode: number
  /** The scopes the refusing guard needs (`missing-scopes` only). */
  required?: readonly Scope[]
}

export interface AuthenticatedMessage {
  request: FastifyRequest
  user: FastifyRequest['user']
}

const refusedChannel = channel(channels.refused)
const authenticatedChannel = channel(channels.authenticated)

/**
 * Publishes a refusal once its answer is out, with the status the client got (an `onError` or an
 * error handler may choose it). Nothing is built while nobody subscribes. No message carries a
 * credential: the request is the subscriber's to read, as a logger's serializer would.
 */
export function publishRefusal (request: FastifyRequest, reply: FastifyReply, reason: RefusalReason, required?: readonly Scope[]): void {
  if (!refusedChannel.hasSubscribers) return
  reply.raw.once('close', () => {
    const message: RefusedMessage = { request, reason, statusCode: reply.statusCode }
    if (required !== undefined) message.required = required
    refusedChannel.publish(message)
  })
}

/** Publishes each caller a backend recognised. */
export function publishAuthenticated (request: FastifyRequest): void {
  if (authenticatedChannel.hasSubscribers) authenticatedChannel.publish({ request, user: request.user } satisfies AuthenticatedMessage)
}
