import type { preHandlerHookHandler } from 'fastify'
import type { Scope } from '../model/types'
import { registrationOf } from '../registration'
import { answer } from '../request/answer'
import { decideScopeGuard } from '../request/decision'
import { compileGuard, markGuard, type RequiresOptions } from './guard'

/**
 * A hook that lets the request through only if the caller holds `scopes`. Put it in
 * `preHandler` (or `onRequest`, `preParsing`, `preValidation`): on a route the plugin prepares,
 * it is checked in the plugin's decision, once every `onRequest` hook has run and before the body
 * is read. Added to a whole scope with `addHook`, it runs as the hook it is. Bad arguments throw
 * here, at startup.
 */
export function requires (scopes: Scope | readonly Scope[], options: RequiresOptions = {}): preHandlerHookHandler {
  const guards = [compileGuard(scopes, options, 'requires(scopes, options)')]
  return markGuard(function requiresScopes (request, reply, done) {
    const refusal = decideScopeGuard(guards, request)
    if (refusal === null) return done()
    answer(refusal, registrationOf(request.server), request, reply, done)
  }, guards[0])
}
