// npm run client -- ws://127.0.0.1:3000/ws [-H 'Name: value']...
// A WebSocket client for trying the example without downloading one: it connects, prints what
// the server sends, sends each line typed on stdin, and says why a handshake was refused.
import { createInterface } from 'node:readline'
import WebSocket from 'ws'

const usage = "usage: npm run client -- ws://127.0.0.1:3000/ws [-H 'Authorization: Bearer alice-token']"

/** The URL and headers from the command line, or a message saying what is wrong with it. */
function parse (args) {
  let url
  const headers = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === '-H' || arg === '--header') {
      const header = args[++i]
      const colon = String(header).indexOf(':')
      if (colon < 1) return { error: `${arg} needs a header like 'Authorization: Bearer alice-token'${header === undefined ? '' : `, not ${header}`}` }
      headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim()
    } else if (url === undefined && /^wss?:\/\//.test(arg)) {
      url = arg
    } else {
      return { error: `unexpected argument ${JSON.stringify(arg)}` }
    }
  }
  return url === undefined ? { error: 'give the ws:// URL to connect to' } : { url, headers }
}

const options = parse(process.argv.slice(2))
if (options.error !== undefined) {
  console.error(`${options.error}\n${usage}`)
  process.exit(2)
}

const socket = new WebSocket(options.url, { headers: options.headers })

socket.on('unexpected-response', (_request, response) => {
  // The server answered the handshake with something other than 101: print it, and its body.
  let body = ''
  response.setEncoding('utf8')
  response.on('data', (chunk) => { body += chunk })
  response.on('end', () => {
    console.log(`refused: ${response.statusCode} ${response.statusMessage} ${body}`.trimEnd())
    process.exit(1)
  })
})

socket.on('open', () => {
  console.log(`connected to ${options.url} (type a line to send it; Ctrl-D or Ctrl-C to close)`)
  const lines = createInterface({ input: process.stdin, terminal: false })
  lines.on('line', (line) => socket.send(line))
  lines.on('close', () => socket.close(1000))
})

socket.on('message', (data) => console.log(`< ${String(data)}`))

socket.on('close', (code) => {
  console.log(`closed (${code})`)
  process.exit(0)
})

socket.on('error', (error) => {
  console.error(`could not connect to ${options.url}: ${error.message}`)
  process.exit(1)
})
