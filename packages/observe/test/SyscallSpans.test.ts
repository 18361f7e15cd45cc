// Slow system calls as OpenTelemetry spans (in-memory exporter): one span per call above the
// threshold, with the call's own times and attributes, under the daemon's trace — the TRACEPARENT
// it was started with, read from /proc. Synthetic events for the exact mapping; a real process traced
// by the real strace for the whole path.
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { ProcessTree, SyscallTrace } from "@duende/core/manager"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import * as SyscallSpans from "../src/SyscallSpans.js"
import * as TraceContext from "../src/TraceContext.js"
import * as Tracing from "../src/Tracing.js"

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

const exported = <A, E>(program: Effect.Effect<A, E>) => {
  const exporter = new InMemorySpanExporter()
  const sdk = NodeSdk.layer(() => ({ resource: { serviceName: "supervisor" }, spanProcessor: new SimpleSpanProcessor(exporter) }))
  // Read the spans before the SDK shuts down (that clears the exporter).
  return Effect.provide(Effect.zip(program, Effect.sync(() => exporter.getFinishedSpans())), sdk)
}

const call = (at: number, name: string, durationUs: number, extra: Partial<SyscallTrace.Event> = {}): SyscallTrace.Event =>
  ({ _tag: "Syscall", pid: 10, tid: 11, at, name, args: "3, \"x\", 1", result: "1", durationUs, ...extra }) as SyscallTrace.Event

const micros = (span: ReadableSpan, which: "startTime" | "endTime") => span[which][0] * 1_000_000 + span[which][1] / 1000

describe("SyscallSpans", () => {
  it.effect("one span per call above the threshold, with its times and attributes, under the given parent", () =>
    Effect.gen(function*() {
      const parent = Tracing.toSpan(Option.getOrThrow(TraceContext.parse(traceparent)))
      const events = Stream.fromIterable<SyscallTrace.Event>([
        call(1_796_000_000_000.5, "read", 5_000),
        call(1_796_000_000_100.25, "openat", 25_000, { errno: "ENOENT", result: "-1" }),
        { _tag: "Signal", pid: 10, tid: 10, at: 1_796_000_000_200, signal: "SIGCHLD", info: "{}" },
        call(1_796_000_000_300, "futex", 10_000),
        { _tag: "Exited", pid: 10, tid: 10, at: 1_796_000_000_400, code: 0 }
      ])
      const [count, spans] = yield* exported(SyscallSpans.exportSlow(events, { daemon: "orders", threshold: "10 millis", parent }))
      expect(count).toBe(2)
      expect(spans.map((s) => s.name)).toEqual(["syscall openat", "syscall futex"])
      const [openat, futex] = spans
      expect(openat!.spanContext().traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736")
      expect(openat!.parentSpanContext?.spanId).toBe("00f067aa0ba902b7")
      expect(micros(openat!, "startTime")).toBe(1_796_000_000_100_250)
      expect(micros(openat!, "endTime") - micros(openat!, "startTime")).toBe(25_000)
      expect(openat!.attributes).toEqual({
        "duende.daemon": "orders",
        "syscall.name": "openat",
        "syscall.args": "3, \"x\", 1",
        "syscall.result": "-1",
        "syscall.errno": "ENOENT",
        "syscall.duration_us": 25_000,
        "process.pid": 10,
        "thread.id": 11
      })
      expect(futex!.attributes["syscall.errno"]).toBeUndefined()
    }))

  it.effect("without a parent, under the current span (the supervisor's view)", () =>
    Effect.gen(function*() {
      const [, spans] = yield* exported(
        SyscallSpans.exportSlow(Stream.make(call(1_796_000_000_000, "read", 20_000)), { daemon: "orders" }).pipe(
          Effect.withSpan("duende.trace")
        )
      )
      const outer = spans.find((s) => s.name === "duende.trace")!
      const read = spans.find((s) => s.name === "syscall read")!
      expect(read.parentSpanContext?.spanId).toBe(outer.spanContext().spanId)
      expect(read.spanContext().traceId).toBe(outer.spanContext().traceId)
    }))

  const strace = ["/usr/bin/strace", "/bin/strace"].find(existsSync)
  if (strace === undefined && process.env.DUENDE_REQUIRE_INTEGRATION === "1") throw new Error("strace is missing (apt-get install strace)")
  it.live.skipIf(strace === undefined)("a real process traced by strace: its slow wait4 calls become spans in the trace it was started in", () =>
    Effect.scoped(Effect.gen(function*() {
      // A shell that waits 300 ms for each child: wait4 is slow.
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => spawn("/bin/sh", ["-c", "while :; do sleep 0.3; done"], { env: { ...process.env, TRACEPARENT: traceparent }, stdio: "ignore" })),
        (c) => Effect.sync(() => c.kill("SIGKILL"))
      )
      expect(Option.isSome(SyscallSpans.daemonParent(child.pid!))).toBe(true)
      const events = yield* SyscallTrace.attach({ pid: child.pid!, startedAt: ProcessTree.startTime(child.pid!)! }, { filter: ["wait4"], duration: "2s" })
      const [count, spans] = yield* exported(SyscallSpans.exportSlow(events, { daemon: "sh", threshold: "100 millis" }))
      expect(count).toBeGreaterThanOrEqual(2)
      expect(spans.length).toBe(count)
      for (const span of spans) {
        expect(span.name).toBe("syscall wait4")
        expect(span.spanContext().traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736")
        expect(span.parentSpanContext?.spanId).toBe("00f067aa0ba902b7")
        expect(span.attributes["process.pid"]).toBe(child.pid)
        expect(span.attributes["syscall.duration_us"]).toBeGreaterThanOrEqual(100_000)
        expect(micros(span, "endTime") - micros(span, "startTime")).toBe(span.attributes["syscall.duration_us"])
      }
    })))
})
