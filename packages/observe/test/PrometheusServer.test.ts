import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { request } from "node:http"
import * as MetricsRegistry from "../src/MetricsRegistry.js"
import * as PrometheusServer from "../src/PrometheusServer.js"

const get = (url: string, method = "GET", agent?: false) =>
  Effect.async<{ status: number; headers: Record<string, unknown>; body: string }, Error>((resume) => {
    const req = request(url, { method, ...(agent === false ? { agent } : {}) }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", () => resume(Effect.succeed({ status: res.statusCode ?? 0, headers: res.headers, body })))
    })
    req.on("error", (error) => resume(Effect.fail(error)))
    req.end()
  })

describe("PrometheusServer", () => {
  it.scoped("serves the registry at /metrics on loopback, with the exposition content type", () =>
    Effect.gen(function*() {
      const registry = yield* MetricsRegistry.make({ effectMetrics: false })
      const hits = registry.counter({ name: "hits_total", help: "Hits." })
      hits.inc({}, 41)
      const server = yield* PrometheusServer.make(registry)
      expect(server.host).toBe("127.0.0.1")
      expect(server.port).toBeGreaterThan(0)
      expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`)
      hits.inc({})
      const response = yield* get(server.url)
      expect(response.status).toBe(200)
      expect(response.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8")
      expect(response.body).toBe("# HELP hits_total Hits.\n# TYPE hits_total counter\nhits_total 42\n")
      const head = yield* get(server.url, "HEAD")
      expect(head.status).toBe(200)
      expect(head.body).toBe("")
      expect(Number(head.headers["content-length"])).toBe(response.body.length)
    }))

  it.scoped("404 elsewhere, 405 for other methods, query strings ignored; a custom path", () =>
    Effect.gen(function*() {
      const registry = yield* MetricsRegistry.make({ effectMetrics: false })
      const server = yield* PrometheusServer.make(registry, { path: "/stats" })
      const base = `http://127.0.0.1:${server.port}`
      expect((yield* get(`${base}/metrics`)).status).toBe(404)
      expect((yield* get(`${base}/stats?x=1`)).status).toBe(200)
      expect((yield* get(`${base}/stats`, "POST")).status).toBe(405)
    }))

  it.effect("closing the scope closes the port, even with a keep-alive connection open", () =>
    Effect.gen(function*() {
      const registry = yield* MetricsRegistry.make({ effectMetrics: false })
      const scope = yield* Scope.make()
      const server = yield* Scope.extend(PrometheusServer.make(registry), scope)
      expect((yield* get(server.url)).status).toBe(200)
      yield* Scope.close(scope, Exit.void)
      // The kept-alive connection was closed by the server, and nothing listens any more.
      const reused = yield* Effect.either(get(server.url))
      expect(Either.isLeft(reused)).toBe(true)
      const fresh = yield* Effect.either(get(server.url, "GET", false))
      expect(Either.isLeft(fresh) && (fresh.left as NodeJS.ErrnoException).code).toBe("ECONNREFUSED")
    }))

  it.scoped("a port in use fails with ListenFailed naming the address", () =>
    Effect.gen(function*() {
      const registry = yield* MetricsRegistry.make({ effectMetrics: false })
      const first = yield* PrometheusServer.make(registry)
      const second = yield* Effect.flip(PrometheusServer.make(registry, { port: first.port }))
      expect(second._tag).toBe("ListenFailed")
      expect(second.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${first.port}: .*EADDRINUSE`))
    }))

  it.effect("as a layer over the registry in context", () =>
    Effect.gen(function*() {
      const server = yield* PrometheusServer.PrometheusServer
      const registry = yield* MetricsRegistry.MetricsRegistry
      registry.gauge({ name: "layered", help: "Layered." }).set({}, 5)
      expect((yield* get(server.url)).body).toContain("layered 5\n")
    }).pipe(
      Effect.provide(PrometheusServer.layer().pipe(Layer.provideMerge(MetricsRegistry.layer({ effectMetrics: false }))))
    ))
})
