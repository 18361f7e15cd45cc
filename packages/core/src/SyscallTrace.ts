/**
 * Direct observation of a running daemon: the system calls it makes, as
 * `strace` (the real tool, Debian's `strace` package) sees them. A trace is a
 * scoped `Stream` of {@link Event}s — each call with its arguments (as strace
 * prints them), result, errno, duration, pid and tid, and time; signals the
 * daemon receives; ends of its processes. {@link summarize} folds one into
 * counts, errors and time per call, like `strace -c`, keeping no event.
 *
 * Adapters find the daemon's real host pid (the native supervisor's child,
 * systemd's MainPID, a container runtime's init pid) and hand it to
 * {@link attach}, which checks that pid is still the daemon (its start time,
 * before and after attaching: a recycled pid is never traced), attaches
 * strace, and detaches it when the scope closes (SIGINT to strace: ptrace
 * detaches, the daemon runs on, same pid).
 *
 * Permissions (see {@link permissions}): attaching needs `ptrace` access to the
 * daemon: the same user (and, with Yama's `kernel.yama.ptrace_scope` 1, being
 * its ancestor) or `CAP_SYS_PTRACE` (root has it); ptrace_scope 2 needs
 * `CAP_SYS_PTRACE` always, 3 forbids attaching altogether.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { AdapterError } from "./AdapterError.js"
import type { ConfigProblem } from "./ConfigError.js"
import { formatIssues } from "./internal/configIssues.js"
import { DurationInput } from "./internal/schemas.js"
import type { DaemonHandle, PlatformAdapter } from "./PlatformAdapter.js"
import { displayLine } from "./internal/displayText.js"
import { runStrace, tracePermissions } from "./internal/straceRunner.js"

/**
 * A class of system calls strace knows (`-e trace=%file`…).
 *
 * @since 0.1.0
 */
export const TraceClass = Schema.Literal("file", "network", "process", "signal", "ipc", "desc", "memory", "creds", "clock")

/**
 * What to trace: a class of calls, or one call by name (`accept4`).
 *
 * @since 0.1.0
 */
export const Filter = Schema.Union(
  TraceClass,
  Schema.String.pipe(Schema.pattern(/^[a-z_][a-z0-9_]{0,39}$/), Schema.annotations({ description: "a system call's name, like accept4" }))
)

/**
 * Options of a trace.
 *
 * @since 0.1.0
 */
export const Options = Schema.Struct({
  /** Trace the daemon's child processes too (threads of the daemon are always traced). */
  followChildren: Schema.optional(Schema.Boolean),
  /** Only these classes or calls (default: every call). */
  filter: Schema.optional(Schema.Array(Filter).pipe(Schema.minItems(1), Schema.maxItems(64))),
  /** How many characters of each string argument strace shows (`-s`; default 96). */
  stringLimit: Schema.optional(Schema.Int.pipe(Schema.between(0, 4096))),
  /** Stop (detach) after this long: "10s", "500ms"… (default: when the scope closes or the daemon ends). */
  duration: Schema.optional(DurationInput({ min: 1, what: "a trace's duration" }))
})

/**
 * Options of a trace, decoded.
 *
 * @since 0.1.0
 */
export type Options = Schema.Schema.Type<typeof Options>

/**
 * Options of a trace as written (a CLI's flags, a file): decoded by
 * {@link attach}, every bad field named.
 *
 * @since 0.1.0
 */
export interface Input {
  readonly followChildren?: boolean | undefined
  /** Classes (`file`, `network`, `process`, `signal`, `ipc`, `desc`, `memory`, `creds`, `clock`) or call names. */
  readonly filter?: ReadonlyArray<string> | undefined
  readonly stringLimit?: number | undefined
  /** "10s", "1m", "500ms" or milliseconds. */
  readonly duration?: string | number | undefined
}

/**
 * One system call, complete.
 *
 * @since 0.1.0
 */
export const Syscall = Schema.TaggedStruct("Syscall", {
  /** The process (thread group) that made it. */
  pid: Schema.Int,
  /** The thread that made it (the pid for a process's main thread). */
  tid: Schema.Int,
  /** Epoch milliseconds when it was entered (microsecond precision). */
  at: Schema.Number,
  name: Schema.String,
  /** The arguments as strace prints them: strings quoted with C escapes, truncated at `stringLimit` (then `...`). */
  args: Schema.String,
  /** `3`, `-1`, `0x7f…`, `?` (no return: the process ended in it). */
  result: Schema.String,
  /** `ENOENT`, `EAGAIN`… when it failed. */
  errno: Schema.optional(Schema.String),
  /** The text strace adds: an errno's description, `Timeout`… */
  detail: Schema.optional(Schema.String),
  /** Microseconds in the call; absent when strace could not measure it. */
  durationUs: Schema.optional(Schema.Int)
})

/**
 * A signal delivered to a traced process.
 *
 * @since 0.1.0
 */
export const SignalDelivered = Schema.TaggedStruct("Signal", {
  pid: Schema.Int,
  tid: Schema.Int,
  at: Schema.Number,
  signal: Schema.String,
  /** The siginfo strace printed: `{si_signo=SIGCHLD, si_code=CLD_EXITED, …}`. */
  info: Schema.String
})

/**
 * A traced process or thread ended.
 *
 * @since 0.1.0
 */
export const Exited = Schema.TaggedStruct("Exited", {
  pid: Schema.Int,
  tid: Schema.Int,
  at: Schema.Number,
  code: Schema.optional(Schema.Int),
  killedBy: Schema.optional(Schema.String)
})

/**
 * What a trace shows.
 *
 * @since 0.1.0
 */
export const Event = Schema.Union(Syscall, SignalDelivered, Exited)

/**
 * What a trace shows.
 *
 * @since 0.1.0
 */
export type Event = Schema.Schema.Type<typeof Event>

/**
 * The platform cannot trace its daemons (and why: no strace in the guest, no
 * ptrace on the host…).
 *
 * @since 0.1.0
 */
export class TraceUnsupported extends Data.TaggedError("TraceUnsupported")<{
  readonly platform: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot trace daemons on ${this.platform}: ${this.reason}`
  }
}

/**
 * The kernel would not let this process trace the daemon; `fix` says what would.
 *
 * @since 0.1.0
 */
export class TraceNotPermitted extends Data.TaggedError("TraceNotPermitted")<{
  readonly pid: number
  readonly reason: string
  readonly fix: string
}> {
  override get message(): string {
    return `not permitted to trace pid ${this.pid}: ${this.reason} (${this.fix})`
  }
}

/**
 * Tracing failed: strace is missing or failed, the daemon is not running, or
 * its pid is no longer the daemon.
 *
 * @since 0.1.0
 */
export class TracerFailed extends Data.TaggedError("TracerFailed")<{
  readonly reason: string
}> {
  override get message(): string {
    return `trace failed: ${this.reason}`
  }
}

/**
 * Options that do not decode; each problem names the field.
 *
 * @since 0.1.0
 */
export class InvalidTraceOptions extends Data.TaggedError("InvalidTraceOptions")<{
  readonly problems: ReadonlyArray<ConfigProblem>
}> {
  override get message(): string {
    const fields = this.problems.map((p) => `${p.path === "" ? "" : `${displayLine(p.path)}: `}${displayLine(p.message)}`)
    return `invalid trace options: ${fields.join("; ")}`
  }
}

/**
 * Any failure of a trace.
 *
 * @since 0.1.0
 */
export type TraceError = TraceUnsupported | TraceNotPermitted | TracerFailed | InvalidTraceOptions

/**
 * The process to trace: its host pid, and when it started (epoch ms, as
 * `ProcessTree.startTime` tells), which must still hold when strace attaches.
 *
 * @since 0.1.0
 */
export interface Target {
  readonly pid: number
  readonly startedAt: number
}

/**
 * Decodes options (from a CLI, a file, a request); each bad field is named.
 *
 * @example
 * ```ts
 * import { SyscallTrace } from "@duende/core/manager"
 *
 * const options = SyscallTrace.decodeOptions({ filter: ["network", "read"], followChildren: true })
 * ```
 *
 * @since 0.1.0
 */
export const decodeOptions = (input: unknown): Either.Either<Options, InvalidTraceOptions> =>
  Either.mapLeft(
    Schema.decodeUnknownEither(Options, { errors: "all", onExcessProperty: "error" })(input),
    (error) => new InvalidTraceOptions({ problems: formatIssues(Options.ast, error.issue) })
  )

/**
 * Attaches strace to a running process for the life of the scope. Succeeds
 * once strace has attached (what the process does from then on is in the
 * stream), after checking that `target.pid` is still the process that started
 * at `target.startedAt` — before and after attaching. The stream ends when the
 * process ends or after `duration`, and fails with `TracerFailed` when strace
 * itself ends in another way (killed, crashed: the trace is lost); closing
 * the scope detaches strace and leaves the process running. A consumer that does not keep up slows the process down (strace
 * waits for its output to be read): nothing is dropped, nothing piles up.
 *
 * @example
 * ```ts
 * import { ProcessTree, SyscallTrace } from "@duende/core/manager"
 * import { Effect, Stream } from "effect"
 *
 * const pid = 4321
 * const accepts = Effect.scoped(Effect.gen(function*() {
 *   const events = yield* SyscallTrace.attach({ pid, startedAt: ProcessTree.startTime(pid)! }, { filter: ["network"] })
 *   return yield* Stream.runCollect(Stream.take(Stream.filter(events, (e) => e._tag === "Syscall" && e.name === "accept4"), 1))
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const attach = (
  target: Target,
  options: Input = {}
): Effect.Effect<Stream.Stream<Event, TracerFailed>, TraceError, Scope.Scope> =>
  Effect.gen(function*() {
    const decoded = yield* Either.match(decodeOptions(options), { onLeft: Effect.fail, onRight: Effect.succeed })
    const events = yield* runStrace(target, decoded)
    return decoded.duration === undefined ? events : Stream.interruptAfter(events, decoded.duration)
  })

/**
 * Fails with `TraceUnsupported` when the adapter has no tracer
 * (`PlatformAdapter.attachTracer`), before a daemon is looked up.
 *
 * @example
 * ```ts
 * import { NativeAdapter, SyscallTrace } from "@duende/core/manager"
 * import { Effect } from "effect"
 *
 * const check = Effect.scoped(Effect.flatMap(NativeAdapter.make({ logDirectory: "/tmp/logs" }), SyscallTrace.supported))
 * ```
 *
 * @since 0.1.0
 */
export const supported = (adapter: PlatformAdapter): Effect.Effect<void, TraceUnsupported> =>
  adapter.attachTracer === undefined
    ? Effect.fail(
      new TraceUnsupported({
        platform: adapter.platform,
        reason: "its adapter has no syscall tracer (the native, systemd and container adapters have one)"
      })
    )
    : Effect.void

/**
 * Traces a daemon through its adapter (`PlatformAdapter.attachTracer`), or
 * fails with `TraceUnsupported` when the adapter has no tracer.
 *
 * @example
 * ```ts
 * import { PlatformAdapter, SyscallTrace } from "@duende/core/manager"
 * import { Effect } from "effect"
 *
 * const trace = (handle: PlatformAdapter.DaemonHandle) =>
 *   Effect.flatMap(PlatformAdapter.PlatformAdapter, (adapter) => SyscallTrace.ofAdapter(adapter, handle, { filter: ["network"] }))
 * ```
 *
 * @since 0.1.0
 */
export const ofAdapter = (
  adapter: PlatformAdapter,
  handle: DaemonHandle,
  options: Input = {}
): Effect.Effect<Stream.Stream<Event, TracerFailed>, AdapterError | TraceError, Scope.Scope> =>
  Effect.zipRight(supported(adapter), Effect.suspend(() => adapter.attachTracer!(handle, options)))

/**
 * One system call's totals in a {@link Summary}.
 *
 * @since 0.1.0
 */
export interface CallTotals {
  readonly name: string
  readonly calls: number
  /** Calls that returned an errno. */
  readonly errors: number
  /** Microseconds spent in it, summed. */
  readonly totalUs: number
  readonly maxUs: number
}

/**
 * A trace folded: totals per call (most time first), like `strace -c`.
 *
 * @since 0.1.0
 */
export interface Summary {
  readonly calls: ReadonlyArray<CallTotals>
  readonly totalCalls: number
  readonly totalErrors: number
  readonly signals: number
  /** Processes and threads seen ending. */
  readonly exits: number
  /** Pids that made calls (the daemon's, and with `followChildren` its children's). */
  readonly pids: ReadonlyArray<number>
}

/** At most this many distinct pids are kept in a summary (each is a number). */
const maxPids = 4096

/**
 * Folds a trace into a {@link Summary}. Memory stays bounded: one entry per
 * distinct call name (a few hundred at most), no event is kept.
 *
 * @example
 * ```ts
 * import { SyscallTrace } from "@duende/core/manager"
 * import { Effect, Stream } from "effect"
 *
 * const summary = SyscallTrace.summarize(Stream.empty)
 * const top = Effect.map(summary, (s) => s.calls.slice(0, 5))
 * ```
 *
 * @since 0.1.0
 */
export const summarize = <E, R>(events: Stream.Stream<Event, E, R>): Effect.Effect<Summary, E, R> =>
  Effect.map(
    Stream.runFold(events, newTally(), (tally, event) => add(tally, event)),
    toSummary
  )

interface Tally {
  readonly byName: Map<string, { calls: number; errors: number; totalUs: number; maxUs: number }>
  readonly pids: Set<number>
  signals: number
  exits: number
}

const newTally = (): Tally => ({ byName: new Map(), pids: new Set(), signals: 0, exits: 0 })

const add = (tally: Tally, event: Event): Tally => {
  if (event._tag === "Signal") tally.signals++
  else if (event._tag === "Exited") tally.exits++
  else {
    let totals = tally.byName.get(event.name)
    if (totals === undefined) {
      totals = { calls: 0, errors: 0, totalUs: 0, maxUs: 0 }
      tally.byName.set(event.name, totals)
    }
    totals.calls++
    if (event.errno !== undefined) totals.errors++
    const took = event.durationUs ?? 0
    totals.totalUs += took
    if (took > totals.maxUs) totals.maxUs = took
    if (tally.pids.size < maxPids) tally.pids.add(event.pid)
  }
  return tally
}

const toSummary = (tally: Tally): Summary => {
  const calls = [...tally.byName.entries()]
    .map(([name, t]) => ({ name, ...t }))
    .sort((a, b) => b.totalUs - a.totalUs || b.calls - a.calls || a.name.localeCompare(b.name))
  return {
    calls,
    totalCalls: calls.reduce((n, c) => n + c.calls, 0),
    totalErrors: calls.reduce((n, c) => n + c.errors, 0),
    signals: tally.signals,
    exits: tally.exits,
    pids: [...tally.pids].sort((a, b) => a - b)
  }
}

/**
 * What this process may trace, as the kernel decides it: where strace is,
 * Yama's ptrace_scope (undefined without Yama), whether `CAP_SYS_PTRACE` is in
 * the effective set, and a verdict with the fix. `duende doctor` prints it.
 *
 * @example
 * ```ts
 * import { SyscallTrace } from "@duende/core/manager"
 *
 * const { strace, verdict } = SyscallTrace.permissions()
 * ```
 *
 * @since 0.1.0
 */
export const permissions = (): Permissions => tracePermissions()

/**
 * What {@link permissions} reports.
 *
 * @since 0.1.0
 */
export interface Permissions {
  /** The strace binary found on PATH, undefined when it is not installed. */
  readonly strace: string | undefined
  /** `kernel.yama.ptrace_scope` (0 classic, 1 restricted to descendants, 2 admin only, 3 none); undefined without Yama. */
  readonly ptraceScope: number | undefined
  readonly capSysPtrace: boolean
  /** Whether this process can trace processes of other users. */
  readonly othersUsers: boolean
  /** Whether it can trace processes of its own user that it did not start. */
  readonly ownUser: boolean
  /** One line for people: what can be traced, and the fix when something cannot. */
  readonly verdict: string
}
