import type { FastifyRequest } from 'fastify'
import { checkResult, isThenable, type AuthenticationBackend, type AuthenticationResult, type BackendAnswer } from '../backends/contract'
import { hasExpired } from '../model/credentials'
import { AuthenticationError, backendTimeoutError } from '../model/errors'
import type { Deadlines } from './deadlines'
import { kRecognisedBy } from './state'

/**
 * Asks each backend in turn, and stays synchronous while the backends are, so sync backends cost
 * no promise. The first backend to recognise the caller wins, unless a credential the caller sent
 * is rejected: then the request is refused, whoever else recognised the caller. So the chain moves
 * past an `AuthenticationError` only to backends that read the same credential (a JWT that
 * `bearer({ tokens })` does not know may still be `jwt`'s), and once a backend recognises the
 * caller, the backends that read another credential are still asked, for their rejections only.
 * Backends that read a credential some backend admitted are not asked. Any other error stops the
 * chain at once. With `deadlines` (the timeout option), a chain that went async rejects with 503
 * once it has run that long, and asks no further backend.
 */
export function runBackends (
  backends: readonly AuthenticationBackend[], request: FastifyRequest, deadlines: Deadlines | undefined
): AuthenticationResult | null | Promise<AuthenticationResult | null> {
  const chain = new Chain()
  for (let i = 0; i < backends.length; i++) {
    const backend = backends[i]
    const credential = credentialOf(backend)
    if (chain.admitted(credential)) continue
    let answer: BackendAnswer | PromiseLike<BackendAnswer>
    try {
      answer = backend.authenticate(request)
    } catch (error) {
      chain.rejected(credential, error)
      continue
    }
    if (isThenable(answer)) return finishChain(answer, backends, request, i, chain, deadlines)
    chain.answered(backend, credential, answer)
  }
  return chain.outcome(request)
}

/** The rest of the chain once backend `from` answered with a promise. */
function finishChain (
  pending: PromiseLike<BackendAnswer>, backends: readonly AuthenticationBackend[], request: FastifyRequest,
  from: number, chain: Chain, deadlines: Deadlines | undefined
): Promise<AuthenticationResult | null> {
  let timedOut = false
  async function settle (): Promise<AuthenticationResult | null> {
    let answer: BackendAnswer | PromiseLike<BackendAnswer> = pending
    for (let i = from; i < backends.length; i++) {
      // Set by the timer: once the request got its 503, no further backend is asked.
      if (timedOut) break
      const backend = backends[i]
      const credential = credentialOf(backend)
      if (i > from && chain.admitted(credential)) continue
      try {
        if (i > from) answer = backend.authenticate(request)
        // Awaiting tames odd thenables too: one that calls back twice, or returns nothing from then().
        chain.answered(backend, credential, await answer)
      } catch (error) {
        chain.rejected(credential, error)
      }
    }
    return chain.outcome(request)
  }
  if (deadlines === undefined) return settle()
  // The wait never outlives the chain, and a late answer is ignored.
  return new Promise((resolve, reject) => {
    const waiting = deadlines.start(() => {
      timedOut = true
      reject(backendTimeoutError(deadlines.ms))
    })
    settle().then(
      (value) => { deadlines.cancel(waiting); resolve(value) },
      (error) => { deadlines.cancel(waiting); reject(error) }
    )
  })
}

/** What a backend reads: its `credential`, or, when it declares none, a credential of its own. */
function credentialOf (backend: AuthenticationBackend): unknown {
  return backend.credential ?? backend
}

/** What the backends of one request answered so far. */
class Chain {
  #winner: AuthenticationBackend | undefined
  #result: AuthenticationResult | null = null
  // The credentials a backend admitted the caller with.
  #admitted: unknown[] | undefined
  // Each rejected credential's refusal, in the order they were rejected, until a backend reading
  // the same credential admits the caller.
  #rejections: Map<unknown, AuthenticationError> | undefined

  admitted (credential: unknown): boolean {
    return this.#admitted?.includes(credential) === true
  }

  /** A backend's answer, checked against the contract: credentials that have expired are none. */
  answered (backend: AuthenticationBackend, credential: unknown, answer: BackendAnswer): void {
    const result = checkResult(answer)
    if (result === null || hasExpired(result.auth)) return
    ;(this.#admitted ??= []).push(credential)
    this.#rejections?.delete(credential)
    if (this.#winner !== undefined) return
    this.#winner = backend
    this.#result = result
  }

  /** Backends refuse credentials with `AuthenticationError`; anything else thrown stops the chain. */
  rejected (credential: unknown, error: unknown): void {
    if (!(error instanceof AuthenticationError)) throw error
    const rejections = (this.#rejections ??= new Map())
    rejections.set(credential, kept(rejections.get(credential), error))
  }

  /**
   * The caller the chain recognised, `null` for an anonymous one, or a throw of the refusal: the
   * first rejection still standing, whoever recognised the caller.
   */
  outcome (request: FastifyRequest): AuthenticationResult | null {
    let refusal: AuthenticationError | undefined
    if (this.#rejections !== undefined) {
      for (const rejection of this.#rejections.values()) refusal = kept(refusal, rejection)
    }
    if (refusal !== undefined) throw refusal
    // Credentials that expired while later backends were asked are none either: no socket is opened only to be closed.
    if (this.#result === null || hasExpired(this.#result.auth)) return null
    request[kRecognisedBy] = this.#winner
    return this.#result
  }
}

/**
 * Of two refusals, the one the request gets: the first, unless the later one is a 5xx (a backend
 * could not decide, like an unreachable key set): the credentials may then be good, and the caller
 * must not be told they are not.
 */
function kept (first: AuthenticationError | undefined, next: AuthenticationError): AuthenticationError {
  return first === undefined || (next.statusCode >= 500 && first.statusCode < 500) ? next : first
}
