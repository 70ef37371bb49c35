import type { FastifyRequest } from 'fastify'

/** Why a request is refused before its guards are asked: an error, or a handshake's foreign Origin. */
export const ORIGIN_REFUSED = Symbol('fastify-authentication.originRefused')
export type Failure = Error | typeof ORIGIN_REFUSED

/**
 * A failure the plugin's `onRequest` hook found, kept for the verdict its `preParsing` hook gives
 * once every `onRequest` hook has run; absent when there was none. Written only where it has a value.
 */
export const kFailure = Symbol('fastify-authentication.failure')

declare module 'fastify' {
  interface FastifyRequest {
    [kFailure]: Failure | undefined
  }
}

/** Whether the plugin found a failure for this request, whose verdict is still to come. */
export function awaitsVerdict (request: FastifyRequest): boolean {
  return request[kFailure] !== undefined
}
