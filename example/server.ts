import { buildApp } from './app'

/** PORT as a number, or a line saying what it must be. */
function port (): number {
  const value = process.env.PORT ?? '3000'
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new StartError(`PORT must be a port number from 0 to 65535, like PORT=3001 npm start, not ${JSON.stringify(value)}`)
  }
  return Number(value)
}

/** A reason the example cannot start that one line explains: printed without a stack. */
class StartError extends Error {}

async function main (): Promise<void> {
  const wanted = port()
  const app = await buildApp(process.env.LOG === '1')
  let address: string
  try {
    address = await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: wanted })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      const other = wanted < 65535 ? wanted + 1 : wanted - 1
      throw new StartError(`port ${wanted} is in use: set PORT to another port, like PORT=${other} npm start`)
    }
    throw error
  }
  const ws = address.replace(/^http/, 'ws')
  const alice = "-H 'Authorization: Bearer alice-token'"
  const admin = "-H 'Authorization: Bearer admin-token'"
  // Each comment starts with the status the app answers: test/example.test.ts checks them all.
  const commands: Array<[string, string]> = [
    [`curl -i ${address}/`, '200 public: anonymous, no scopes'],
    [`curl -i ${address}/api/me`, '401 WWW-Authenticate: Cookie, Bearer realm="example"'],
    [`curl -i ${alice} ${address}/api/me`, '200 {"user":"alice"}'],
    [`curl -i -H 'Authorization: Bearer nope' ${address}/api/me`, '401 Bearer realm="example", error="invalid_token", error_description="token unknown"'],
    [`curl -i ${alice} ${address}/api/admin`, '403 Bearer realm="example", error="insufficient_scope", scope="admin"'],
    [`curl -i ${admin} ${address}/api/admin`, '200 {"admin":"root"}'],
    [`curl -i ${address}/admin`, '303 to /login?next=%2Fadmin'],
    [`curl -i ${admin} ${address}/admin`, '200 Welcome, root'],
    [`npm run client -- ${ws}/ws`, '403 refused: handshakes are refused with 403, never 401'],
    [`npm run client -- ${ws}/ws ${alice}`, '101 connected: hello alice, then type lines to echo them']
  ]
  const width = Math.max(...commands.map(([command]) => command.length)) + 2
  console.log(`fastify-authentication example listening at ${address}

Try it:
${commands.map(([command, comment]) => `  ${command.padEnd(width)}# ${comment}`).join('\n')}

In a browser: ${address}/demo
  log in as alice (password wonderland) or root (admin), then open a WebSocket with the session
  cookie or with a single-use ticket; tick "short session" to see the socket closed with 1008.
`)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof StartError ? error.message : error)
  process.exit(1)
})
