/**
 * A syscall trace (`@duende/core`'s `SyscallTrace`, real strace) as spans:
 * every call that took at least a threshold becomes one span, `syscall
 * <name>`, with the call's own start and end times, under the daemon's trace —
 * by default the span the daemon itself was started under (the `TRACEPARENT`
 * the supervisor's `duende.spawn` span gave it, read from its
 * `/proc/<pid>/environ`), so the supervisor's view and the syscall view meet
 * in one trace. With `@duende/observe/otel` (or any `@effect/opentelemetry`
 * tracer) they are exported as OpenTelemetry spans.
 *
 * @since 0.1.0
 */
import type { SyscallTrace } from "@duende/core/manager"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { readFileSync } from "node:fs"
import * as Tracing from "./Tracing.js"

/**
 * Options of {@link exportSlow}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The daemon's name (the `duende.daemon` attribute). */
  readonly daemon: string
  /** A call becomes a span when it took at least this long (default 10ms). */
  readonly threshold?: Duration.DurationInput
  /**
   * The spans' parent. Default: the trace the traced process was started in
   * ({@link daemonParent} of the first call's pid), else the current span,
   * else none (each span a root).
   */
  readonly parent?: Tracer.AnySpan
}

/** What is read of a process's environment at most (a TRACEPARENT sits among its variables). */
const maxEnviron = 1024 * 1024

/**
 * The span a process was started under: its `TRACEPARENT` (and
 * `TRACESTATE`), read from /proc/<pid>/environ; none when it has none, it is
 * gone, or its environment cannot be read (another user's).
 *
 * @example
 * ```ts
 * import { SyscallSpans } from "@duende/observe/manager"
 *
 * const parent = SyscallSpans.daemonParent(4321) // Option<ExternalSpan>
 * ```
 *
 * @since 0.1.0
 */
export const daemonParent = (pid: number): Option.Option<Tracer.ExternalSpan> => {
  let environ: string
  try {
    environ = readFileSync(`/proc/${pid}/environ`).subarray(0, maxEnviron).toString("utf8")
  } catch {
    return Option.none()
  }
  const env: Record<string, string> = {}
  for (const entry of environ.split("\0")) {
    const at = entry.indexOf("=")
    const name = entry.slice(0, at)
    if (at > 0 && (name === "TRACEPARENT" || name === "TRACESTATE")) env[name] = entry.slice(at + 1)
  }
  return Tracing.parentFromEnv(env)
}

const nanos = (epochMs: number) => BigInt(Math.round(epochMs * 1000)) * 1000n

/**
 * Consumes a trace and records a span for each call of at least `threshold`:
 * named `syscall <name>`, from the call's entry to its return, with the
 * attributes `duende.daemon`, `syscall.name`, `syscall.args`, `syscall.result`,
 * `syscall.errno` (when it failed), `syscall.duration_us`, `process.pid` and
 * `thread.id`. Succeeds with how many spans it recorded. Keeps no event.
 *
 * @example
 * ```ts
 * import { ProcessTree, SyscallTrace } from "@duende/core/manager"
 * import { SyscallSpans } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const pid = 4321
 * const slowCalls = Effect.scoped(
 *   Effect.flatMap(SyscallTrace.attach({ pid, startedAt: ProcessTree.startTime(pid)! }, { duration: "30s" }), (events) =>
 *     SyscallSpans.exportSlow(events, { daemon: "orders", threshold: "50 millis" }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const exportSlow = <E, R>(
  events: Stream.Stream<SyscallTrace.Event, E, R>,
  options: Options
): Effect.Effect<number, E, R> =>
  Effect.gen(function*() {
    const thresholdUs = Duration.toMillis(Duration.decode(options.threshold ?? Duration.millis(10))) * 1000
    const tracer = yield* Effect.tracer
    const current = yield* Effect.option(Effect.currentParentSpan)
    let parent: Option.Option<Tracer.AnySpan> | undefined = options.parent === undefined ? undefined : Option.some(options.parent)
    return yield* Stream.runFold(events, 0, (recorded, event) => {
      if (event._tag !== "Syscall" || event.durationUs === undefined || event.durationUs < thresholdUs) return recorded
      if (parent === undefined) {
        const own = daemonParent(event.pid)
        parent = Option.isSome(own) ? own : current
      }
      const span = tracer.span(`syscall ${event.name}`, parent, Context.empty(), [], nanos(event.at), "internal")
      const attributes: Record<string, unknown> = {
        [Tracing.daemonAttribute]: options.daemon,
        "syscall.name": event.name,
        "syscall.args": event.args,
        "syscall.result": event.result,
        "syscall.duration_us": event.durationUs,
        "process.pid": event.pid,
        "thread.id": event.tid,
        ...(event.errno === undefined ? {} : { "syscall.errno": event.errno })
      }
      for (const [key, value] of Object.entries(attributes)) span.attribute(key, value)
      span.end(nanos(event.at) + BigInt(event.durationUs) * 1000n, Exit.void)
      return recorded + 1
    })
  })
