// HTTP load with autocannon, in this process: requests per second, and a check that every
// answer had the status the path expects (a misconfigured variant must not look fast).
import autocannon from 'autocannon'

export const CONNECTIONS = 64

export interface HttpLoad {
  url: string
  /** The requests each connection sends in turn. */
  requests: Array<{ headers: Record<string, string> }>
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

export async function runHttp (load: HttpLoad): Promise<HttpResult> {
  const result = await autocannon({
    url: load.url,
    connections: CONNECTIONS,
    requests: load.requests,
    ...(load.amount === undefined ? { duration: load.duration ?? 1 } : { amount: load.amount }),
    timeout: 10,
    // autocannon stops on a sample tick: small samples make the duration what was asked.
    sampleInt: 100
  })
  const statuses = Object.entries(result.statusCodeStats ?? {}).map(([status, { count = 0 }]) => [Number(status), count] as const)
  const unexpected = statuses.filter(([status, count]) => count > 0 && !load.expect.includes(status))
  if (result.errors > 0 || result.timeouts > 0 || unexpected.length > 0 || result.requests.total === 0) {
    throw new Error(`${load.url}: ${result.errors} errors, ${result.timeouts} timeouts, statuses ${JSON.stringify(Object.fromEntries(statuses))} (expected ${load.expect.join('/')})`)
  }
  return { rps: result.requests.total / result.duration, total: result.requests.total, seconds: result.duration }
}
