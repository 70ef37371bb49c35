import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { isThenable } from '../backends/contract'
import { onErrorDidNotReply, type AuthenticationError } from '../model/errors'

/** The registration's `onError` option: answers a request whose credentials a backend rejected. */
export type OnError = (error: AuthenticationError, request: FastifyRequest, reply: FastifyReply) => unknown
type Watched = Omit<FastifyReply, 'send' | 'then'> & { send?: FastifyReply['send'], then?: unknown }

const kReturnedReply = Symbol('fastify-authentication.returnedReply')

/**
 * Runs the app's `onError`, which may send the reply itself or return a payload, as a Fastify
 * handler may, sync or async. One that does neither ends in a 500; one that throws or rejects
 * too. While it runs, the reply notes whether `send` was called (an async `onSend` hook may
 * still hold the answer back), and a promise that adopts the reply settles at once: an async
 * `onError` that returns `reply.code(401)` would otherwise wait on a reply nobody sends.
 */
export function runOnError (
  onError: OnError, error: AuthenticationError, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction
): void {
  const watched = reply as unknown as Watched
  const send = reply.send
  let sent = false
  watched.send = function (payload?: unknown) {
    sent = true
    return send.call(this, payload)
  }
  watched.then = (adopt: (value: unknown) => void) => adopt(kReturnedReply)
  const restore = (): void => {
    delete watched.send
    delete watched.then
  }
  const settle = (returned: unknown): void => {
    restore()
    if (sent || reply.sent) return
    if (returned === undefined || returned === reply || returned === kReturnedReply) return done(onErrorDidNotReply())
    try {
      reply.send(returned)
    } catch (thrown) {
      done(thrown as Error)
    }
  }
  const fail = (thrown: unknown): void => {
    restore()
    done(thrown as Error)
  }
  let returned: unknown
  try {
    returned = onError(error, request, reply)
  } catch (thrown) {
    return fail(thrown)
  }
  if (returned !== reply && isThenable(returned)) {
    returned.then(settle, fail)
  } else {
    settle(returned)
  }
}
