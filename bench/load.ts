// The servers, each in its own process pinned to core 1, and the load, from this process on core 0:
// keep-alive connections sending requests serialized once, in turn from a cycle (tokens, routes).
import { fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import type { AppName } from './apps'
import type { Message } from './server'

const TASKSET = '/usr/bin/taskset'
export const pinned = existsSync(TASKSET)
/**
 * Every server's young generation fixed at 16 MB a semi-space: left to V8, it is sized from what
 * the app allocated while starting, and two apps compared would collect garbage at different rates
 * for a reason in neither's request path.
 */
const NODE_FLAGS = ['--min-semi-space-size=16', '--max-semi-space-size=16']
const CONNECTIONS = 64
const TIMEOUT_MS = 20_000

export interface Server {
  readonly url: string
  readonly startupMs: number
  /** CPU seconds the server has used so far. */
  cpu: () => Promise<number>
  exit: () => Promise<void>
}

export async function startServer (name: AppName): Promise<Server> {
  const script = path.join(__dirname, 'server.js')
  const command = [...(pinned ? [TASKSET, '-c', '1'] : []), process.execPath, ...NODE_FLAGS]
  const child = fork(script, [name], { execPath: command[0], execArgv: command.slice(1), stdio: 'inherit' })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const next = async <T extends Message['type']>(type: T): Promise<Extract<Message, { type: T }>> => await new Promise((resolve, reject) => {
    const timer = setTimeout(() => settle(new Error(`the ${name} server did not answer`)), TIMEOUT_MS)
    const onExit = (): void => settle(new Error(`the ${name} server exited`))
    const onMessage = (message: Message): void => { if (message.type === type) settle(undefined, message) }
    function settle (error: Error | undefined, message?: Message): void {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
      if (error === undefined) return resolve(message as Extract<Message, { type: T }>)
      child.kill()
      reject(error)
    }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
  const ready = await next('ready')
  return {
    url: `http://127.0.0.1:${ready.port}`,
    startupMs: ready.startupMs,
    async cpu () {
      const usage = next('usage')
      child.send('usage')
      return (await usage).cpu
    },
    async exit () {
      child.disconnect()
      await exited
    }
  }
}

/** `GET` requests serialized once, sent in turn; `next` goes on from one load to the next. */
export interface Cycle {
  readonly buffers: readonly Buffer[]
  readonly expect: readonly number[]
  next: number
}

export function cycle (requests: ReadonlyArray<{ path: string, authorization: string }>, expect: readonly number[]): Cycle {
  const buffers = requests.map(({ path, authorization }) =>
    Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${authorization}\r\n\r\n`, 'latin1'))
  return { buffers, expect, next: 0 }
}

/**
 * Loads a server for `seconds`, or until `amount` requests are answered, and counts the answers.
 * Every answer must have a status the cycle expects: a misconfigured app must not look fast.
 */
export async function load (url: string, requests: Cycle, limit: { seconds: number } | { amount: number }): Promise<number> {
  const { hostname, port } = new URL(url)
  const deadline = 'seconds' in limit ? performance.now() + limit.seconds * 1000 : Infinity
  const amount = 'amount' in limit ? limit.amount : Infinity
  let sent = 0
  let answered = 0
  return await new Promise((resolve, reject) => {
    let open = CONNECTIONS
    let failure: Error | undefined
    const sockets: net.Socket[] = []
    const fail = (error: Error): void => {
      failure ??= error
      for (const socket of sockets) socket.destroy()
    }
    let seen = -1
    const watchdog = setInterval(() => {
      if (answered === seen) fail(new Error(`${url}: no answer in ${TIMEOUT_MS / 1000} s`))
      seen = answered
    }, TIMEOUT_MS)
    for (let i = 0; i < CONNECTIONS; i++) {
      const socket = net.connect(Number(port), hostname)
      sockets.push(socket)
      socket.setNoDelay(true)
      const send = (): void => {
        if (performance.now() >= deadline || sent >= amount) {
          socket.end()
          return
        }
        sent++
        socket.write(requests.buffers[requests.next])
        requests.next = (requests.next + 1) % requests.buffers.length
      }
      // Answers are framed by their Content-Length, which every benchmarked answer has.
      let pending: Buffer | undefined
      let length = -1
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
            if (contentLength === null || !requests.expect.includes(status)) return fail(new Error(`${url}: status ${status}, expected ${requests.expect.join('/')}`))
            length = end + 4 + Number(contentLength[1])
          }
          if (pending.length < length) return
          pending = pending.length === length ? undefined : pending.subarray(length)
          length = -1
          answered++
          send()
        }
      })
      socket.on('error', fail)
      socket.on('close', () => {
        if (--open > 0) return
        clearInterval(watchdog)
        if (failure !== undefined) reject(failure)
        else resolve(answered)
      })
    }
  })
}
