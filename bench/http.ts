// HTTP load, from this process: requests per second, and a check that every answer had the
// status the path expects (a misconfigured variant must not look fast). autocannon sends a few
// requests in turn; a `Cycle` of thousands (routes, tokens) goes over raw keep-alive connections
// instead, each request serialized once: autocannon would either serialize every one of them
// for each connection before it starts, or build each request anew, costing the load core more
// than the server spends answering it.
import net from 'node:net'
import autocannon, { type Request } from 'autocannon'

export const CONNECTIONS = 64
/** The connections a load opens, and the seconds without an answer after which it fails. */
const client = { connections: CONNECTIONS, timeout: 10 }

/**
 * For a server under valgrind (instructions.ts): one request at a time, so that each costs the
 * same (from many connections, a server answers in batches of varying size, and the instructions
 * per request vary with the batch), with patience for the JIT, which can hold an answer for seconds.
 */
export function oneRequestAtATime (): void {
  client.connections = 1
  client.timeout = 120
}

/** Requests sent in turn by whichever connection is free, serialized once; the turn goes on from one load to the next. */
export interface Cycle {
  readonly buffers: readonly Buffer[]
  next: number
}

export interface HttpLoad {
  url: string
  /** The requests each connection sends in turn, or a cycle of many (see above). */
  requests: Request[] | Cycle
  /** Statuses every answer must have. */
  expect: readonly number[]
  /** Seconds, or… */
  duration?: number
  /** …a number of requests. */
  amount?: number
}

export interface HttpResult {
  rps: number
  total: number
  seconds: number
}

/** What a load saw: answers by status, failures. */
interface Outcome {
  statuses: Map<number, number>
  errors: number
  timeouts: number
  total: number
  seconds: number
}

export async function runHttp (load: HttpLoad): Promise<HttpResult> {
  const outcome = Array.isArray(load.requests) ? await withAutocannon(load, load.requests) : await inCycle(load, load.requests)
  const unexpected = [...outcome.statuses].filter(([status, count]) => count > 0 && !load.expect.includes(status))
  if (outcome.errors > 0 || outcome.timeouts > 0 || unexpected.length > 0 || outcome.total === 0) {
    throw new Error(`${load.url}: ${outcome.errors} errors, ${outcome.timeouts} timeouts, statuses ${JSON.stringify(Object.fromEntries(outcome.statuses))} (expected ${load.expect.join('/')})`)
  }
  return { rps: outcome.total / outcome.seconds, total: outcome.total, seconds: outcome.seconds }
}

async function withAutocannon (load: HttpLoad, requests: Request[]): Promise<Outcome> {
  const result = await autocannon({
    url: load.url,
    connections: client.connections,
    requests,
    ...(load.amount === undefined ? { duration: load.duration ?? 1 } : { amount: load.amount }),
    timeout: client.timeout,
    // autocannon stops on a sample tick: small samples make the duration what was asked.
    sampleInt: 100
  })
  const statuses = new Map(Object.entries(result.statusCodeStats ?? {}).map(([status, { count = 0 }]) => [Number(status), count]))
  return { statuses, errors: result.errors, timeouts: result.timeouts, total: result.requests.total, seconds: result.duration }
}

/** `GET` requests for a cycle, each serialized once. */
export function cycle (requests: ReadonlyArray<{ path: string, headers: Record<string, string> }>): Cycle {
  const buffers = requests.map(({ path, headers }) => Buffer.from([
    `GET ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    '',
    ''
  ].join('\r\n'), 'latin1'))
  return { buffers, next: 0 }
}

/**
 * The client's keep-alive connections (CONNECTIONS), each sending the cycle's next request as soon as the
 * answer to its last one is in, until the duration is over or the amount sent. Answers are
 * framed by their Content-Length, which every benchmarked answer has.
 */
function inCycle (load: HttpLoad, requests: Cycle): Promise<Outcome> {
  const { hostname, port } = new URL(load.url)
  const outcome: Outcome = { statuses: new Map(), errors: 0, timeouts: 0, total: 0, seconds: 0 }
  const started = performance.now()
  const deadline = load.amount === undefined ? started + (load.duration ?? 1) * 1000 : Infinity
  let sent = 0
  const more = (): boolean => performance.now() < deadline && (load.amount === undefined || sent < load.amount)
  return new Promise((resolve) => {
    const sockets: net.Socket[] = []
    let open = client.connections
    let answered = 0
    // A load that stops answering fails, as autocannon's timeout would.
    const watchdog = setInterval(() => {
      if (outcome.total === answered) {
        outcome.timeouts++
        for (const socket of sockets) socket.destroy()
      }
      answered = outcome.total
    }, client.timeout * 1000)
    const closed = (): void => {
      if (--open > 0) return
      clearInterval(watchdog)
      outcome.seconds = (performance.now() - started) / 1000
      resolve(outcome)
    }
    for (let i = 0; i < client.connections; i++) {
      const socket = net.connect(Number(port), hostname)
      sockets.push(socket)
      socket.setNoDelay(true)
      let pending: Buffer | undefined
      // The length of the answer being read, once its head is in.
      let length = -1
      const send = (): void => {
        if (!more()) {
          socket.end()
          return
        }
        sent++
        socket.write(requests.buffers[requests.next])
        requests.next = (requests.next + 1) % requests.buffers.length
      }
      socket.on('connect', send)
      socket.on('data', (chunk: Buffer) => {
        pending = pending === undefined ? chunk : Buffer.concat([pending, chunk])
        while (pending !== undefined) {
          if (length === -1) {
            const end = pending.indexOf('\r\n\r\n')
            if (end === -1) return
            const head = pending.toString('latin1', 0, end)
            const status = Number(head.slice(9, 12))
            const contentLength = /\r\ncontent-length: *(\d+)/i.exec(head)
            if (contentLength === null) {
              outcome.errors++
              socket.destroy()
              return
            }
            outcome.statuses.set(status, (outcome.statuses.get(status) ?? 0) + 1)
            length = end + 4 + Number(contentLength[1])
          }
          if (pending.length < length) return
          pending = pending.length === length ? undefined : pending.subarray(length)
          length = -1
          outcome.total++
          send()
        }
      })
      socket.on('error', () => { outcome.errors++ })
      socket.on('close', closed)
    }
  })
}
