/**
 * Core's `PlatformAdapter` for systemd, in the system or the `--user` scope.
 * `install` writes the units atomically, runs `daemon-reload` and enables
 * them; `start` returns when systemd reports the unit active (for Type=notify,
 * after the daemon's READY=1); `stop` waits up to its timeout and then kills
 * the unit's processes; status comes from `systemctl show`, logs from
 * `journalctl -o json`, events from reading the unit's properties every
 * `pollInterval` (a state held for less than that may go unseen; starts and
 * exits are never missed, their timestamps change). systemd
 * restarts crashed daemons itself (`restarts: "platform"`). `runTransient`
 * starts a daemon without a unit file through `systemd-run`, with the same
 * properties.
 *
 * To manage the systemd of another machine (a container in tests), give a
 * command `prefix` (`["nsenter", "-t", pid, "-a"]`) and the `root` under which
 * its file system is visible here (`/proc/<pid>/root`).
 *
 * @since 0.1.0
 */
import type { DaemonConfig } from "@duende/core"
import { DaemonId } from "@duende/core"
import {
  type AdapterError,
  DaemonAlreadyRunning,
  DaemonNotFound,
  OperationUnsupported,
  PlatformAdapter,
  PlatformCommandFailed,
  StartFailed,
  SyscallTrace
} from "@duende/core/manager"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { homedir } from "node:os"
import { join } from "node:path"
import * as Files from "./internal/files.js"
import { hostPids } from "./internal/hostPid.js"
import * as UnitState from "./internal/unitState.js"
import * as Systemctl from "./Systemctl.js"
import { defaults as sectionDefaults, type SystemdSection } from "./SystemdSection.js"
import * as SystemdUnit from "./SystemdUnit.js"
import * as UnitFile from "./UnitFile.js"

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** "system" (default): units in /etc/systemd/system; "user": the user's manager (`--user`). */
  readonly scope?: "system" | "user"
  /** Put before every tool (see `Systemctl.Options.prefix`). */
  readonly prefix?: ReadonlyArray<string>
  /** The target's root directory as seen from here (default "/"). */
  readonly root?: string
  /** Where units go on the target (default /etc/systemd/system, or ~/.config/systemd/user). */
  readonly unitDirectory?: string
  /** The tools' environment (default: this process's). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** systemd settings for a daemon; by default those in its config's `platform.systemd`. */
  readonly systemd?: SystemdSection | ((config: DaemonConfig.DaemonConfig) => SystemdSection)
  /** Enable units at install so they start at boot (default true). */
  readonly enable?: boolean
  /** How often `events` reads the unit's properties (default 250ms). */
  readonly pollInterval?: Duration.DurationInput
  /** Where programs are looked up when rendering (default: this process's PATH and cwd). */
  readonly host?: Partial<SystemdUnit.Host>
}

/**
 * The systemd adapter: core's `PlatformAdapter` plus what only systemd does.
 *
 * @since 0.1.0
 */
export interface SystemdAdapter extends PlatformAdapter.PlatformAdapter {
  readonly scope: "system" | "user"
  readonly systemctl: Systemctl.Systemctl
  /** The units a config renders to, for this adapter's scope and systemd version. */
  readonly units: (config: DaemonConfig.DaemonConfig) => Effect.Effect<SystemdUnit.Units, AdapterError>
  /** An installed (or running transient) daemon by its name. */
  readonly find: (name: string) => Effect.Effect<PlatformAdapter.DaemonHandle, AdapterError>
  /** Starts a daemon as a transient unit (`systemd-run`), returning once it is up (after READY=1). */
  readonly runTransient: (
    config: DaemonConfig.DaemonConfig,
    id?: DaemonId.DaemonId
  ) => Effect.Effect<PlatformAdapter.DaemonHandle, AdapterError>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { SystemdAdapter } from "@duende/platform-systemd/adapter"
 * import { Effect } from "effect"
 *
 * const handle = Effect.flatMap(SystemdAdapter.SystemdAdapter, (adapter) => adapter.find("api"))
 * ```
 *
 * @since 0.1.0
 */
export const SystemdAdapter: Context.Tag<SystemdAdapter, SystemdAdapter> = Context.GenericTag<SystemdAdapter>(
  "@duende/platform-systemd/SystemdAdapter"
)

const notRunning = (state: Readonly<Record<string, string>>) =>
  state.ActiveState !== "active" && state.ActiveState !== "reloading"

const unwritable = (unit: SystemdUnit.Unit, error: UnitFile.UnitFileError) =>
  new OperationUnsupported({ operation: `write ${unit.name}`, platform: "systemd", hint: error.message })

const mainPid = (state: Readonly<Record<string, string>>) => (Number(state.MainPID) > 0 ? Number(state.MainPID) : undefined)

/**
 * Makes the adapter.
 *
 * @example
 * ```ts
 * import { SystemdAdapter } from "@duende/platform-systemd/adapter"
 * import { DaemonConfig } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const adapter = yield* SystemdAdapter.make({ scope: "user" })
 *   const config = yield* DaemonConfig.load("duende.json")
 *   const handle = yield* adapter.install(config)
 *   yield* adapter.start(handle)
 *   return yield* adapter.status(handle)
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<SystemdAdapter> =>
  Effect.gen(function*() {
    const scope = options.scope ?? "system"
    const env = options.env ?? process.env
    const root = options.root ?? "/"
    const systemctl = yield* Systemctl.make({ scope, env, ...(options.prefix ? { prefix: options.prefix } : {}) })
    const unitDirectory = options.unitDirectory ??
      (scope === "system"
        ? "/etc/systemd/system"
        : join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config"), "systemd", "user"))
    const hostPath = (name: string) => join(root, unitDirectory, name)
    const pollInterval = Duration.decode(options.pollInterval ?? Duration.millis(250))
    const enable = options.enable ?? true
    const sectionFor = (config: DaemonConfig.DaemonConfig): Effect.Effect<SystemdSection, OperationUnsupported> => {
      if (typeof options.systemd === "function") return Effect.succeed(options.systemd(config))
      if (options.systemd !== undefined) return Effect.succeed(options.systemd)
      // The config's own systemd section, already decoded (and checked) with the config.
      return Effect.succeed(config.platform.systemd ?? sectionDefaults)
    }
    const host: Partial<SystemdUnit.Host> = { root, ...options.host }

    const show = (unit: string) => systemctl.show(unit, UnitState.properties)
    /** The last exit as systemd's journal tells it: `show` forgets it once systemd restarted the unit. */
    const journalExit = (unit: string) =>
      Effect.map(
        systemctl.journal([
          `MESSAGE_ID=${UnitState.processExitMessage}`,
          `MESSAGE_ID=${UnitState.unitResultMessage}`,
          scope === "system" ? `UNIT=${unit}` : `USER_UNIT=${unit}`
        ], 6),
        UnitState.journalExit
      )
    /** A restart between two readings: systemd cleared the exit before it could be seen; the journal has it. */
    const missedExit = (unit: string, previous: Readonly<Record<string, string>>, next: Readonly<Record<string, string>>) =>
      Number(next.NRestarts) > Number(previous.NRestarts) && next.ExecMainExitTimestamp === previous.ExecMainExitTimestamp
        ? Effect.map(
          Effect.orElseSucceed(journalExit(unit), () => undefined),
          (found): ReadonlyArray<PlatformAdapter.DaemonEvent> =>
            found === undefined ? [] : [
              ...(found.result === "watchdog"
                ? [{
                  _tag: "WatchdogMissed" as const,
                  timeoutMs: UnitState.timespanMillis(next.WatchdogUSec) ?? 0,
                  at: found.exit.at
                }]
                : []),
              { _tag: "Exited" as const, exit: found.exit }
            ]
        )
        : Effect.succeed([])
    const state = (unit: string, p: Readonly<Record<string, string>>) => {
      const current = UnitState.toState(p)
      if (current.lastExit !== undefined || current.restarts === 0) return Effect.succeed(current)
      return Effect.map(
        Effect.orElseSucceed(journalExit(unit), () => undefined),
        (found) => found === undefined ? current : { ...current, lastExit: found.exit }
      )
    }
    const loaded = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.filterOrFail(
        show(handle.ref),
        (p) => p.LoadState !== "not-found",
        () => new DaemonNotFound({ name: handle.name, platform: "systemd" })
      )
    const socketOf = (handle: PlatformAdapter.DaemonHandle) => handle.ref.replace(/\.service$/, ".socket")
    const socketLoaded = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.map(systemctl.show(socketOf(handle), ["LoadState"]), (p) => p.LoadState === "loaded")

    const unitsFor = (config: DaemonConfig.DaemonConfig, id?: DaemonId.DaemonId) =>
      Effect.gen(function*() {
        const version = yield* systemctl.version
        const units = SystemdUnit.make(config, {
          scope,
          version,
          systemd: yield* sectionFor(config),
          host,
          ...(id === undefined ? {} : { id })
        })
        if (Either.isLeft(units)) {
          return yield* new OperationUnsupported({
            operation: `render a unit for "${config.name}"`,
            platform: "systemd",
            hint: units.left.reason
          })
        }
        return units.right
      })

    /** The id recorded in an installed unit file, if there is one. */
    const installedId = (unitName: string) =>
      Effect.map(Files.readIfExists(hostPath(unitName)), (text) => {
        if (text === undefined) return undefined
        const parsed = UnitFile.parse(text)
        if (Either.isLeft(parsed)) return undefined
        const id = UnitFile.values(parsed.right, "X-Duende", "Id")[0]
        return id !== undefined && DaemonId.is(id) ? id : undefined
      })

    /** Why the last start failed, from the unit's properties and its last journal lines. */
    const startFailure = (handle: PlatformAdapter.DaemonHandle, error: PlatformCommandFailed) =>
      Effect.gen(function*() {
        const p = yield* Effect.orElseSucceed(show(handle.ref), () => ({}) as Readonly<Record<string, string>>)
        const invocation = p.InvocationID
        // journald may not have stored the daemon's last lines yet when systemctl returns: ask again
        // for up to a second while there are none (a daemon that printed nothing costs that second).
        const lines = invocation
          ? yield* systemctl.journal([`_SYSTEMD_INVOCATION_ID=${invocation}`], 3).pipe(
            Effect.filterOrFail((found) => found.some((line) => line.message !== "")),
            Effect.retry(Schedule.intersect(Schedule.spaced(Duration.millis(100)), Schedule.recurs(10))),
            Effect.orElseSucceed(() => [])
          )
          : []
        const what = p.Result !== undefined && p.Result !== "success" ? UnitState.failure(p) : error.message
        const tail = lines.map((line) => line.message).filter((m) => m !== "")
        const reason = tail.length > 0 ? `${what}; last output: ${tail.join(" | ")}` : what
        return new StartFailed({ name: handle.name, reason })
      })

    const start = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.gen(function*() {
        const p = yield* loaded(handle)
        if (!notRunning(p)) {
          return yield* new DaemonAlreadyRunning({ name: handle.name, pid: mainPid(p) })
        }
        yield* systemctl.run("systemctl", ["start", handle.ref]).pipe(
          Effect.catchAll((error) => Effect.flatMap(startFailure(handle, error), Effect.fail))
        )
      })

    /** Stops the service and, unless `keepSocket`, its socket (a stopped daemon listens on nothing). */
    const stopUnits = (handle: PlatformAdapter.DaemonHandle, timeout: Duration.Duration, keepSocket: boolean) =>
      Effect.gen(function*() {
        yield* loaded(handle)
        const units = !keepSocket && (yield* socketLoaded(handle)) ? [socketOf(handle), handle.ref] : [handle.ref]
        const stopped = yield* systemctl.run("systemctl", ["stop", ...units]).pipe(Effect.timeoutOption(timeout))
        if (Option.isSome(stopped)) return
        yield* Effect.logWarning(`${handle.ref} did not stop within ${Duration.format(timeout)}: killing it`)
        yield* systemctl.run("systemctl", ["kill", "--signal=SIGKILL", handle.ref])
        yield* systemctl.run("systemctl", ["stop", ...units])
        // Killed because it was asked to stop: stopped, not failed (the exit stays on record).
        yield* Effect.ignore(systemctl.run("systemctl", ["reset-failed", handle.ref]))
      })
    const stop = (handle: PlatformAdapter.DaemonHandle, timeout: Duration.Duration) => stopUnits(handle, timeout, false)

    const notRunningError = (handle: PlatformAdapter.DaemonHandle, what: string) =>
      new StartFailed({ name: handle.name, reason: `not running: cannot ${what}` })

    const adapter: SystemdAdapter = {
      platform: "systemd",
      restarts: "platform",
      scope,
      systemctl,
      units: (config) => unitsFor(config),
      render: (config) =>
        Effect.flatMap(unitsFor(config), (units) =>
          Effect.forEach(SystemdUnit.files(units), (unit) =>
            Either.match(SystemdUnit.text(unit), {
              onLeft: (error) =>
                Effect.fail(unwritable(unit, error)),
              onRight: (content) => Effect.succeed({ name: unit.name, kind: "systemd unit", content })
            }))),
      install: (config, id) =>
        Effect.gen(function*() {
          const serviceName = `${SystemdUnit.baseName(config.name, yield* sectionFor(config))}.service`
          const identity = id ?? (yield* installedId(serviceName)) ?? DaemonId.random()
          const units = yield* unitsFor(config, identity)
          if (units.target !== undefined) {
            return yield* new OperationUnsupported({
              operation: `install ${config.instances} instances of ${config.name}`,
              platform: "systemd",
              hint: "installing them as a template is not built yet: `duende render systemd` writes the template, its socket and target"
            })
          }
          const written = SystemdUnit.files(units)
          for (const unit of written) {
            const content = SystemdUnit.text(unit)
            if (Either.isLeft(content)) {
              return yield* unwritable(unit, content.left)
            }
            yield* Files.writeAtomic(hostPath(unit.name), content.right)
          }
          const socketName = serviceName.replace(/\.service$/, ".socket")
          if (units.socket === undefined) yield* Files.remove(hostPath(socketName))
          yield* systemctl.run("systemctl", ["daemon-reload"])
          if (enable) yield* systemctl.run("systemctl", ["enable", "--quiet", units.socket ? socketName : serviceName])
          return { id: identity, name: config.name, platform: "systemd" as const, ref: serviceName }
        }),
      start,
      stop,
      // With socket activation only the service restarts: systemd keeps the socket listening and the
      // kernel queues connections meanwhile, so none is refused.
      restart: (handle, timeout) => Effect.zipRight(stopUnits(handle, timeout, true), start(handle)),
      reload: (handle) =>
        Effect.gen(function*() {
          const p = yield* loaded(handle)
          if (notRunning(p)) return yield* notRunningError(handle, "reload")
          yield* systemctl.run("systemctl", ["reload", handle.ref])
        }),
      signal: (handle, signal) =>
        Effect.gen(function*() {
          const p = yield* loaded(handle)
          if (mainPid(p) === undefined) return yield* notRunningError(handle, `send ${signal}`)
          const version = yield* systemctl.version
          yield* systemctl.run("systemctl", [
            "kill",
            version >= 252 ? "--kill-whom=main" : "--kill-who=main",
            `--signal=${signal}`,
            handle.ref
          ])
        }),
      status: (handle) => Effect.flatMap(loaded(handle), (p) => state(handle.ref, p)),
      logs: (handle, logOptions) =>
        Effect.zipRight(
          loaded(handle),
          Effect.map(systemctl.journal([unitMatch(scope, handle.ref)], logOptions?.lines ?? 100), (entries) =>
            entries.map(toLogLine))
        ),
      followLogs: (handle) =>
        Effect.zipRight(
          loaded(handle),
          Effect.map(systemctl.follow([unitMatch(scope, handle.ref)]), Stream.map(toLogLine))
        ),
      events: (handle) =>
        Effect.map(loaded(handle), (first) =>
          Stream.repeatEffectWithSchedule(
            // A failed reading (systemctl busy, unit reloading) is skipped; the next one catches up.
            Effect.option(Effect.zip(show(handle.ref), Clock.currentTimeMillis)),
            Schedule.spaced(pollInterval)
          ).pipe(
            Stream.filterMap((reading) => reading),
            Stream.mapAccumEffect(first, (previous, [next, at]) =>
              Effect.map(missedExit(handle.ref, previous, next), (missed) =>
                [next, [...missed, ...UnitState.diff(previous, next, at)]] as const)),
            Stream.flattenIterables
          )),
      attachTracer: (handle, traceOptions) =>
        Effect.gen(function*() {
          const { pid, startedAt } = yield* Effect.flatMap(loaded(handle), (p) => state(handle.ref, p))
          if (pid === undefined || startedAt === undefined) {
            return yield* new SyscallTrace.TracerFailed({ reason: `${handle.ref} has no main process (not running)` })
          }
          // MainPID is systemd's: in a container's pid namespace when systemd runs in one.
          const found = hostPids(pid, startedAt)
          if (found.length !== 1) {
            return yield* new SyscallTrace.TracerFailed({
              reason: found.length === 0
                ? `no process on this host is ${handle.ref}'s MainPID ${pid} started at ${new Date(startedAt).toISOString()} (its systemd's pid namespace is not visible from here)`
                : `${found.length} processes on this host could be ${handle.ref}'s MainPID ${pid} (pids ${found.join(", ")}): not tracing any`
            })
          }
          return yield* SyscallTrace.attach({ pid: found[0]!, startedAt }, traceOptions)
        }),
      uninstall: (handle) =>
        Effect.gen(function*() {
          const p = yield* loaded(handle)
          if (p.ActiveState === "active" || p.ActiveState === "reloading" || p.ActiveState === "activating") {
            return yield* new OperationUnsupported({
              operation: `uninstall ${handle.name} while it runs`,
              platform: "systemd",
              hint: "stop it first"
            })
          }
          const socket = socketOf(handle)
          const files = [handle.ref, socket]
          const owned = yield* Effect.map(Files.readIfExists(hostPath(handle.ref)), (text) => text !== undefined)
          if (owned) {
            yield* Effect.ignore(systemctl.run("systemctl", ["disable", "--quiet", ...files]))
            yield* Effect.forEach(files, (name) => Files.remove(hostPath(name)), { discard: true })
            yield* systemctl.run("systemctl", ["daemon-reload"])
          }
          // Forget a failed state (and unload a transient unit).
          yield* Effect.ignore(systemctl.run("systemctl", ["reset-failed", handle.ref]))
        }),
      find: (name) =>
        Effect.gen(function*() {
          const direct = `${name}.service`
          const id = yield* installedId(direct)
          if (id !== undefined) return { id, name, platform: "systemd" as const, ref: direct }
          // A unit renamed by `systemd.unit`: look for its [X-Duende] Name=.
          for (const file of yield* Files.list(join(root, unitDirectory))) {
            if (!file.endsWith(".service")) continue
            const text = yield* Files.readIfExists(hostPath(file))
            const parsed = text === undefined ? undefined : Either.getOrUndefined(UnitFile.parse(text))
            if (parsed === undefined || UnitFile.values(parsed, "X-Duende", "Name")[0] !== name) continue
            const recorded = UnitFile.values(parsed, "X-Duende", "Id")[0]
            const id = recorded !== undefined && DaemonId.is(recorded) ? recorded : DaemonId.random()
            return { id, name, platform: "systemd" as const, ref: file }
          }
          // A transient unit has no file.
          const p = yield* show(direct)
          if (p.LoadState === "loaded") return { id: DaemonId.random(), name, platform: "systemd" as const, ref: direct }
          return yield* new DaemonNotFound({ name, platform: "systemd" })
        }),
      runTransient: (config, id) =>
        Effect.gen(function*() {
          const units = yield* unitsFor(config)
          const handle = {
            id: id ?? DaemonId.random(),
            name: config.name,
            platform: "systemd" as const,
            ref: units.service.name
          }
          const p = yield* show(handle.ref)
          if (p.LoadState !== "not-found" && !notRunning(p)) {
            return yield* new DaemonAlreadyRunning({ name: config.name, pid: mainPid(p) })
          }
          // A failed transient unit of that name stays loaded until reset.
          if (p.LoadState !== "not-found") yield* Effect.ignore(systemctl.run("systemctl", ["reset-failed", handle.ref]))
          yield* systemctl.run("systemd-run", ["--quiet", ...SystemdUnit.transientArguments(units)]).pipe(
            Effect.catchAll((error) => Effect.flatMap(startFailure(handle, error), Effect.fail))
          )
          return handle
        })
    }
    return adapter
  })

const unitMatch = (scope: "system" | "user", unit: string) =>
  scope === "system" ? `_SYSTEMD_UNIT=${unit}` : `_SYSTEMD_USER_UNIT=${unit}`

/**
 * journald does not record which stream a line came from; warnings and worse
 * (Duende logs them with a priority prefix) count as stderr.
 */
const toLogLine = (entry: Systemctl.JournalEntry): PlatformAdapter.LogLine => ({
  at: entry.at,
  stream: entry.priority <= 4 ? "stderr" : "stdout",
  text: entry.message
})

/**
 * The adapter as a layer providing core's `PlatformAdapter` and {@link SystemdAdapter}.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { PlatformAdapter } from "@duende/core/manager"
 * import { SystemdAdapter } from "@duende/platform-systemd/adapter"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const adapter = yield* PlatformAdapter.PlatformAdapter
 *   const handle = yield* adapter.install(yield* DaemonConfig.load("duende.json"))
 *   yield* adapter.start(handle)
 * }).pipe(Effect.provide(SystemdAdapter.layer({ scope: "user" })))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<PlatformAdapter.PlatformAdapter | SystemdAdapter> =>
  Layer.effectContext(
    Effect.map(make(options), (adapter) =>
      Context.make(SystemdAdapter, adapter).pipe(Context.add(PlatformAdapter.PlatformAdapter, adapter)))
  )
