import type { FastifyBaseLogger } from 'fastify'

/**
 * Something the plugin depends on (a store, a key set) that may be out of reach: its outage is
 * logged at error level once when it begins, naming what failed, and once more when it ends,
 * however many requests meet it in between.
 */
export class Outage {
  readonly #what: string
  #down = false

  /** `what` names what failed and what it means, like `the ticket store (the store option) cannot be reached; …`. */
  constructor (what: string) {
    this.#what = what
  }

  failed (error: unknown, log: FastifyBaseLogger): void {
    if (this.#down) return
    this.#down = true
    log.error({ err: error }, this.#what)
  }

  answered (log: FastifyBaseLogger, recovered: string): void {
    if (!this.#down) return
    this.#down = false
    log.info(recovered)
  }
}
