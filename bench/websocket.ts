// WebSocket handshakes per second (autocannon cannot do these): `concurrency` clients in a loop,
// each closed as soon as it opened, or as soon as the refusal arrived.
//
// Two clients: 'raw' writes the RFC 6455 upgrade request on a TCP socket and reads the status
// line; 'ws' is the ws package's client. The ws client costs the load core more than the server
// spends refusing a handshake, so with it the load, not the server, sets the rate (see the
// server CPU column); raw is the default for that reason.
import net from 'node:net'
import WebSocket from 'ws'

export type HandshakeClient = 'raw' | 'ws'

export interface HandshakeLoad {
  url: string
  headers: Record<string, string>
  /** 101 (opened) or the status the refusal must have. */
  expect: number
  concurrency: number
  /** Seconds during which new handshakes start. */
  duration: number
  /** At most this many handshakes in all. */
  limit: number
  client?: HandshakeClient
}

export interface HandshakeResult {
  rps: number
  total: number
  seconds: number
}

const HANDSHAKE_TIMEOUT = 5000

type Outcome = number | string

export async function runHandshakes (load: HandshakeLoad): Promise<HandshakeResult> {
  const handshake = load.client === 'ws' ? wsClient(load) : rawClient(load)
  const started = performance.now()
  const deadline = started + load.duration * 1000
  let begun = 0
  let total = 0
  const failures = new Map<string, number>()

  async function client (): Promise<void> {
    while (performance.now() < deadline && begun < load.limit) {
      begun++
      const outcome = await handshake()
      if (outcome === load.expect) {
        total++
      } else {
        failures.set(String(outcome), (failures.get(String(outcome)) ?? 0) + 1)
      }
    }
  }

  await Promise.all(Array.from({ length: load.concurrency }, client))
  const seconds = (performance.now() - started) / 1000
  if (failures.size > 0 || total === 0) {
    throw new Error(`${load.url}: expected ${load.expect}, got ${JSON.stringify(Object.fromEntries(failures))} and ${total} as expected`)
  }
  return { rps: total / seconds, total, seconds }
}

/** One handshake with the ws package: 101 if it opened, the refusal's status, or the error's message. */
function wsClient ({ url, headers }: HandshakeLoad): () => Promise<Outcome> {
  return () => new Promise((resolve) => {
    let settled = false
    const socket = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: HANDSHAKE_TIMEOUT })
    const settle = (outcome: Outcome): void => {
      if (settled) return
      settled = true
      resolve(outcome)
      socket.terminate()
    }
    socket.on('open', () => settle(101))
    socket.on('unexpected-response', (_request, response) => settle(response.statusCode ?? 'no status'))
    socket.on('error', (error) => settle(error.message))
  })
}

/** One handshake on a bare TCP socket: the status of the server's answer, or what went wrong. */
function rawClient ({ url, headers }: HandshakeLoad): () => Promise<Outcome> {
  const { hostname, port, pathname } = new URL(url)
  const request = Buffer.from([
    `GET ${pathname} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    // Any 16 bytes in base64 will do: the key only proves the server read the request.
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    '',
    ''
  ].join('\r\n'), 'latin1')
  return () => new Promise((resolve) => {
    let head = ''
    const socket = net.connect(Number(port), hostname)
    const settle = (outcome: Outcome): void => {
      socket.destroy()
      clearTimeout(timer)
      resolve(outcome)
    }
    const timer = setTimeout(() => settle('timeout'), HANDSHAKE_TIMEOUT)
    socket.setNoDelay(true)
    socket.write(request)
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1')
      if (!head.includes('\r\n')) return
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(head)
      settle(status === null ? 'not HTTP' : Number(status[1]))
    })
    socket.on('error', (error) => settle(error.message))
    socket.on('close', () => settle('closed without an answer'))
  })
}
