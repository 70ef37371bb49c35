import type { AuthenticationBackend } from '../backends/contract'
import type { RoutePlan } from '../routes/plan'

// What the plugin keeps on a request between its two hooks: plain symbol properties, written only
// where they have a value, so that a request the plugin has nothing to say about carries none.

/** A handshake whose `Origin` may not open a WebSocket here. */
export const FOREIGN_ORIGIN = Symbol('fastify-authentication.foreignOrigin')
/** What stopped the chain: an error a backend threw or rejected with, or a foreign Origin. */
export type Failure = Error | typeof FOREIGN_ORIGIN

/** What the `onRequest` hook found wrong, kept for the `preParsing` hook's decision. */
export const kFailure = Symbol('fastify-authentication.failure')
/** The route's plan, as the `onRequest` hook found it: `request.routeOptions` builds a new object on every read. */
export const kPlan = Symbol('fastify-authentication.routePlan')
/** The backend that recognised the caller, for the challenge of a guard's refusal. */
export const kRecognisedBy = Symbol('fastify-authentication.recognisedBy')

declare module 'fastify' {
  interface FastifyRequest {
    [kFailure]: Failure | undefined
    [kPlan]: RoutePlan | undefined
    /** Absent for an anonymous caller. */
    [kRecognisedBy]: AuthenticationBackend | undefined
  }
}
