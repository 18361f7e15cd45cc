/**
 * Runs the real `strace` attached to a process: checks the pid is still the
 * process meant (start time, before and after attaching) and that the kernel
 * will let us, spawns `strace -f -ttt -T [-e trace=…] -s N -p PID`, waits
 * until strace says it attached, and streams its output, parsed, with
 * backpressure (strace writes to a pipe we read only as fast as the stream is
 * consumed). Closing the scope sends strace SIGINT, on which it detaches
 * (the tracee runs on); SIGKILL after a bound.
 *
 * strace writes its trace to stderr, beside its own messages (`strace: …`):
 * `-o /dev/stdout` cannot be opened on the socket Node gives a child as its
 * stdout.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { isSame, ownerOf, startTime } from "../ProcessTree.js"
import type { Event, Options, Permissions, Target } from "../SyscallTrace.js"
import { TracerFailed, TraceNotPermitted } from "../SyscallTrace.js"
import { findExecutable } from "./executable.js"
import { lineSplitter } from "./lines.js"
import { pidRunning } from "./procfs.js"
import { StraceParser } from "./straceParser.js"

const capSysPtrace = 19
/** Longest line kept (strace shortens strings to `-s`, and arrays; a longer line is counted unparsed). */
const maxLine = 64 * 1024
const attachTimeout = Duration.seconds(15)
const detachTimeout = Duration.seconds(5)
/** The signals on which strace detaches from every tracee before it ends (strace(1)). */
const cleanDetach = new Set<string>(["SIGINT", "SIGTERM", "SIGQUIT", "SIGPIPE", "SIGHUP"])

const readOr = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

/** strace's arguments for the options (without `-p`). */
export const straceArguments = (options: Options): ReadonlyArray<string> => [
  "-f",
  "-ttt",
  "-T",
  "-s",
  String(options.stringLimit ?? 96),
  ...(options.filter === undefined
    ? []
    : ["-e", `trace=${options.filter.map((f) => (isClass(f) ? `%${f === "network" ? "net" : f}` : f)).join(",")}`])
]

const classes = new Set(["file", "network", "process", "signal", "ipc", "desc", "memory", "creds", "clock"])
const isClass = (filter: string) => classes.has(filter)

const effectiveCapabilities = (): bigint | undefined => {
  const line = /^CapEff:\s+([0-9a-f]+)$/m.exec(readOr("/proc/self/status") ?? "")
  return line === null ? undefined : BigInt(`0x${line[1]}`)
}

/** What this process may trace (see `SyscallTrace.permissions`). */
export const tracePermissions = (): Permissions => {
  const strace = findExecutable("strace", process.env.PATH, process.cwd())
  const scopeText = readOr("/proc/sys/kernel/yama/ptrace_scope")
  const ptraceScope = scopeText === undefined ? undefined : Number(scopeText.trim())
  const caps = effectiveCapabilities()
  const capable = caps !== undefined && ((caps >> BigInt(capSysPtrace)) & 1n) === 1n
  const othersUsers = capable && ptraceScope !== 3
  const ownUser = ptraceScope === undefined || ptraceScope === 0 ? true : ptraceScope === 3 ? false : capable
  const scope = ptraceScope === undefined ? "no Yama ptrace_scope" : `ptrace_scope ${ptraceScope}`
  const verdict = strace === undefined
    ? "strace is not installed (Debian/Ubuntu: apt-get install strace)"
    : ptraceScope === 3
    ? `${scope}: no process may be traced until reboot`
    : othersUsers
    ? `CAP_SYS_PTRACE, ${scope}: any daemon can be traced`
    : ownUser
    ? `${scope}, no CAP_SYS_PTRACE: daemons of this user can be traced, not other users' (run as root for those)`
    : `${scope}, no CAP_SYS_PTRACE: only processes this one started can be traced (sysctl kernel.yama.ptrace_scope=0, or run as root)`
  return { strace, ptraceScope, capSysPtrace: capable, othersUsers, ownUser, verdict }
}

/** Refuses before strace runs when the kernel will refuse (the reason, and the fix). */
const checkAllowed = (pid: number): Effect.Effect<void, TraceNotPermitted> => {
  const allowed = tracePermissions()
  const uid = process.getuid?.()
  const owner = ownerOf(pid)
  const refuse = (reason: string, fix: string) => Effect.fail(new TraceNotPermitted({ pid, reason, fix }))
  if (allowed.ptraceScope === 3) return refuse("kernel.yama.ptrace_scope is 3 (no attaching)", "it can only be lowered by a reboot")
  if (owner !== undefined && uid !== undefined && owner !== uid && !allowed.othersUsers) {
    return refuse(
      `it runs as uid ${owner}, this process as uid ${uid} without CAP_SYS_PTRACE`,
      "run the trace as root (sudo) or as the daemon's user"
    )
  }
  if (!allowed.ownUser) {
    return refuse(
      `kernel.yama.ptrace_scope is ${allowed.ptraceScope} and this process lacks CAP_SYS_PTRACE`,
      allowed.ptraceScope === 1 ? "run as root, or sysctl kernel.yama.ptrace_scope=0" : "run as root"
    )
  }
  return Effect.void
}

const identity = (target: Target): Effect.Effect<void, TracerFailed> => {
  if (!pidRunning(target.pid)) return Effect.fail(new TracerFailed({ reason: `pid ${target.pid} is not running` }))
  if (isSame(target.pid, target.startedAt)) return Effect.void
  const now = startTime(target.pid)
  return Effect.fail(
    new TracerFailed({
      reason: `pid ${target.pid} is no longer the daemon: it started at ${
        now === undefined ? "an unknown time" : new Date(now).toISOString()
      }, the daemon at ${new Date(target.startedAt).toISOString()} (the pid was reused)`
    })
  )
}

/** Waits for strace to end (succeeds at once if it has). */
const ended = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    const done = () => resume(Effect.void)
    child.once("exit", done)
    return Effect.sync(() => child.off("exit", done))
  })

/** SIGINT (strace detaches every tracee and exits), then SIGKILL if it has not within the bound. */
const detach = (child: ChildProcess) =>
  Effect.gen(function*() {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill("SIGINT")
    const done = yield* Effect.timeout(ended(child), detachTimeout).pipe(Effect.option)
    if (done._tag === "None") {
      child.kill("SIGKILL")
      yield* ended(child)
    }
  })

/** The thread group (process) of a thread, from /proc (a thread that is gone counts as its own process). */
const tgidOf = (tid: number): number => {
  const found = /^Tgid:\s+(\d+)$/m.exec(readOr(`/proc/${tid}/status`) ?? "")
  return found === null ? tid : Number(found[1])
}

export type Attach = { readonly _tag: "Attached" } | { readonly _tag: "Refused"; readonly error: TracerFailed | TraceNotPermitted }

/** Reads one of strace's own messages while attaching: attached, or refused (why). */
export const attachMessage = (pid: number, line: string): Attach | undefined => {
  if (new RegExp(`^strace: Process ${pid} attached`).test(line)) return { _tag: "Attached" }
  const denied = /^strace: attach: ptrace\(PTRACE_SEIZE, (\d+)\): (.*)$/.exec(line)
  if (denied === null) return undefined
  if (/not permitted/i.test(denied[2]!)) {
    return {
      _tag: "Refused",
      error: new TraceNotPermitted({
        pid,
        reason: `the kernel refused ptrace: ${denied[2]}`,
        fix: "run as root or with CAP_SYS_PTRACE; with Yama, kernel.yama.ptrace_scope=0 lets a user trace its own processes"
      })
    }
  }
  return { _tag: "Refused", error: new TracerFailed({ reason: `strace could not attach to pid ${pid}: ${denied[2]}` }) }
}

/**
 * Attaches strace to `target` for the life of the scope; the stream of what
 * it sees (only the target's threads unless `followChildren`).
 */
export const runStrace = (
  target: Target,
  options: Options
): Effect.Effect<Stream.Stream<Event, TracerFailed>, TracerFailed | TraceNotPermitted, Scope.Scope> =>
  Effect.gen(function*() {
    yield* identity(target)
    yield* checkAllowed(target.pid)
    const program = findExecutable("strace", process.env.PATH, process.cwd())
    if (program === undefined) {
      return yield* Effect.fail(new TracerFailed({ reason: "strace is not installed (Debian/Ubuntu: apt-get install strace)" }))
    }
    const attached = yield* Deferred.make<void, TracerFailed | TraceNotPermitted>()
    /** strace's last own messages, for a failure. */
    const said: Array<string> = []
    /** Where trace lines go once the stream runs; until then, into `early` (strace is paused meanwhile, below). */
    let deliver: ((line: string) => void) | undefined
    const early: Array<string> = []
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(program, [...straceArguments(options), "-p", String(target.pid)], {
          // strace starts its own messages with its argv[0]: "strace: ", whatever path it ran from.
          argv0: "strace",
          stdio: ["ignore", "ignore", "pipe"],
          env: { ...process.env, LC_ALL: "C" }
        })
      ),
      detach
    )
    const feed = lineSplitter((line) => {
      if (line.startsWith("strace: ")) {
        said.push(line)
        if (said.length > 20) said.shift()
        const message = attachMessage(target.pid, line)
        if (message !== undefined) {
          Deferred.unsafeDone(attached, message._tag === "Attached" ? Effect.void : Effect.fail(message.error))
        }
        return
      }
      if (deliver !== undefined) deliver(line)
      else early.push(line)
    }, maxLine)
    child.stderr!.setEncoding("utf8")
    child.stderr!.on("data", (text: string) => feed(text))
    child.once("error", (error) =>
      Deferred.unsafeDone(attached, Effect.fail(new TracerFailed({ reason: `cannot run ${program}: ${error.message}` }))))
    child.once("exit", (code, signal) =>
      Deferred.unsafeDone(
        attached,
        Effect.fail(
          new TracerFailed({
            reason: `strace ended before attaching (${signal ?? `exit ${code}`})${said.length > 0 ? `: ${said.slice(-3).join(" | ")}` : ""}`
          })
        )
      ))
    yield* Deferred.await(attached).pipe(
      Effect.timeoutFail({
        duration: attachTimeout,
        onTimeout: () =>
          new TracerFailed({
            reason: `strace did not attach to pid ${target.pid} within 15s${said.length > 0 ? `: ${said.slice(-3).join(" | ")}` : ""}`
          })
      })
    )
    let closed: { readonly code: number | null; readonly signal: NodeJS.Signals | null } | undefined
    child.once("close", (code, signal) => void (closed = { code, signal }))
    // The pid could have been reused between the check and the attach: check again, now that it is held.
    yield* identity(target)
    // The early lines are only those strace wrote until the consumer starts: it stops while none reads (below).
    child.stderr!.pause()

    const parser = new StraceParser(target.pid)
    const groups = new Map<number, number>()
    const processOf = (tid: number) => {
      let pid = groups.get(tid)
      if (pid === undefined) {
        pid = tgidOf(tid)
        if (groups.size > 65_536) groups.clear()
        groups.set(tid, pid)
      }
      return pid
    }
    const toEvent = (line: string): Event | undefined => {
      const parsed = parser.feed(line)
      if (parsed === undefined) return undefined
      const pid = processOf(parsed.tid)
      if (options.followChildren !== true && pid !== target.pid) return undefined
      switch (parsed._tag) {
        case "Syscall": {
          const { durationUs, errno, detail, ...rest } = parsed
          return {
            ...rest,
            pid,
            ...(errno === undefined ? {} : { errno }),
            ...(detail === undefined ? {} : { detail }),
            ...(durationUs === undefined ? {} : { durationUs })
          }
        }
        case "Signal":
          return { ...parsed, pid }
        case "Exited": {
          const { code, killedBy, ...rest } = parsed
          return { ...rest, pid, ...(code === undefined ? {} : { code }), ...(killedBy === undefined ? {} : { killedBy }) }
        }
      }
    }

    return Stream.async<Event, TracerFailed>((emit) => {
      const batch: Array<Event> = []
      const push = (line: string) => {
        const event = toEvent(line)
        if (event !== undefined) batch.push(event)
      }
      for (const line of early.splice(0)) push(line)
      deliver = push
      const stderr = child.stderr!
      const flush = () => {
        if (batch.length === 0) return
        // Backpressure: strace waits (its pipe fills) until the consumer has taken the batch.
        stderr.pause()
        void emit.chunk(Chunk.unsafeFromArray(batch.splice(0))).then(() => stderr.resume())
      }
      stderr.on("data", flush)
      const end = (code: number | null, signal: NodeJS.Signals | null) => {
        feed("\n")
        flush()
        // strace detaches and re-raises these; anything else (SIGKILL, a crash, an error exit) lost the trace.
        if ((signal === null && code === 0) || (signal !== null && cleanDetach.has(signal))) return void emit.end()
        void emit.fail(
          new TracerFailed({
            reason: `strace ended (${signal ?? `exit ${code}`}) while tracing pid ${target.pid}${said.length > 0 ? `: ${said.slice(-3).join(" | ")}` : ""}`
          })
        )
      }
      if (closed !== undefined) end(closed.code, closed.signal)
      else child.once("close", end)
      flush()
      stderr.resume()
      return Effect.sync(() => {
        stderr.off("data", flush)
        child.off("close", end)
      })
    }, 16)
  })
