/** A chain of backends waiting for its answer, until `deadline`. */
export interface Waiting {
  readonly deadline: number
  readonly expire: () => void
  previous: Waiting | undefined
  next: Waiting | undefined
}

/**
 * The `timeout` option of one registration: one timer for all its waiting chains, instead of one
 * per request. They all wait as long, so the order they start in is the order their time runs
 * out: a list, first in first out, with the timer set for its head. When nothing waits, the timer
 * is left to lapse unref'd (it keeps no process alive), and the next wait takes it up again.
 */
export class Deadlines {
  readonly ms: number
  #first: Waiting | undefined
  #last: Waiting | undefined
  #timer: NodeJS.Timeout | undefined

  constructor (ms: number) {
    this.ms = ms
  }

  /** Calls `expire` once `ms` have passed, unless `cancel` comes first. */
  start (expire: () => void): Waiting {
    const waiting: Waiting = { deadline: performance.now() + this.ms, expire, previous: this.#last, next: undefined }
    if (this.#last === undefined) {
      this.#first = waiting
      // A lapsing timer fires no later than this deadline: then it is set for the rest.
      if (this.#timer === undefined) this.#timer = setTimeout(this.#expireDue, this.ms)
      else this.#timer.ref()
    } else {
      this.#last.next = waiting
    }
    this.#last = waiting
    return waiting
  }

  /** Ends a wait, if it has not expired already (a chain may answer after its time ran out). */
  cancel (waiting: Waiting): void {
    if (waiting.previous === undefined && waiting !== this.#first) return
    this.#unlink(waiting)
    // While a chain waits, the timer is set: the list's head always has one.
    if (this.#first === undefined) this.#timer!.unref()
  }

  #unlink (waiting: Waiting): void {
    const { previous, next } = waiting
    if (previous === undefined) this.#first = next
    else previous.next = next
    if (next === undefined) this.#last = previous
    else next.previous = previous
    waiting.previous = waiting.next = undefined
  }

  #expireDue = (): void => {
    this.#timer = undefined
    const now = performance.now()
    // Node's timers count whole milliseconds: a deadline within the last one is due.
    while (this.#first !== undefined && this.#first.deadline <= now + 1) {
      const due = this.#first
      this.#unlink(due)
      due.expire()
    }
    if (this.#first !== undefined) this.#timer = setTimeout(this.#expireDue, this.#first.deadline - now)
  }
}
