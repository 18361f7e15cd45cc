/**
 * http-counter: a small HTTP daemon written once with Duende.
 *
 *   GET /          counts the request and returns the count
 *   GET /healthz   200 while healthy (the same check Duende's health loop runs)
 *   GET /metrics   Prometheus text: requests, uptime
 *
 * Listens on $HOST:$PORT (default 127.0.0.1:8080). SIGTERM/Ctrl-C drain the
 * server gracefully; SIGHUP logs the reload and keeps serving.
 */
import { Daemon, HealthStatus } from "@duende/core"
import * as Effect from "effect/Effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"

interface Counter {
  requests: number
  readonly startedAt: number
}

const route = (counter: Counter) => (request: IncomingMessage, response: ServerResponse) => {
  switch (request.url) {
    case "/healthz":
      response.writeHead(200, { "content-type": "text/plain" }).end("ok\n")
      return
    case "/metrics":
      response.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(
        [
          "# HELP http_counter_requests_total Requests counted on /.",
          "# TYPE http_counter_requests_total counter",
          `http_counter_requests_total ${counter.requests}`,
          "# HELP http_counter_uptime_seconds Seconds since the daemon started.",
          "# TYPE http_counter_uptime_seconds gauge",
          `http_counter_uptime_seconds ${((Date.now() - counter.startedAt) / 1000).toFixed(3)}`,
          ""
        ].join("\n")
      )
      return
    case "/":
      counter.requests++
      response.writeHead(200, { "content-type": "text/plain" }).end(`${counter.requests}\n`)
      return
    default:
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n")
  }
}

/** Listens, and closes gracefully (idle keep-alive connections first) when the scope ends. */
const listen = (counter: Counter, host: string, port: number) =>
  Effect.acquireRelease(
    Effect.async<Server, Error>((resume) => {
      const server = createServer(route(counter))
      server.once("error", (error) => resume(Effect.fail(error)))
      server.listen(port, host, () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeIdleConnections()
      })
  )

const daemon = Daemon.make({
  name: "http-counter",
  init: (ctx) =>
    Effect.gen(function*() {
      const counter: Counter = { requests: 0, startedAt: Date.now() }
      const host = process.env.HOST ?? "127.0.0.1"
      const port = Number(process.env.PORT ?? 8080)
      const server = yield* listen(counter, host, port)
      yield* ctx.status(`serving http://${host}:${port}`)
      return { counter, server }
    }),
  run: () => Effect.never,
  health: ({ state }) =>
    Effect.succeed(HealthStatus.fromChecks([{ name: "http", passed: state.server.listening }])),
  reload: (ctx) => Effect.log(`reloaded (${ctx.state.counter.requests} requests so far)`),
  shutdown: (ctx) => Effect.log(`shutting down after ${ctx.state.counter.requests} requests`)
})

Daemon.runMain(daemon)
