import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import * as OtelSdk from "../src/OtelSdk.js"
import * as TraceContext from "../src/TraceContext.js"
import * as Tracing from "../src/Tracing.js"

const supervisorSpan = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
const saved = { ...process.env }
afterEach(() => {
  delete process.env.TRACEPARENT
  delete process.env.TRACESTATE
  Object.assign(process.env, saved)
})

const spanInside = Effect.currentSpan.pipe(Effect.orDie)

describe("Tracing with Effect's own tracer", () => {
  it.effect("phase runs the effect in a duende.<phase> span naming the daemon", () =>
    Effect.gen(function*() {
      for (const phase of ["init", "run", "shutdown", "reload", "health"] as const) {
        const span = yield* spanInside.pipe(Tracing.phase(phase, "orders", { attempt: 2 }))
        expect(span.name).toBe(`duende.${phase}`)
        expect(span.attributes.get("duende.daemon")).toBe("orders")
        expect(span.attributes.get("attempt")).toBe(2)
      }
    }))

  it.effect("a failing phase fails its span and passes the error on", () =>
    Effect.gen(function*() {
      let span: Tracer.Span | undefined
      const result = yield* Effect.flip(
        Effect.tap(spanInside, (s) => Effect.sync(() => (span = s))).pipe(
          Effect.zipRight(Effect.fail("no database")),
          Tracing.phase("init", "orders")
        )
      )
      expect(result).toBe("no database")
      expect(span?.status._tag).toBe("Ended")
      const status = span!.status as Extract<Tracer.SpanStatus, { _tag: "Ended" }>
      expect(status.exit._tag).toBe("Failure")
    }))

  it.effect("spawn hands the child the spawn span as TRACEPARENT", () =>
    Effect.gen(function*() {
      const { env, span } = yield* Tracing.spawn("orders", (env) => Effect.map(spanInside, (span) => ({ env, span })))
      expect(span.name).toBe("duende.spawn")
      expect(span.attributes.get("duende.daemon")).toBe("orders")
      expect(TraceContext.fromEnv(env)).toEqual(
        Option.some({ traceId: span.traceId, spanId: span.spanId, flags: 1, traceState: [] })
      )
    }))

  it.effect("childEnv is empty outside any span", () =>
    Effect.map(Tracing.childEnv, (env) => expect(env).toEqual({})))

  it.effect("layerParentFromEnv makes the supervisor's span the parent, and forwards tracestate", () =>
    Effect.gen(function*() {
      process.env.TRACEPARENT = supervisorSpan
      process.env.TRACESTATE = "duende=s1,other=x"
      const { span, env } = yield* Effect.all({ span: spanInside, env: Tracing.childEnv }).pipe(
        Tracing.phase("init", "orders"),
        Effect.provide(Tracing.layerParentFromEnv)
      )
      expect(span.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736")
      const parent = Option.getOrThrow(span.parent)
      expect(parent._tag).toBe("ExternalSpan")
      expect(parent.spanId).toBe("00f067aa0ba902b7")
      // The grandchild gets the init span as parent, and the same tracestate.
      expect(env).toEqual({
        TRACEPARENT: `00-${span.traceId}-${span.spanId}-01`,
        TRACESTATE: "duende=s1,other=x"
      })
    }))

  it.effect("without TRACEPARENT the layer adds nothing: spans are roots", () =>
    Effect.gen(function*() {
      const span = yield* spanInside.pipe(Tracing.phase("init", "orders"), Effect.provide(Tracing.layerParentFromEnv))
      expect(Option.isNone(span.parent)).toBe(true)
    }))
})

describe("Tracing through OpenTelemetry (@effect/opentelemetry, in-memory exporter)", () => {
  const run = <A, E>(program: Effect.Effect<A, E>) => {
    const exporter = new InMemorySpanExporter()
    const sdk = NodeSdk.layer(() => ({
      resource: { serviceName: "orders" },
      spanProcessor: new SimpleSpanProcessor(exporter)
    }))
    // Read the spans before the SDK shuts down: shutting down clears the in-memory exporter.
    return Effect.provide(Effect.zipRight(program, Effect.sync(() => exporter.getFinishedSpans())), sdk)
  }
  const parentLayer = Layer.unwrapEffect(
    Effect.sync(() =>
      Option.match(OtelSdk.parentFromEnv(), {
        onNone: () => Layer.empty,
        onSome: (span) => Layer.parentSpan(span) as Layer.Layer<never>
      })
    )
  )

  it.effect("a sampled parent from TRACEPARENT: spans export with its ids and its tracestate", () =>
    Effect.gen(function*() {
      process.env.TRACEPARENT = supervisorSpan
      process.env.TRACESTATE = "duende=s1"
      const spans = yield* run(
        Effect.all([
          Effect.void.pipe(Tracing.phase("init", "orders")),
          Effect.void.pipe(Tracing.phase("run", "orders"))
        ]).pipe(Effect.provide(parentLayer))
      )
      expect(spans.map((s) => s.name).sort()).toEqual(["duende.init", "duende.run"])
      for (const span of spans) {
        expect(span.spanContext().traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736")
        expect(span.parentSpanContext?.spanId).toBe("00f067aa0ba902b7")
        expect(span.parentSpanContext?.isRemote).toBe(true)
        expect(span.spanContext().traceState?.serialize()).toBe("duende=s1")
        expect(span.attributes["duende.daemon"]).toBe("orders")
      }
    }))

  it.effect("an unsampled parent (flags 00): the daemon's spans are not recorded either", () =>
    Effect.gen(function*() {
      process.env.TRACEPARENT = supervisorSpan.replace(/-01$/, "-00")
      const spans = yield* run(Effect.void.pipe(Tracing.phase("init", "orders"), Effect.provide(parentLayer)))
      expect(spans).toEqual([])
    }))

  it.effect("the supervisor side: spawn's TRACEPARENT names the exported spawn span", () =>
    Effect.gen(function*() {
      let env: Record<string, string> = {}
      const [spawn] = yield* run(Tracing.spawn("orders", (e) => Effect.sync(() => (env = e))))
      expect(spawn?.name).toBe("duende.spawn")
      expect(env.TRACEPARENT).toBe(`00-${spawn!.spanContext().traceId}-${spawn!.spanContext().spanId}-01`)
    }))
})
