// OTLP/HTTP export to a receiver in this test, across two real processes: this
// process plays the supervisor (a duende.spawn span, under an upstream trace
// with a tracestate), the child is a daemon run by core's lifecycle with its
// hooks in lifecycle spans. The receiver decodes what the exporters send and
// checks names, trace and parent ids, attributes, tracestate and RED metrics.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type ChildProcess, spawn } from "node:child_process"
import { createServer, type Server } from "node:http"
import { createRequire } from "node:module"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import * as OtelSdk from "../src/OtelSdk.js"
import * as Tracing from "../src/Tracing.js"

interface Received {
  readonly path: string
  readonly contentType: string
  readonly body: any
}

type Attribute = { key: string; value: Record<string, unknown> }
interface Span {
  readonly service: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string
  readonly name: string
  readonly traceState: string
  readonly attributes: Record<string, unknown>
}

// OTLP/JSON carries ids as hex; tolerate base64 (the protobuf JSON mapping) too.
const hex = (id: unknown): string =>
  typeof id !== "string" || id === "" ? "" : /^[0-9a-f]+$/.test(id) ? id : Buffer.from(id, "base64").toString("hex")
const attributes = (list: ReadonlyArray<Attribute> | undefined) =>
  Object.fromEntries((list ?? []).map(({ key, value }) => [key, Object.values(value)[0]]))

const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href
const fixture = join(__dirname, "fixtures", "traced-daemon.ts")
const upstream = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331" }

describe("OTLP/HTTP export: the supervisor's spawn span parents the daemon's lifecycle spans", () => {
  const received: Array<Received> = []
  let server: Server
  let endpoint = ""
  let child: ChildProcess | undefined
  let childOut = ""
  let childErr = ""
  let exitCode: number | null = null

  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        const contentType = request.headers["content-type"] ?? ""
        const raw = Buffer.concat(chunks)
        received.push({
          path: request.url ?? "",
          contentType,
          body: contentType.startsWith("application/json") ? JSON.parse(raw.toString("utf8")) : raw
        })
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`

    // The supervisor: spawn the daemon inside duende.spawn, under an upstream trace.
    const parent = Option.getOrThrow(
      OtelSdk.parentFromEnv({ TRACEPARENT: `00-${upstream.traceId}-${upstream.spanId}-01`, TRACESTATE: "ci=run42" })
    )
    await Effect.runPromise(
      Tracing.spawn("orders", (traceEnv) =>
        Effect.async<void, Error>((resume) => {
          child = spawn(process.execPath, ["--import", tsx, fixture], {
            env: { ...process.env, ...traceEnv, OTLP_ENDPOINT: endpoint },
            stdio: ["ignore", "pipe", "pipe"]
          })
          child.stdout!.on("data", (chunk: Buffer) => {
            childOut += chunk.toString()
            // The spawn span ends when the daemon runs, as a supervisor's would at readiness.
            if (childOut.includes("run\n")) resume(Effect.void)
          })
          child.stderr!.on("data", (chunk: Buffer) => (childErr += chunk.toString()))
          child.once("exit", (code) => {
            exitCode = code
            resume(Effect.fail(new Error(`daemon exited ${code} early:\n${childOut}\n${childErr}`)))
          })
        }), { "duende.attempt": 1 }).pipe(
        Effect.withParentSpan(parent),
        Effect.provide(OtelSdk.layer({ serviceName: "duende-supervisor", endpoint, metrics: false }))
      )
    )
    if (exitCode === null) await new Promise((resolve) => child!.once("exit", (code) => resolve((exitCode = code))))
  }, 60_000)

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill("SIGKILL")
    await new Promise((resolve) => server.close(resolve))
  })

  const spans = (): ReadonlyArray<Span> =>
    received.filter((r) => r.path === "/v1/traces").flatMap((r) =>
      (r.body.resourceSpans ?? []).flatMap((rs: any) => {
        const service = String(attributes(rs.resource?.attributes)["service.name"])
        return (rs.scopeSpans ?? []).flatMap((ss: any) =>
          (ss.spans ?? []).map((s: any): Span => ({
            service,
            traceId: hex(s.traceId),
            spanId: hex(s.spanId),
            parentSpanId: hex(s.parentSpanId),
            name: s.name,
            traceState: s.traceState ?? "",
            attributes: attributes(s.attributes)
          }))
        )
      })
    )

  it("the daemon ran its whole lifecycle and exited gracefully after flushing", () => {
    expect(childErr).not.toMatch(/Error/)
    expect(childOut.split("\n").filter((l) => l !== "")).toEqual(
      expect.arrayContaining(["init", "run", "reload", "shutdown", "exit:Graceful", "flushed"])
    )
    expect(exitCode).toBe(0)
  })

  it("both exporters sent OTLP/JSON over HTTP", () => {
    expect(received.length).toBeGreaterThan(0)
    for (const request of received) {
      expect(request.contentType).toMatch(/^application\/json/)
      expect(["/v1/traces", "/v1/metrics"]).toContain(request.path)
    }
  })

  it("duende.spawn joined the upstream trace and carries the daemon's name", () => {
    const spawnSpan = spans().find((s) => s.name === "duende.spawn")
    expect(spawnSpan).toMatchObject({
      service: "duende-supervisor",
      traceId: upstream.traceId,
      parentSpanId: upstream.spanId,
      traceState: "ci=run42",
      attributes: { "duende.daemon": "orders", "duende.attempt": 1 }
    })
  })

  it("each lifecycle span of the daemon is a child of duende.spawn, in the same trace, with the tracestate", () => {
    const all = spans()
    const spawnSpan = all.find((s) => s.name === "duende.spawn")!
    const daemonSpans = all.filter((s) => s.service === "orders")
    const names = new Set(daemonSpans.map((s) => s.name))
    for (const phase of ["init", "run", "reload", "health", "shutdown"]) expect(names).toContain(`duende.${phase}`)
    for (const span of daemonSpans) {
      expect(span.traceId).toBe(upstream.traceId)
      expect(span.parentSpanId).toBe(spawnSpan.spanId)
      expect(span.traceState).toBe("ci=run42")
      expect(span.attributes["duende.daemon"]).toBe("orders")
      expect(span.spanId).not.toBe(spawnSpan.spanId)
    }
    expect(new Set(daemonSpans.map((s) => s.spanId)).size).toBe(daemonSpans.length)
  })

  it("the daemon's RED metrics arrived through @effect/opentelemetry", () => {
    const metrics = received.filter((r) => r.path === "/v1/metrics").flatMap((r) =>
      (r.body.resourceMetrics ?? []).flatMap((rm: any) => (rm.scopeMetrics ?? []).flatMap((sm: any) => sm.metrics ?? []))
    )
    const point = (name: string) => {
      const metric = metrics.find((m: any) => m.name === name)
      const points = metric?.sum?.dataPoints ?? metric?.histogram?.dataPoints ?? []
      return points.find((p: any) => attributes(p.attributes).daemon === "orders")
    }
    const value = (p: any) => Number(p?.asInt ?? p?.asDouble)
    expect(value(point("duende_requests_total"))).toBe(4)
    expect(value(point("duende_request_errors_total"))).toBe(1)
    const duration = point("duende_request_duration_seconds")
    expect(Number(duration?.count)).toBe(4)
    expect(Number(duration?.sum)).toBeGreaterThan(0.006)
  })
})
