/**
 * Core's `PlatformAdapter` for launchd, for LaunchAgents (the user's
 * `gui/<uid>` domain, or `user/<uid>` where there is no GUI session, such as
 * over SSH) and LaunchDaemons (the `system` domain, as root).
 *
 * - `install` writes the plist atomically (mode 0644) where launchd loads it
 *   at login or boot, and the adapter's record of the job. It does not load
 *   the job: launchd starts a `KeepAlive` job the moment it is bootstrapped,
 *   so a job installed but not started could not exist otherwise.
 * - `start` loads it (`launchctl bootstrap <domain> <plist>`), `kickstart`s it
 *   and returns once it is ready. launchd has no readiness protocol: a Duende
 *   daemon logs that it is ready (see `LaunchdRuntime`), and the adapter reads
 *   that line in the job's stderr log. With `platform.launchd.ready: "auto"`
 *   (the default) a program that writes no hello line within `readyGrace`
 *   counts as ready then; "notify" waits for the ready line only, "started"
 *   returns once launchd runs it. `initTimeout` is enforced here.
 * - `stop` unloads it (`bootout`: launchd sends SIGTERM), sends SIGKILL
 *   (`launchctl kill SIGKILL`) if it has not ended within the timeout, and
 *   waits until launchd has forgotten it: a `KeepAlive` job must be unloaded,
 *   or launchd starts it again. A job without `KeepAlive` is stopped with
 *   `kill SIGTERM` first, so launchd's own record of its exit is read before
 *   the bootout. launchd keeps no exit status of a job it unloads, so for a
 *   `KeepAlive` job the exit comes from the daemon's own last log line (a
 *   Duende daemon writes it), or from the SIGKILL the adapter sent.
 * - `restart` sends SIGTERM and, after the timeout, `kickstart -k`; the job
 *   stays loaded. `reload` sends SIGHUP; `signal` any signal (`launchctl kill`).
 * - `status` comes from `launchctl print` (read defensively; `launchctl list`
 *   when print says nothing readable), the daemon's log lines, and the
 *   adapter's record. launchd restarts crashed jobs itself
 *   (`restarts: "platform"`) and never gives up, so `status` and `events`
 *   enforce the config's crash-loop limit: a job that restarted more than
 *   `burst` times within `interval` is unloaded and reported Failed.
 * - `logs` and `followLogs` read the two log files; `uninstall` unloads the
 *   job and removes its plist and record.
 *
 * @since 0.1.0
 */
import type { DaemonConfig, Signal } from "@duende/core"
import { DaemonId, DaemonStatus, ExitReason } from "@duende/core"
import {
  type AdapterError,
  type AdapterIOError,
  DaemonAlreadyRunning,
  DaemonNotFound,
  OperationUnsupported,
  PlatformAdapter,
  type PlatformCommandFailed,
  StartFailed,
  SyscallTrace
} from "@duende/core/manager"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { join } from "node:path"
import * as Files from "./internal/files.js"
import * as LogFile from "./internal/logFile.js"
import { type Marker, parseMarker } from "./internal/protocol.js"
import * as Record from "./internal/record.js"
import * as Signals from "./internal/signals.js"
import * as Launchctl from "./Launchctl.js"
import * as LaunchdJob from "./LaunchdJob.js"
import * as Plist from "./Plist.js"

/**
 * Where the adapter keeps files: the job's (plists, logs) and its own records.
 *
 * @since 0.1.0
 */
export interface Directories extends LaunchdJob.Directories {
  /** The adapter's records of installed jobs (default `~/Library/Application Support/Duende/launchd`, or under /Library for daemons). */
  readonly state: string
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** "agent" (default): the user's LaunchAgents; "daemon": LaunchDaemons in the system domain (needs root). */
  readonly scope?: LaunchdJob.Scope
  /** The domain of agents: "gui" (default, `gui/<uid>`: a logged-in session) or "user" (`user/<uid>`, e.g. over SSH). */
  readonly agentDomain?: "gui" | "user"
  /** Overrides of the default directories (tests point them at a temporary directory). */
  readonly directories?: Partial<Directories>
  /** The launchctl to run (default "launchctl" from the environment's PATH). */
  readonly launchctl?: string
  /** The tools' environment (default: this process's). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Where programs are looked up and whose home and uid apply, when rendering. */
  readonly host?: Partial<LaunchdJob.Host>
  /** How often `events` looks at the job (default 250ms). */
  readonly pollInterval?: Duration.DurationInput
  /** How long a program that is not a Duende daemon must run to count as ready (default 2s). */
  readonly readyGrace?: Duration.DurationInput
}

/**
 * The launchd adapter: core's `PlatformAdapter` plus what only launchd has.
 *
 * @since 0.1.0
 */
export interface LaunchdAdapter extends PlatformAdapter.PlatformAdapter {
  readonly scope: LaunchdJob.Scope
  /** The domain target jobs are loaded into: `gui/501`, `user/501` or `system`. */
  readonly domain: string
  readonly directories: Directories
  readonly launchctl: Launchctl.Launchctl
  /** The job a config becomes in this adapter's scope. */
  readonly job: (config: DaemonConfig.DaemonConfig) => Effect.Effect<LaunchdJob.Job, AdapterError>
  /** An installed daemon by its name. */
  readonly find: (name: string) => Effect.Effect<PlatformAdapter.DaemonHandle, AdapterError>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { LaunchdAdapter } from "@duende/platform-launchd/adapter"
 * import { Effect } from "effect"
 *
 * const handle = Effect.flatMap(LaunchdAdapter.LaunchdAdapter, (adapter) => adapter.find("api"))
 * ```
 *
 * @since 0.1.0
 */
export const LaunchdAdapter: Context.Tag<LaunchdAdapter, LaunchdAdapter> = Context.GenericTag<LaunchdAdapter>(
  "@duende/platform-launchd/LaunchdAdapter"
)

/**
 * The default directories of a scope for a user's home.
 *
 * @example
 * ```ts
 * import { LaunchdAdapter } from "@duende/platform-launchd/adapter"
 *
 * LaunchdAdapter.defaultDirectories("daemon", "/var/root").plists // "/Library/LaunchDaemons"
 * ```
 *
 * @since 0.1.0
 */
export const defaultDirectories = (scope: LaunchdJob.Scope, home: string): Directories => ({
  ...LaunchdJob.defaultDirectories(scope, home),
  state: scope === "agent"
    ? join(home, "Library", "Application Support", "Duende", "launchd")
    : join("/Library", "Application Support", "Duende", "launchd")
})

/** How often the adapter looks while it waits for launchd (start, stop). */
const waitStep = Duration.millis(50)

/** A stop begun longer ago than this was abandoned (its process ended): no longer Stopping. */
const staleMs = 10 * 60_000

/** Duende exits 130/143 after a graceful stop by SIGINT/SIGTERM. */
const cleanCodes = new Set([0, 130, 143])

const exitFromLaunchd = (last: Launchctl.LastExit, at: number): PlatformAdapter.ExitInfo => {
  if ("code" in last) return { code: last.code, signal: null, at, description: ExitReason.describeExit(last.code) }
  const signal = Signals.toSignal(last.signal) ?? null
  const name = Signals.darwinName(last.signal) ?? `signal ${last.signal}`
  return { code: null, signal, at, description: `killed by ${name}` }
}

const isClean = (exit: PlatformAdapter.ExitInfo) => exit.code !== null && cleanCodes.has(exit.code)

/**
 * Makes the adapter.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { LaunchdAdapter } from "@duende/platform-launchd/adapter"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const adapter = yield* LaunchdAdapter.make({ scope: "agent" })
 *   const handle = yield* adapter.install(yield* DaemonConfig.load("duende.json"))
 *   yield* adapter.start(handle)
 *   return yield* adapter.status(handle)
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<LaunchdAdapter> =>
  Effect.gen(function*() {
    const scope = options.scope ?? "agent"
    const host: LaunchdJob.Host = { ...LaunchdJob.localHost(), ...options.host }
    const domain = scope === "daemon" ? "system" : `${options.agentDomain ?? "gui"}/${host.uid}`
    const directories: Directories = { ...defaultDirectories(scope, host.home), ...options.directories }
    const launchctl = yield* Launchctl.make({
      ...(options.launchctl === undefined ? {} : { command: options.launchctl }),
      ...(options.env === undefined ? {} : { env: options.env })
    })
    const pollInterval = Duration.decode(options.pollInterval ?? Duration.millis(250))
    const graceMs = Duration.toMillis(Duration.decode(options.readyGrace ?? Duration.seconds(2)))
    const service = (label: string) => `${domain}/${label}`
    const plistPath = (label: string) => join(directories.plists, `${label}.plist`)

    const jobFor = (config: DaemonConfig.DaemonConfig) =>
      Either.match(LaunchdJob.make(config, { scope, directories, host }), {
        onLeft: (error) =>
          Effect.fail(
            new OperationUnsupported({ operation: `render a job for "${config.name}"`, platform: "launchd", hint: error.message })
          ),
        onRight: Effect.succeed
      })

    /** The record of a job; for a plist without one (lost, or written by hand), what its plist says. */
    const recordOf = (handle: PlatformAdapter.DaemonHandle): Effect.Effect<Record.Record, AdapterIOError | DaemonNotFound> =>
      Effect.gen(function*() {
        const recorded = yield* Record.read(directories.state, handle.ref)
        if (recorded !== undefined) return recorded
        const text = yield* Files.readIfExists(plistPath(handle.ref))
        const plist = text === undefined ? undefined : Either.getOrUndefined(Plist.parse(text))
        if (plist === undefined || plist._tag !== "dict") {
          return yield* new DaemonNotFound({ name: handle.name, platform: "launchd" })
        }
        const str = (key: string, fallback: string) => {
          const v = Plist.get(plist, key)
          return v?._tag === "string" ? v.value : fallback
        }
        const keepAlive = Plist.get(plist, "KeepAlive")
        return {
          id: handle.id,
          name: handle.name,
          label: handle.ref,
          domain,
          plist: plistPath(handle.ref),
          stdout: str("StandardOutPath", "/dev/null"),
          stderr: str("StandardErrorPath", "/dev/null"),
          keepAlive: keepAlive !== undefined && !(keepAlive._tag === "bool" && !keepAlive.value),
          initTimeoutMs: 60_000,
          crashLoop: { burst: 5, intervalMs: 60_000 }
        }
      })

    /** Changes the record as it is on disk now (see `Record.update`). */
    const update = (record: Record.Record, change: (current: Record.Record) => Record.Record) =>
      Record.update(directories.state, record, change)
    const info = (record: Record.Record) => launchctl.info(service(record.label))

    /** Markers of `pid` (any pid when undefined) in the stderr log from `offset` (default: its last MiB). */
    const markers = (record: Record.Record, pid: number | undefined, offset?: number): ReadonlyArray<Marker> => {
      const from = offset ?? Math.max(0, LogFile.size(record.stderr) - 1024 * 1024)
      return LogFile.readFrom(record.stderr, from).lines.flatMap((line) => {
        const marker = parseMarker(line)
        return marker !== undefined && (pid === undefined || marker.pid === pid) ? [marker] : []
      })
    }

    /** The last lines a daemon wrote to stderr since `offset`, not counting markers. */
    const stderrTail = (record: Record.Record, offset: number) => {
      const lines = LogFile.readFrom(record.stderr, offset).lines.filter((l) => l.trim() !== "" && parseMarker(l) === undefined)
      return lines.length === 0 ? "" : `; last stderr: ${lines.slice(-3).join(" | ")}`
    }

    /** Repeats `check` every `waitStep` until it gives a value or `budgetMs` passes. */
    const waitFor = <A, E>(check: Effect.Effect<A | undefined, E>, budgetMs: number): Effect.Effect<A | undefined, E> =>
      Effect.flatMap(Clock.currentTimeMillis, (start) => {
        const loop: Effect.Effect<A | undefined, E> = Effect.flatMap(check, (value) =>
          value !== undefined
            ? Effect.succeed(value)
            : Effect.flatMap(Clock.currentTimeMillis, (now) =>
              now - start >= budgetMs ? Effect.succeed(undefined) : Effect.zipRight(Effect.sleep(waitStep), loop)))
        return loop
      })

    const tolerateNotFound = (effect: Effect.Effect<void, PlatformCommandFailed>) =>
      Effect.catchAll(effect, (error) => (Launchctl.isNotFound(error) ? Effect.void : Effect.fail(error)))

    const gone = (record: Record.Record) => Effect.map(info(record), (i) => (Option.isNone(i) ? true : undefined))

    /** Unloads the job and waits until launchd forgot it, killing what still runs after `budgetMs`. */
    const bootoutAndWait = (record: Record.Record, budgetMs: number) =>
      Effect.gen(function*() {
        const bootout = yield* Effect.fork(tolerateNotFound(launchctl.bootout(service(record.label))))
        let forced = false
        // launchctl may return before the job has ended: wait for it, then for launchd to forget the job.
        const returned = yield* Effect.flatMap(Clock.currentTimeMillis, (start) =>
          Effect.flatMap(Fiber.join(bootout).pipe(Effect.timeoutOption(Duration.millis(budgetMs))), (done) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Option.isNone(done)
                ? Effect.succeed(undefined)
                : waitFor(gone(record), Math.max(0, budgetMs - (now - start)))
            )))
        if (returned === undefined) {
          forced = true
          yield* Effect.ignore(launchctl.kill("SIGKILL", service(record.label)))
          if ((yield* waitFor(gone(record), 10_000)) === undefined) {
            yield* Fiber.interrupt(bootout)
            return yield* new OperationUnsupported({
              operation: `unload ${record.label}`,
              platform: "launchd",
              hint: "launchd still has it 10s after SIGKILL; see `launchctl print " + service(record.label) + "`"
            })
          }
        }
        yield* Fiber.join(bootout)
        return forced
      })

    const restartsOf = (record: Record.Record, i: Launchctl.ServiceInfo) =>
      i.runs === undefined ? record.restarts ?? 0 : Math.max(0, i.runs - (record.runsBefore ?? 0) - 1)

    /** Waits until the run Duende just started is ready; fails the start (and stops it) at initTimeout. */
    const awaitReady = (handle: PlatformAdapter.DaemonHandle, record: Record.Record, startedAt: number, offset: number) =>
      Effect.gen(function*() {
        const runsBefore = record.runsBefore ?? 0
        // The grace of a program that writes no markers runs from when launchd has it running.
        let runningSince: number | undefined
        for (;;) {
          const now = yield* Clock.currentTimeMillis
          if (now - startedAt > record.initTimeoutMs) {
            yield* Effect.ignore(bootoutAndWait(record, 10_000))
            return yield* new StartFailed({
              name: handle.name,
              reason: `not ready within ${Duration.format(Duration.millis(record.initTimeoutMs))}${stderrTail(record, offset)}`
            })
          }
          const current = yield* info(record)
          if (Option.isNone(current)) {
            return yield* new StartFailed({ name: handle.name, reason: `launchd unloaded ${record.label} while it started` })
          }
          const seen = markers(record, undefined, offset)
          // Ready once in this start counts, even if that run has ended since.
          if (seen.some((m) => m.event === "ready")) return
          const i = current.value
          if (i.running) {
            if (record.readiness === "started") return
            runningSince ??= now
            const hello = seen.some((m) => m.event === "hello" && m.pid === i.pid)
            if (record.readiness !== "notify" && !hello && now - runningSince >= graceMs) return
          } else if ((i.runs ?? 0) > runsBefore || seen.some((m) => m.event === "exit")) {
            const exit = i.lastExit === undefined ? "it exited" : exitFromLaunchd(i.lastExit, now).description
            return yield* new StartFailed({ name: handle.name, reason: `${exit} before it was ready${stderrTail(record, offset)}` })
          }
          yield* Effect.sleep(waitStep)
        }
      })

    const start = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.gen(function*() {
        const record = yield* recordOf(handle)
        const before = yield* info(record)
        if (Option.isSome(before) && before.value.running) {
          return yield* new DaemonAlreadyRunning({ name: handle.name, pid: before.value.pid })
        }
        const startedAt = yield* Clock.currentTimeMillis
        const offset = LogFile.size(record.stderr)
        const started = yield* update(record, ({ failed: _f, readyAt: _r, stopRequestedAt: _s, ...current }) => ({
          ...current,
          startedAt,
          stderrOffset: offset,
          runsBefore: Option.isSome(before) ? before.value.runs ?? 0 : 0,
          history: []
        }))
        if (Option.isNone(before)) {
          if (!Files.exists(record.plist)) return yield* new DaemonNotFound({ name: handle.name, platform: "launchd" })
          yield* launchctl.bootstrap(domain, record.plist)
        }
        // RunAtLoad may have started it already; kickstart without -k leaves a running job alone.
        yield* launchctl.kickstart(service(record.label)).pipe(
          Effect.catchAll((error) =>
            Effect.flatMap(info(record), (i) => (Option.isSome(i) && i.value.running ? Effect.void : Effect.fail(error)))
          )
        )
        yield* awaitReady(handle, started, startedAt, offset)
        const after = yield* info(record)
        const now = yield* Clock.currentTimeMillis
        const runs = Option.isSome(after) ? after.value.runs : undefined
        yield* update(started, (current) => ({ ...current, readyAt: now, history: runs === undefined ? [] : [[now, runs]] }))
      })

    const stop = (handle: PlatformAdapter.DaemonHandle, timeout: Duration.Duration) =>
      Effect.gen(function*() {
        const record = yield* recordOf(handle)
        const before = yield* info(record)
        if (Option.isNone(before)) return
        const timeoutMs = Duration.toMillis(timeout)
        const now = () => Clock.currentTimeMillis
        const stopAt = yield* now()
        yield* update(record, (current) => ({ ...current, stopRequestedAt: stopAt }))
        let lastExit: PlatformAdapter.ExitInfo | undefined
        let restarts = restartsOf(record, before.value)
        if (!before.value.running) {
          if (before.value.lastExit !== undefined) lastExit = exitFromLaunchd(before.value.lastExit, yield* now())
          yield* bootoutAndWait(record, timeoutMs)
        } else if (!record.keepAlive) {
          // Nothing restarts it: let it end while loaded, so launchd's record of the exit can be read.
          const pid = before.value.pid
          const ended = (i: Option.Option<Launchctl.ServiceInfo>) =>
            Option.isNone(i) || !i.value.running || i.value.pid !== pid ? i : undefined
          yield* Effect.ignore(launchctl.kill("SIGTERM", service(record.label)))
          let after = yield* waitFor(Effect.map(info(record), ended), timeoutMs)
          if (after === undefined) {
            yield* Effect.logWarning(`${record.label} did not stop within ${Duration.format(timeout)}: killing it`)
            yield* Effect.ignore(launchctl.kill("SIGKILL", service(record.label)))
            after = yield* waitFor(Effect.map(info(record), ended), 10_000)
          }
          if (after !== undefined && Option.isSome(after)) {
            restarts = restartsOf(record, after.value)
            if (after.value.lastExit !== undefined) lastExit = exitFromLaunchd(after.value.lastExit, yield* now())
          }
          yield* bootoutAndWait(record, timeoutMs)
        } else {
          // KeepAlive: only unloading keeps launchd from starting it again.
          const pid = before.value.pid!
          const offset = LogFile.size(record.stderr)
          const forced = yield* bootoutAndWait(record, timeoutMs)
          if (forced) yield* Effect.logWarning(`${record.label} did not stop within ${Duration.format(timeout)}: killed it`)
          const exit = markers(record, pid, offset).find((m) => m.event === "exit")
          const at = yield* now()
          lastExit = exit?.code !== undefined
            ? { code: exit.code, signal: null, at: exit.at, description: ExitReason.describeExit(exit.code) }
            : forced
            ? { code: null, signal: "SIGKILL", at, description: "killed by SIGKILL (shutdown timeout)" }
            : { code: null, signal: null, at, description: "ended after SIGTERM (launchd keeps no exit status of a job it unloads)" }
        }
        yield* update(record, ({ failed: _f, stopRequestedAt: _s, ...current }) => ({
          ...current,
          restarts,
          ...(lastExit === undefined ? {} : { lastExit })
        }))
      })

    /** The crash-loop limit launchd lacks: Failed (and unloaded) past `burst` restarts within `interval`. */
    const enforceCrashLoop = (record: Record.Record, i: Launchctl.ServiceInfo) =>
      Effect.gen(function*() {
        if (!record.keepAlive || i.runs === undefined || record.startedAt === undefined) return undefined
        const now = yield* Clock.currentTimeMillis
        const history = record.history ?? []
        const latest = history[history.length - 1]
        const updated = latest === undefined || latest[1] !== i.runs ? [...history, [now, i.runs] as const].slice(-64) : history
        const windowStart = now - record.crashLoop.intervalMs
        const first = updated.find(([at]) => at >= windowStart)
        const within = first === undefined ? 0 : i.runs - first[1]
        if (within <= record.crashLoop.burst) {
          if (updated !== history) yield* update(record, (current) => ({ ...current, history: updated }))
          return undefined
        }
        const reason = `crash loop: ${within} restarts within ${Duration.format(Duration.millis(record.crashLoop.intervalMs))}`
        yield* Effect.logWarning(`${record.label}: ${reason}; unloading it (launchd would restart it forever)`)
        yield* bootoutAndWait(record, 10_000)
        return yield* update(record, (current) => ({
          ...current,
          history: updated,
          failed: reason,
          restarts: restartsOf(record, i),
          ...(i.lastExit === undefined ? {} : { lastExit: exitFromLaunchd(i.lastExit, now) })
        }))
      })

    const status = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.gen(function*() {
        const record = yield* recordOf(handle)
        const current = yield* info(record)
        const now = yield* Clock.currentTimeMillis
        const unloaded = (r: Record.Record): PlatformAdapter.DaemonState => ({
          status: r.failed !== undefined
            ? DaemonStatus.Failed({ reason: r.failed })
            : r.lastExit !== undefined
            ? DaemonStatus.Stopped()
            : DaemonStatus.Created(),
          pid: undefined,
          startedAt: undefined,
          lastExit: r.lastExit,
          restarts: r.restarts ?? 0,
          statusText: undefined,
          health: undefined
        })
        if (Option.isNone(current)) return unloaded(record)
        const i = current.value
        const failed = yield* enforceCrashLoop(record, i)
        if (failed !== undefined) return unloaded(failed)
        const lastExit = i.lastExit === undefined ? undefined : exitFromLaunchd(i.lastExit, now)
        const restarts = restartsOf(record, i)
        if (!i.running) {
          const state = i.state === "spawn scheduled"
            ? DaemonStatus.Starting()
            : lastExit === undefined
            ? DaemonStatus.Stopped()
            : isClean(lastExit)
            ? DaemonStatus.Stopped()
            : DaemonStatus.Failed({ reason: lastExit.description })
          return { status: state, pid: undefined, startedAt: undefined, lastExit, restarts, statusText: undefined, health: undefined }
        }
        // The daemon's own lines say where it is; for a program that writes none, Duende's record
        // says whether a start or a stop of its own is under way.
        const mine = markers(record, i.pid)
        const phase = [...mine].reverse().find((m) => m.event !== "status")?.event
        const hello = mine.find((m) => m.event === "hello")
        const stopping = record.stopRequestedAt !== undefined && now - record.stopRequestedAt < staleMs
        const starting = record.startedAt !== undefined && record.readyAt === undefined &&
          now - record.startedAt < record.initTimeoutMs
        const state = stopping || phase === "stopping" || phase === "exit"
          ? DaemonStatus.Stopping()
          : phase === "ready" || phase === "reloading"
          ? DaemonStatus.Running()
          : phase === "hello" || starting
          ? DaemonStatus.Starting()
          : DaemonStatus.Running()
        const text = [...mine].reverse().find((m) => m.event === "status")?.text
        return {
          status: state,
          pid: i.pid,
          startedAt: hello?.at,
          lastExit,
          restarts,
          statusText: text,
          health: undefined
        }
      })

    const running = (handle: PlatformAdapter.DaemonHandle, what: string) =>
      Effect.gen(function*() {
        const record = yield* recordOf(handle)
        const i = yield* info(record)
        if (Option.isNone(i) || !i.value.running) {
          return yield* new StartFailed({ name: handle.name, reason: `not running: cannot ${what}` })
        }
        return record
      })

    const signal = (handle: PlatformAdapter.DaemonHandle, sig: Signal.Signal) =>
      Effect.flatMap(running(handle, `send ${sig}`), (record) => launchctl.kill(sig, service(record.label)))

    const restart = (handle: PlatformAdapter.DaemonHandle, timeout: Duration.Duration) =>
      Effect.gen(function*() {
        const record = yield* recordOf(handle)
        const before = yield* info(record)
        if (Option.isNone(before) || !before.value.running) return yield* start(handle)
        const pid = before.value.pid
        const startedAt = yield* Clock.currentTimeMillis
        const offset = LogFile.size(record.stderr)
        const restarted = yield* update(record, ({ readyAt: _r, ...current }) => ({
          ...current,
          startedAt,
          stderrOffset: offset,
          runsBefore: before.value.runs ?? 0,
          history: []
        }))
        yield* Effect.ignore(launchctl.kill("SIGTERM", service(record.label)))
        const ended = yield* waitFor(
          Effect.map(info(record), (i) => (Option.isNone(i) || !i.value.running || i.value.pid !== pid ? true : undefined)),
          Duration.toMillis(timeout)
        )
        // Still running: launchd kills it and starts it again. Ended: start it, unless KeepAlive already did.
        yield* launchctl.kickstart(service(record.label), { kill: ended === undefined })
        yield* awaitReady(handle, restarted, startedAt, offset)
        const readyAt = yield* Clock.currentTimeMillis
        yield* update(restarted, (current) => ({ ...current, readyAt }))
      })

    const toLines = (stream: "stdout" | "stderr", lines: ReadonlyArray<string>) => {
      let at = 0
      return lines.map((text): PlatformAdapter.LogLine => {
        const stamp = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)\s/.exec(text)
        if (stamp !== null) at = Date.parse(stamp[1]!)
        return { at, stream, text }
      })
    }

    /** stdout and stderr lines merged by the times Duende's log lines carry (a file's own order kept). */
    const merged = (out: ReadonlyArray<string>, err: ReadonlyArray<string>) => {
      const a = toLines("stdout", out)
      const b = toLines("stderr", err)
      const all: Array<PlatformAdapter.LogLine> = []
      let i = 0
      let j = 0
      while (i < a.length || j < b.length) {
        if (j >= b.length || (i < a.length && a[i]!.at <= b[j]!.at)) all.push(a[i++]!)
        else all.push(b[j++]!)
      }
      return all
    }

    const sameFile = (record: Record.Record) => record.stdout === record.stderr

    const logs = (handle: PlatformAdapter.DaemonHandle, logOptions?: { readonly lines?: number }) =>
      Effect.map(recordOf(handle), (record) => {
        const count = logOptions?.lines ?? 100
        if (sameFile(record)) return toLines("stdout", LogFile.tail(record.stdout, count))
        return merged(LogFile.tail(record.stdout, count), LogFile.tail(record.stderr, count)).slice(-count)
      })

    const followLogs = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.map(recordOf(handle), (record) => {
        let out = LogFile.size(record.stdout)
        let err = LogFile.size(record.stderr)
        const read = Effect.sync(() => {
          const o = LogFile.readFrom(record.stdout, out)
          out = o.next
          if (sameFile(record)) return toLines("stdout", o.lines)
          const e = LogFile.readFrom(record.stderr, err)
          err = e.next
          return merged(o.lines, e.lines)
        })
        return Stream.repeatEffectWithSchedule(read, Schedule.spaced(Duration.millis(200))).pipe(Stream.flattenIterables)
      })

    const events = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.gen(function*() {
        const record = yield* recordOf(handle)
        const first = yield* info(record)
        let pid = Option.isSome(first) ? first.value.pid : undefined
        let offset = LogFile.size(record.stderr)
        const look = Effect.gen(function*() {
          const current = yield* Effect.option(info(record))
          const at = yield* Clock.currentTimeMillis
          const found: Array<PlatformAdapter.DaemonEvent> = []
          const fresh = LogFile.readFrom(record.stderr, offset)
          offset = fresh.next
          for (const marker of fresh.lines.flatMap((l) => parseMarker(l) ?? [])) {
            if (marker.event === "ready") found.push({ _tag: "Ready", at: marker.at })
            else if (marker.event === "reloading") found.push({ _tag: "Reloading", at: marker.at })
            else if (marker.event === "stopping") found.push({ _tag: "Stopping", at: marker.at })
            else if (marker.event === "status" && marker.text !== undefined) {
              found.push({ _tag: "StatusText", text: marker.text, at: marker.at })
            }
          }
          // A reading that failed (launchctl busy) is skipped; the next one catches up.
          if (Option.isNone(current)) return found
          const i = Option.getOrUndefined(current.value)
          const now = i?.running ? i.pid : undefined
          if (pid !== undefined && now !== pid) {
            const last = i?.lastExit
            found.push({
              _tag: "Exited",
              exit: last === undefined ? { code: null, signal: null, at, description: "ended" } : exitFromLaunchd(last, at)
            })
          }
          if (now !== undefined && now !== pid) found.push({ _tag: "Started", pid: now, at })
          pid = now
          if (i !== undefined) {
            const latest = yield* Effect.option(Record.read(directories.state, record.label))
            const r = Option.getOrUndefined(latest) ?? record
            yield* Effect.ignore(enforceCrashLoop(r, i))
          }
          return found
        })
        return Stream.repeatEffectWithSchedule(look, Schedule.spaced(pollInterval)).pipe(Stream.flattenIterables)
      })

    const uninstall = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.gen(function*() {
        const record = yield* recordOf(handle)
        const i = yield* info(record)
        if (Option.isSome(i) && i.value.running) {
          return yield* new OperationUnsupported({
            operation: `uninstall ${handle.name} while it runs`,
            platform: "launchd",
            hint: "stop it first"
          })
        }
        if (Option.isSome(i)) yield* bootoutAndWait(record, 10_000)
        yield* Files.remove(record.plist)
        yield* Record.remove(directories.state, record.label)
      })

    const install = (config: DaemonConfig.DaemonConfig, id?: DaemonId.DaemonId) =>
      Effect.gen(function*() {
        const job = yield* jobFor(config)
        for (const warning of job.warnings) yield* Effect.logWarning(`${config.name}: ${warning.field}: ${warning.reason}`)
        const content = yield* Either.match(LaunchdJob.text(job), {
          onLeft: (error) => Effect.fail(new OperationUnsupported({ operation: `write ${job.fileName}`, platform: "launchd", hint: error.message })),
          onRight: Effect.succeed
        })
        const existing = yield* Record.read(directories.state, job.label)
        if (existing !== undefined && existing.name !== config.name) {
          return yield* new OperationUnsupported({
            operation: `install "${config.name}" as ${job.label}`,
            platform: "launchd",
            hint: `that label belongs to the daemon "${existing.name}": set platform.launchd.label`
          })
        }
        const identity = id ?? (existing !== undefined && DaemonId.is(existing.id) ? existing.id : DaemonId.random())
        const record: Record.Record = {
          id: identity,
          name: config.name,
          label: job.label,
          domain,
          plist: plistPath(job.label),
          stdout: job.stdoutPath,
          stderr: job.stderrPath,
          keepAlive: config.restart.policy !== "never",
          initTimeoutMs: Duration.toMillis(config.initTimeout),
          readiness: config.platform.launchd?.ready ?? "auto",
          crashLoop: { burst: config.restart.crashLoop.burst, intervalMs: Duration.toMillis(config.restart.crashLoop.interval) }
        }
        const loaded = yield* info(record)
        if (Option.isSome(loaded) && loaded.value.running) {
          yield* Effect.logWarning(`${job.label} runs its old definition until it is stopped and started again`)
        } else if (Option.isSome(loaded)) {
          // A loaded job keeps the definition it was loaded with: unload it, the next start loads this one.
          yield* bootoutAndWait(record, 10_000)
        }
        yield* Files.ensureDirectory(job.directories.logs)
        yield* Files.writeAtomic(record.plist, content, 0o644)
        yield* Record.write(directories.state, record)
        return { id: identity, name: config.name, platform: "launchd" as const, ref: job.label }
      })

    const find = (name: string) =>
      Effect.gen(function*() {
        const records = yield* Record.all(directories.state)
        const recorded = records.find((r) => r.name === name)
        if (recorded !== undefined) {
          const id = DaemonId.is(recorded.id) ? recorded.id : DaemonId.random()
          return { id, name, platform: "launchd" as const, ref: recorded.label }
        }
        const label = LaunchdJob.label(name)
        if (Files.exists(plistPath(label))) return { id: DaemonId.random(), name, platform: "launchd" as const, ref: label }
        return yield* new DaemonNotFound({ name, platform: "launchd" })
      })

    const adapter: LaunchdAdapter = {
      platform: "launchd",
      restarts: "platform",
      attachTracer: () =>
        Effect.fail(
          new SyscallTrace.TraceUnsupported({
            platform: "launchd",
            reason:
              "launchd runs daemons on macOS, where strace does not exist (dtruss needs System Integrity Protection disabled); trace the daemon with the native supervisor or systemd on Linux"
          })
        ),
      scope,
      domain,
      directories,
      launchctl,
      job: jobFor,
      render: (config) =>
        Effect.flatMap(jobFor(config), (job) =>
          Either.match(LaunchdJob.text(job), {
            onLeft: (error) =>
              Effect.fail(new OperationUnsupported({ operation: `write ${job.fileName}`, platform: "launchd", hint: error.message })),
            onRight: (content) => Effect.succeed([{ name: job.fileName, kind: "launchd plist", content }])
          })),
      install,
      start,
      stop,
      restart,
      reload: (handle) => signal(handle, "SIGHUP"),
      signal,
      status,
      logs,
      followLogs,
      events,
      uninstall,
      find
    }
    return adapter
  })

/**
 * The adapter as a layer providing core's `PlatformAdapter` and {@link LaunchdAdapter}.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { PlatformAdapter } from "@duende/core/manager"
 * import { LaunchdAdapter } from "@duende/platform-launchd/adapter"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const adapter = yield* PlatformAdapter.PlatformAdapter
 *   const handle = yield* adapter.install(yield* DaemonConfig.load("duende.json"))
 *   yield* adapter.start(handle)
 * }).pipe(Effect.provide(LaunchdAdapter.layer({ scope: "agent" })))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<PlatformAdapter.PlatformAdapter | LaunchdAdapter> =>
  Layer.effectContext(
    Effect.map(make(options), (adapter) =>
      Context.make(LaunchdAdapter, adapter).pipe(Context.add(PlatformAdapter.PlatformAdapter, adapter)))
  )
