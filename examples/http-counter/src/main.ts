/**
 * http-counter: a small HTTP daemon written once with Duende.
 *
 *   GET /          counts the request and returns the count
 *   GET /healthz   200 while healthy (the same check Duende's health loop runs)
 *   GET /metrics   Prometheus text: requests, uptime
 *
 * Listens on the socket its manager holds for it (a config's `listen`, or a
 * systemd `.socket` unit), else on $HOST:$PORT (default 127.0.0.1:8080).
 * SIGTERM/Ctrl-C drain the server (HttpDrain: keep-alive clients are told to
 * go, idle connections closed); SIGHUP logs the reload and keeps serving.
 */
import { Daemon, HealthStatus, HttpDrain } from "@duende/core"
import * as Effect from "effect/Effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"

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

const daemon = Daemon.make({
  name: "http-counter",
  init: (ctx) =>
    Effect.gen(function*() {
      const counter: Counter = { requests: 0, startedAt: Date.now() }
      const host = process.env.HOST ?? "127.0.0.1"
      const port = Number(process.env.PORT ?? 8080)
      const { address, server } = yield* HttpDrain.serve(createServer(route(counter)), ctx, { host, port, drainTimeout: "5 seconds" })
      yield* ctx.status(address.startsWith("fd ") ? `serving on the held socket, ${address}` : `serving http://${address}`)
      return { counter, server }
    }),
  run: () => Effect.never,
  health: ({ state }) =>
    Effect.succeed(HealthStatus.fromChecks([{ name: "http", passed: state.server.listening }])),
  reload: (ctx) => Effect.log(`reloaded (${ctx.state.counter.requests} requests so far)`),
  shutdown: (ctx) => Effect.log(`shutting down after ${ctx.state.counter.requests} requests`)
})

Daemon.runMain(daemon)
