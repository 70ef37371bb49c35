import { buildApp } from './app'

async function main (): Promise<void> {
  const app = await buildApp(process.env.LOG === '1')
  const address = await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 3000) })
  const ws = address.replace(/^http/, 'ws')
  console.log(`fastify-authentication example listening at ${address}

Try it:
  curl -i ${address}/                                                  # public: anonymous
  curl -i ${address}/api/me                                            # 401 + WWW-Authenticate
  curl -i -H 'Authorization: Bearer alice-token' ${address}/api/me     # 200
  curl -i -H 'Authorization: Bearer nope' ${address}/api/me            # 400 Invalid bearer token
  curl -i ${address}/admin                                             # 303 to /login?next=%2Fadmin
  curl -i -H 'Authorization: Bearer admin-token' ${address}/admin      # 200
  npx wscat -c ${ws}/ws                                                # 403: handshakes are always refused with 403
  npx wscat -H 'Authorization: Bearer alice-token' -c ${ws}/ws         # connected
`)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
