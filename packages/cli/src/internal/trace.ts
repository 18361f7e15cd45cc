/**
 * `duende trace NAME`: the system calls a running daemon makes, seen by the
 * real strace attached to its process on the host — the native supervisor's
 * child, systemd's MainPID, a container's process (`--platform`). Prints each
 * call as it happens (`--json`: one JSON object a line), or with `--summary`
 * counts, errors and time per call when it ends (Ctrl-C, `--duration`, or the
 * daemon exiting). Detaching leaves the daemon running. Also what `duende
 * doctor` says about tracing here.
 *
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { type AdapterError, SyscallTrace } from "@duende/core/manager"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as AdapterCommands from "./adapterCommands.js"
import type * as PlatformFlags from "./platformFlags.js"

/** What the command needs from the rest of the CLI. */
export interface Deps<E> {
  /** The shared `--platform` option. */
  readonly platform: Options.Options<string>
  /** The platforms' flags. */
  readonly flags: Options.Options<PlatformFlags.Parsed>
  /** The module and options of `--platform kind`. */
  readonly target: (kind: string, parsed: PlatformFlags.Parsed) => Effect.Effect<AdapterCommands.Target, E>
  /** Refuses platform flags for the supervisor. */
  readonly native: (parsed: PlatformFlags.Parsed) => Effect.Effect<unknown, E>
  /** The daemon as the supervisor reports it (`status`). */
  readonly supervised: (name: string) => Effect.Effect<{ readonly pid: number | null; readonly startedAt: number | null }, E>
  readonly fail: (message: string, code?: number) => Effect.Effect<never, E>
}

const write = (text: string) => Effect.sync(() => void process.stdout.write(text))

/** `HH:MM:SS.micros` (UTC) of an epoch-ms time with microseconds. */
const clock = (at: number): string => {
  const ms = Math.floor(at)
  return `${new Date(ms).toISOString().slice(11, 23)}${String(Math.round((at - ms) * 1000) % 1000).padStart(3, "0")}`
}

/**
 * One event as a line, in strace's own notation (its arguments are already
 * escaped by strace: C escapes for every byte that is not printable).
 */
export const eventLine = (event: SyscallTrace.Event): string => {
  const who = event.tid === event.pid ? `[pid ${event.pid}]` : `[pid ${event.pid} tid ${event.tid}]`
  switch (event._tag) {
    case "Syscall": {
      const error = event.errno === undefined ? "" : ` ${event.errno}`
      const detail = event.detail === undefined ? "" : ` (${event.detail})`
      const took = event.durationUs === undefined ? "" : ` <${(event.durationUs / 1e6).toFixed(6)}>`
      return `${clock(event.at)} ${who} ${event.name}(${event.args}) = ${event.result}${error}${detail}${took}`
    }
    case "Signal":
      return `${clock(event.at)} ${who} --- ${event.signal} ${event.info} ---`
    case "Exited":
      return `${clock(event.at)} ${who} +++ ${event.killedBy === undefined ? `exited with ${event.code}` : `killed by ${event.killedBy}`} +++`
  }
}

/** A summary as `strace -c` prints one: the share of time, seconds, µs per call, calls, errors, per call. */
export const summaryTable = (summary: SyscallTrace.Summary): string => {
  const total = summary.calls.reduce((n, c) => n + c.totalUs, 0)
  const rule = "------ ----------- ----------- --------- --------- ----------------"
  const row = (share: string, us: number, perCall: string, calls: number, errors: number, name: string) =>
    `${share.padStart(6)} ${(us / 1e6).toFixed(6).padStart(11)} ${perCall.padStart(11)} ${String(calls).padStart(9)} ${
      errors === 0 ? "".padStart(9) : String(errors).padStart(9)
    } ${name}`
  const lines = summary.calls.map((c) =>
    row(total === 0 ? "0.00" : ((100 * c.totalUs) / total).toFixed(2), c.totalUs, String(Math.round(c.totalUs / c.calls)), c.calls, c.errors, c.name)
  )
  return [
    "% time     seconds  usecs/call     calls    errors syscall",
    rule,
    ...lines,
    rule,
    row("100.00", total, "", summary.totalCalls, summary.totalErrors, "total"),
    `pids ${summary.pids.join(", ") || "-"}; ${summary.signals} signal(s), ${summary.exits} exit(s) seen`
  ].join("\n") + "\n"
}

/**
 * Ctrl-C (SIGINT) from now on, for the life of the scope: done at the first
 * one, which then no longer ends this process (the trace detaches, a summary
 * still prints).
 */
const interrupted = Effect.acquireRelease(
  Effect.flatMap(Deferred.make<void>(), (signalled) =>
    Effect.sync(() => {
      const stop = () => Deferred.unsafeDone(signalled, Effect.void)
      process.once("SIGINT", stop)
      return { signalled, stop }
    })),
  ({ stop }) => Effect.sync(() => process.off("SIGINT", stop))
)

/** Prints the trace until it ends or `stop` is done; or, with `summary`, its summary once it ends. */
const show = (summary: boolean, json: boolean, stop: Deferred.Deferred<void>) =>
(events: Stream.Stream<SyscallTrace.Event, SyscallTrace.TracerFailed>) => {
  const stopped = Stream.interruptWhenDeferred(events, stop)
  return summary
    ? Effect.flatMap(SyscallTrace.summarize(stopped), (s) => write(json ? `${JSON.stringify(s, null, 2)}\n` : summaryTable(s)))
    : Stream.runForEach(stopped, (event) => write(`${json ? JSON.stringify(event) : eventLine(event)}\n`))
}

const notice = (text: string) => Effect.sync(() => void process.stderr.write(`duende: ${text}\n`))

/**
 * The `trace` command.
 */
export const command = <E>(deps: Deps<E>) =>
  Command.make(
    "trace",
    {
      name: Args.text({ name: "name" }).pipe(Args.withDescription("The daemon's name")),
      platform: deps.platform,
      summary: Options.boolean("summary").pipe(
        Options.withDescription("Print counts, errors and time per call when the trace ends, like strace -c")
      ),
      filter: Options.text("filter").pipe(
        Options.optional,
        Options.withDescription("Only these, comma-separated: file, network, process, signal, ipc, desc, memory, creds, clock, or call names (accept4)")
      ),
      duration: Options.text("duration").pipe(Options.optional, Options.withDescription("Stop after this long: 10s, 1m, 500ms (default: Ctrl-C)")),
      children: Options.boolean("children").pipe(Options.withDescription("Trace the daemon's child processes too")),
      json: Options.boolean("json").pipe(Options.withDescription("Print JSON: one event a line, or the summary")),
      flags: deps.flags
    },
    ({ children, duration, filter, flags, json, name, platform, summary }) =>
      Effect.scoped(Effect.gen(function*() {
        const input: SyscallTrace.Input = {
          followChildren: children,
          ...(Option.isSome(filter) ? { filter: filter.value.split(",").map((f) => f.trim()) } : {}),
          ...(Option.isSome(duration) ? { duration: duration.value } : {})
        }
        // Bad options are bad usage (2), told before anything is attached.
        const bad = SyscallTrace.decodeOptions(input)
        if (Either.isLeft(bad)) return yield* deps.fail(bad.left.message, 2)
        const { signalled } = yield* interrupted
        const print = show(summary, json, signalled)
        const traced = (what: string) =>
          notice(`tracing ${what} with strace; ${Option.isSome(duration) ? `for ${duration.value}, ` : ""}Ctrl-C detaches`)
        if (platform === "native") {
          yield* deps.native(flags)
          const { pid, startedAt } = yield* deps.supervised(name)
          if (pid === null || startedAt === null) return yield* deps.fail(`${name} is not running`)
          return yield* Effect.scoped(
            Effect.flatMap(SyscallTrace.attach({ pid, startedAt }, input), (events) =>
              Effect.zipRight(traced(`${name} (pid ${pid})`), print(events)))
          ).pipe(Effect.catchAll((error) => deps.fail(error.message)))
        }
        const on = yield* deps.target(platform, flags)
        return yield* AdapterCommands.withAdapter(on, (adapter): Effect.Effect<void, AdapterError | SyscallTrace.TraceError, Scope.Scope> =>
          Effect.gen(function*() {
            yield* SyscallTrace.supported(adapter)
            const handle = yield* adapter.find(name)
            const events = yield* SyscallTrace.ofAdapter(adapter, handle, input)
            yield* traced(`${name} on ${platform} (${handle.ref})`)
            yield* print(events)
          })).pipe(Effect.catchAll((message) => deps.fail(message)))
      }))
  ).pipe(Command.withDescription(
    "Trace a running daemon's system calls with strace (its real host pid: the supervisor's child, systemd's MainPID, a container's process); detaching leaves it running"
  ))

/**
 * What `duende doctor` reports about tracing: strace, ptrace_scope, CAP_SYS_PTRACE, and the verdict.
 */
export const doctorReport = (): SyscallTrace.Permissions => SyscallTrace.permissions()

/** The doctor's line for it. */
export const doctorLine = (report: SyscallTrace.Permissions): string =>
  `trace       ${report.strace === undefined ? "strace missing" : report.strace}: ${report.verdict}`
