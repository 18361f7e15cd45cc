/**
 * The per-user supervisor: a background Duende daemon that runs the user's
 * daemons on the native platform, answers the `duende` command on its control
 * socket, saves its registry on every change and restores it when it comes
 * back. A daemon a previous supervisor left running (after a `kill -9`) is
 * taken over as it is — same pid, no restart — when the registry says it
 * should run and it is the recorded process (its `DUENDE_DAEMON_ID`, start
 * time and owner); any other copy, and what should not run, is stopped. None
 * runs unsupervised, none runs twice.
 *
 * @since 0.1.0
 */
import { Daemon, type DaemonConfig, type DaemonId, Signal } from "@duende/core"
import { decodeEither, encode } from "@duende/core/DaemonConfigSchema"
import { DaemonManager, NativeAdapter, ProcessTree } from "@duende/core/manager"
import { HealthMonitor, MetricsRegistry, ProcessSampler, PrometheusServer, SupervisorMetrics } from "@duende/observe/manager"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { mkdirSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { monitorEventLoopDelay } from "node:perf_hooks"
import type { DaemonInfo, ErrorInfo, LogLineInfo, Request, SupervisorStats } from "./ControlProtocol.js"
import { serve } from "./internal/controlServer.js"
import * as Group from "./internal/group.js"
import * as OwnLog from "./internal/ownLog.js"
import { type Paths, unsafe } from "./Paths.js"
import * as Registry from "./Registry.js"

const errorInfo = (error: { readonly _tag: string; readonly message: string }): ErrorInfo => ({
  tag: error._tag,
  message: error.message
})

/**
 * Processes of this user started by a native supervisor for one of `ids`
 * (their DUENDE_DAEMON_ID), by pid: found even when their pid never reached
 * the registry (a supervisor killed right after the spawn).
 */
const daemonsById = (ids: ReadonlySet<string>): Map<string, Array<number>> => {
  const found = new Map<string, Array<number>>()
  let names: Array<string>
  try {
    names = readdirSync("/proc")
  } catch {
    return found
  }
  const uid = process.getuid?.()
  for (const name of names) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    const pid = Number(name)
    if (uid !== undefined && ProcessTree.ownerOf(pid) !== uid) continue
    let environ: string
    try {
      environ = readFileSync(`/proc/${pid}/environ`, "utf8")
    } catch {
      continue
    }
    const id = /(?:^|\0)DUENDE_DAEMON_ID=([^\0]*)/.exec(environ)?.[1]
    if (id !== undefined && ids.has(id)) found.set(id, [...(found.get(id) ?? []), pid])
  }
  return found
}

/** The config an instance's entry belongs to (`api` for `api@2`); undefined for a daemon of one. */
const configOf = (entry: Registry.Entry | undefined): string | undefined =>
  entry?.instance === undefined ? undefined : entry.name.slice(0, entry.name.lastIndexOf("@"))

/** The supervisor's state: the registry entries next to the manager that runs them. */
class State {
  readonly entries = new Map<string, Registry.Entry>()
  readonly usage = new Map<string, { cpuPercent: number | null; memoryBytes: number }>()
  /** Where the Prometheus endpoint listens (undefined when turned off). */
  metricsUrl: string | undefined
  /** The event loop's delay, sampled by Node every 10 ms (for `stats`). */
  readonly loopDelay = monitorEventLoopDelay({ resolution: 10 })
  /** What restoring found besides the daemons (a recovered registry, entries skipped or merged), for `resurrect`, `ls` and `doctor`. */
  readonly notices: Array<string> = []
  /** Registry entries whose config no longer decodes, with why: kept (nothing is lost), listed, not run. */
  readonly invalid = new Map<string, string>()
  readonly startedAt = Date.now()

  constructor(
    readonly paths: Paths,
    /** Processes a dead supervisor left running, by daemon id, for the native adapter to take over. */
    readonly adoptable: Map<string, { readonly pid: number; readonly startedAt: number }>,
    readonly manager: DaemonManager.DaemonManager,
    private readonly saves: Queue.Queue<void>,
    private readonly sampler: ProcessSampler.ProcessSampler,
    private readonly monitor: HealthMonitor.HealthMonitor
  ) {}

  /** One save at a time; saves that wait together are done as one (group commit). */
  private readonly saving = Effect.unsafeMakeSemaphore(1)
  private requested = 0
  private completed = 0
  requestSave = Effect.suspend(() => Queue.offer(this.saves, undefined))
  /** Saves the registry; returns once a save that started after this call has finished. */
  saveNow = Effect.suspend(() => {
    const mine = ++this.requested
    return this.saving.withPermits(1)(Effect.suspend(() => {
      if (this.completed >= mine) return Effect.void // a later save already wrote this change
      const covers = this.requested
      return Effect.tap(
        Registry.save(this.paths.registry, [...this.entries.values()]),
        () => Effect.sync(() => (this.completed = covers))
      )
    }))
  })

  /** Loads the registry, stops what a dead supervisor left running, registers every daemon. */
  restore = Effect.gen(this, function*() {
    const loaded = yield* Registry.load(this.paths.registry)
    for (const warning of loaded.warnings) {
      this.notices.push(warning)
      yield* Effect.logWarning(warning)
    }
    const leftovers = daemonsById(new Set(loaded.entries.map((entry) => entry.id)))
    // One entry per name: the later one (the file is written in order), said so.
    const byName = new Map<string, Registry.Entry>()
    for (const entry of loaded.entries) {
      const earlier = byName.get(entry.name)
      if (earlier !== undefined) {
        this.notices.push(
          `the registry had two entries named "${entry.name}": kept the later one (id ${entry.id}), dropped id ${earlier.id}`
        )
      }
      byName.set(entry.name, entry)
    }
    const entries = [...byName.values()]
    for (const entry of loaded.entries) {
      if (byName.get(entry.name) === entry) continue
      // A dropped entry's process, left by a dead supervisor, must not run on unsupervised.
      for (const pid of leftovers.get(entry.id) ?? []) {
        const startedAt = ProcessTree.startTime(pid)
        if (startedAt !== undefined) yield* ProcessTree.stopForeign(pid, startedAt, Duration.seconds(30))
      }
    }
    for (const entry of entries) {
      this.entries.set(entry.name, entry)
      const decoded = decodeEither(entry.config, `registry entry ${entry.name}`)
      const timeout = Either.isRight(decoded) ? decoded.right.shutdownTimeout : Duration.seconds(30)
      // The recorded pid, and any process started for this entry whose pid never reached the registry.
      const candidates = new Map<number, number>()
      if (entry.lastPid !== undefined && entry.lastPidStartedAt !== undefined) candidates.set(entry.lastPid, entry.lastPidStartedAt)
      for (const pid of leftovers.get(entry.id) ?? []) {
        const startedAt = ProcessTree.startTime(pid)
        if (startedAt !== undefined) candidates.set(pid, startedAt)
      }
      // A daemon meant to run, still running: taken over as it is (same pid, no restart). One
      // only — the recorded pid first; any other copy is stopped.
      if (Either.isRight(decoded) && entry.desired === "running") {
        // This user's processes started for this entry (daemonsById checked owner and DUENDE_DAEMON_ID).
        const verified = new Set(leftovers.get(entry.id) ?? [])
        const alive = [...candidates].filter(([pid, startedAt]) => verified.has(pid) && ProcessTree.startTime(pid) === startedAt)
        const chosen = alive.find(([pid]) => pid === entry.lastPid) ?? alive[0]
        if (chosen !== undefined) {
          this.adoptable.set(entry.id, { pid: chosen[0], startedAt: chosen[1] })
          candidates.delete(chosen[0])
          yield* Effect.log(`${entry.name}: pid ${chosen[0]} was left running by a previous supervisor; taking it over (no restart)`)
        }
      }
      for (const [pid, startedAt] of candidates) {
        const stopped = yield* ProcessTree.stopForeign(pid, startedAt, timeout)
        if (stopped) {
          const notice = `${entry.name}: pid ${pid} was left running by a previous supervisor${
            entry.desired === "running" && Either.isRight(decoded) ? " beside the copy taken over" : ""
          }; stopped it`
          this.notices.push(notice)
          yield* Effect.logWarning(notice)
        }
      }
      if (Either.isLeft(decoded)) {
        // Kept in the registry (nothing is lost), but it cannot run until its config is fixed.
        const reason = decoded.left.message
        this.invalid.set(entry.name, reason)
        this.notices.push(
          `${entry.name}: not run: its registered config is invalid (${reason.split("\n").join("; ")}); fix it and \`duende start <config>\` again, or \`duende rm ${entry.name}\``
        )
        yield* Effect.logError(reason)
        continue
      }
      const options = { id: entry.id as DaemonId.DaemonId, desired: entry.desired }
      yield* this.manager.add(decoded.right, entry.instance === undefined ? options : { ...options, instance: entry.instance }).pipe(
        Effect.catchAll((error) => Effect.logError(`${entry.name}: ${error.message}`))
      )
    }
    // A config with `instances: "max"` on a machine with another CPU count now: as many copies as it says.
    const groups = new Map<string, Registry.Entry>()
    for (const entry of entries) {
      const configName = configOf(entry)
      if (configName !== undefined && !this.invalid.has(entry.name)) groups.set(configName, entry)
    }
    for (const [configName, entry] of groups) {
      const decoded = decodeEither(entry.config, `registry entry ${entry.name}`)
      if (Either.isLeft(decoded) || this.entriesOf(configName).length === DaemonManager.instanceCount(decoded.right)) continue
      yield* Effect.zipRight(this.manager.add(decoded.right), this.record(decoded.right, entry.configPath)).pipe(
        Effect.catchAll((error) => Effect.logError(`${configName}: ${error.message}`))
      )
    }
    yield* Effect.log(`restored ${entries.length} daemon(s) from ${this.paths.registry}`)
  })

  private setDesired = (name: string, desired: "running" | "stopped") =>
    Effect.suspend(() => {
      const entry = this.entries.get(name)
      if (entry === undefined || entry.desired === desired) return Effect.void
      this.entries.set(name, { ...entry, desired })
      return this.requestSave
    })

  /** Follows the manager: logs what happens, records desired states and pids. */
  watch = Effect.gen(this, function*() {
    const events = yield* this.manager.events
    yield* Stream.runForEach(events, (event) =>
      Effect.gen(this, function*() {
        switch (event._tag) {
          case "Changed":
            if (event.desired !== "removed") yield* this.setDesired(event.name, event.desired)
            return
          case "Restarting":
          case "GaveUp":
            return
          case "Daemon": {
            const e = event.event
            if (e._tag === "Started" && e.pid !== undefined) {
              const entry = this.entries.get(event.name)
              if (entry) {
                const startedAt = ProcessTree.startTime(e.pid)
                this.entries.set(event.name, {
                  ...entry,
                  lastPid: e.pid,
                  ...(startedAt === undefined ? {} : { lastPidStartedAt: startedAt })
                })
                // At once (saves that wait together are one write): a pid not on disk is a daemon a later supervisor cannot find.
                yield* Effect.forkDaemon(this.saveNow.pipe(Effect.catchAll((error) => Effect.logError(error.message))))
              }
              yield* Effect.log(`${event.name}: started (pid ${e.pid})`)
            }
            if (e._tag === "Exited") yield* Effect.log(`${event.name}: ${e.exit.description}`)
            if (e._tag === "Health") {
              yield* this.monitor.record(event.name, { state: e.state, summary: e.summary, at: e.at })
            }
            if (e._tag === "WatchdogMissed") yield* Effect.logWarning(`${event.name}: missed its watchdog (${e.timeoutMs}ms)`)
            return
          }
        }
      }))
  }).pipe(Effect.scoped)

  /**
   * Saves the registry when something changed by itself (a daemon's new pid, a
   * restart's desired state), at most once a second: in a crash storm that is
   * many changes. What a user asks for is saved at once (see `handle`).
   */
  saver = Effect.forever(
    Effect.gen(this, function*() {
      yield* Queue.take(this.saves)
      yield* this.saveNow.pipe(Effect.catchAll((error) => Effect.logError(error.message)))
      yield* Effect.sleep(Duration.seconds(1))
    })
  )

  /** Samples every running daemon's process tree every 2 seconds, reading /proc once (cpu %, memory; memory anomalies). */
  sampleLoop = Effect.forever(
    Effect.gen(this, function*() {
      const managed = yield* this.manager.list.pipe(Effect.orElseSucceed(() => []))
      const running = managed.filter((daemon) => daemon.state.pid !== undefined)
      const samples = yield* this.sampler.sampleTrees(running.map((daemon) => daemon.state.pid!)).pipe(
        Effect.orElseSucceed(() => new Map<number, never>())
      )
      for (const daemon of managed) {
        const sample = daemon.state.pid === undefined ? undefined : samples.get(daemon.state.pid)
        if (sample === undefined) {
          this.usage.delete(daemon.handle.name)
          continue
        }
        this.usage.set(daemon.handle.name, { cpuPercent: sample.cpuPercent ?? null, memoryBytes: sample.residentBytes })
        yield* this.monitor.recordProcess(daemon.handle.name, sample)
      }
      yield* Effect.sleep(Duration.seconds(2))
    })
  )

  info = (managed: DaemonManager.Managed, now: number): DaemonInfo => {
    const { config, handle, state } = managed
    const usage = this.usage.get(handle.name)
    return {
      id: handle.id,
      name: handle.name,
      // Registered but not started under this supervisor reads as "stopped" to a person.
      status: state.status._tag === "Failed"
        ? `failed: ${state.status.reason}`
        : state.status._tag === "Created"
        ? "stopped"
        : state.status._tag.toLowerCase(),
      statusTag: state.status._tag,
      desired: managed.desired,
      pid: state.pid ?? null,
      startedAt: state.startedAt ?? null,
      uptimeMs: state.startedAt === undefined ? null : now - state.startedAt,
      restarts: managed.restarts,
      nextRestartAt: managed.nextRestartAt ?? null,
      restartHeld: managed.restartHeld ?? null,
      cpuPercent: state.pid === undefined ? null : usage?.cpuPercent ?? null,
      memoryBytes: state.pid === undefined ? null : usage?.memoryBytes ?? null,
      health: state.health ?? null,
      statusText: state.statusText ?? null,
      lastExit: state.lastExit?.description ?? null,
      limits: (state.limits ?? []).map((entry) => ({ limit: entry.limit, how: entry.how ?? null, why: entry.why ?? null })),
      command: [config.command.program, ...config.command.args],
      configPath: this.entries.get(handle.name)?.configPath ?? null,
      logFile: join(this.paths.logs, `${handle.name}.log`)
    }
  }

  /** The run to record for a daemon: its pid and start time, if it runs. */
  private pidOf = (managed: DaemonManager.Managed): Partial<Registry.Entry> => {
    const pid = managed.state.pid
    if (pid === undefined) return {}
    const startedAt = ProcessTree.startTime(pid)
    return { lastPid: pid, ...(startedAt === undefined ? {} : { lastPidStartedAt: startedAt }) }
  }

  /**
   * The registry entries a name stands for: the daemon's, or those of every
   * instance of a config with `instances` (`api` → `api@0`, `api@1`…).
   */
  entriesOf = (name: string): Array<Registry.Entry> => {
    const exact = this.entries.get(name)
    if (exact !== undefined) return [exact]
    return [...this.entries.values()]
      .filter((entry) => entry.instance !== undefined && entry.name === `${name}@${entry.instance}`)
      .sort((a, b) => a.instance! - b.instance!)
  }

  /** Why a name's registered config cannot run, if it cannot. */
  invalidOf = (name: string): string | undefined =>
    this.invalid.get(name) ?? this.entriesOf(name).map((entry) => this.invalid.get(entry.name)).find((reason) => reason !== undefined)

  /**
   * Writes the registry entries of a config as the manager now has it: one, or
   * one per instance (those it no longer has are dropped). Not saved yet.
   */
  record = (config: DaemonConfig.DaemonConfig, configPath: string | undefined) =>
    Effect.gen(this, function*() {
      const members = yield* this.manager.members(config.name)
      const names = new Set(members.map((managed) => managed.handle.name))
      for (const entry of this.entriesOf(config.name)) {
        if (!names.has(entry.name)) {
          this.entries.delete(entry.name)
          this.invalid.delete(entry.name)
        }
      }
      for (const { desired, handle } of members) {
        const existing = this.entries.get(handle.name)
        this.invalid.delete(handle.name)
        this.entries.set(handle.name, {
          ...(existing?.lastPid === undefined ? {} : { lastPid: existing.lastPid }),
          ...(existing?.lastPidStartedAt === undefined ? {} : { lastPidStartedAt: existing.lastPidStartedAt }),
          id: handle.id,
          name: handle.name,
          ...(handle.instance === undefined ? {} : { instance: handle.instance }),
          ...(configPath === undefined ? {} : { configPath }),
          config: encode(config),
          desired,
          addedAt: existing?.addedAt ?? Date.now()
        })
      }
    })

  /** Records that a daemon (every instance of it) is meant to run, durably, before it is spawned (a kill during the spawn loses nothing). */
  intend = (name: string) =>
    Effect.suspend(() => {
      const stopped = this.entriesOf(name).filter((entry) => entry.desired !== "running")
      if (stopped.length === 0) return Effect.void
      for (const entry of stopped) this.entries.set(entry.name, { ...entry, desired: "running" })
      return this.saveNow
    })

  /**
   * Brings the registry's desired states (and pids) in line with the manager's and saves now:
   * for the daemons `name` stands for, or for all. An entry that did not change is kept as it
   * is (no /proc read, no new object: a save does not serialize it again).
   */
  syncDesired = (name?: string) =>
    Effect.gen(this, function*() {
      const managed = name === undefined
        ? this.manager.list
        : Effect.map(
          Effect.forEach(this.withDependencies(name), (each) => Effect.orElseSucceed(this.manager.members(each), () => [])),
          (all) => all.flat()
        )
      for (const each of yield* managed.pipe(Effect.orElseSucceed((): ReadonlyArray<DaemonManager.Managed> => []))) {
        const entry = this.entries.get(each.handle.name)
        if (entry === undefined) continue
        const pid = each.state.pid
        const same = entry.desired === each.desired &&
          (pid === undefined || (entry.lastPid === pid && entry.lastPidStartedAt !== undefined))
        if (!same) this.entries.set(each.handle.name, { ...entry, desired: each.desired, ...this.pidOf(each) })
      }
      yield* this.saveNow.pipe(Effect.catchAll((error) => Effect.logError(error.message)))
    })

  /** `name` and what it runs `after`, transitively (a start starts those too). */
  private withDependencies = (name: string, seen = new Set<string>()): ReadonlyArray<string> => {
    if (seen.has(name)) return []
    seen.add(name)
    const entry = this.entriesOf(name)[0]
    const config = configOf(entry) ?? name
    const after = (entry?.config as { after?: unknown } | undefined)?.after
    const dependencies = Array.isArray(after) ? after.filter((each): each is string => typeof each === "string") : []
    return [config, ...dependencies.flatMap((each) => this.withDependencies(each, seen))]
  }

  /** Runs a user's operation, then saves the registry before answering (nothing asked for is lost). */
  saved = <E>(operation: Effect.Effect<unknown, E>, name: string) =>
    Effect.zipRight(Effect.zipRight(operation, this.syncDesired(name)), this.infoOf(name))

  /** A registry entry whose config does not decode, as `ls` and `status` show it. */
  invalidInfo = (name: string, reason: string): DaemonInfo => {
    const entry = this.entries.get(name)
    const command = (entry?.config as { command?: unknown } | undefined)?.command
    return {
      id: entry?.id ?? "",
      name,
      status: `invalid config: ${reason.split("\n")[0]}`,
      statusTag: "Invalid",
      desired: entry?.desired ?? "stopped",
      pid: null,
      startedAt: null,
      uptimeMs: null,
      restarts: 0,
      nextRestartAt: null,
      restartHeld: null,
      cpuPercent: null,
      memoryBytes: null,
      health: null,
      statusText: null,
      lastExit: null,
      limits: [],
      command: Array.isArray(command) ? command.filter((part): part is string => typeof part === "string") : [],
      configPath: entry?.configPath ?? null,
      logFile: join(this.paths.logs, `${name}.log`)
    }
  }

  /** Every daemon, with the registry's invalid entries after them. */
  all = Effect.suspend(() =>
    Effect.zipWith(this.manager.list, Clock.currentTimeMillis, (managed, now) => [
      ...managed.map((m) => this.info(m, now)),
      ...[...this.invalid].map(([name, reason]) => this.invalidInfo(name, reason))
    ])
  )

  /** A daemon, or a config's instances summed up with each of them under `instances`. */
  infoOf = (name: string) =>
    Effect.suspend(() => {
      const reason = this.invalid.get(name)
      if (reason !== undefined) return Effect.succeed(this.invalidInfo(name, reason))
      return Effect.zipWith(this.manager.members(name), Clock.currentTimeMillis, (members, now) => {
        const infos = members.map((managed) => this.info(managed, now))
        const only = infos[0]!
        return members.length === 1 && members[0]!.handle.name === name ? only : Group.summary(name, infos)
      })
    })

  add = (input: unknown, configPath: string | undefined, start: boolean) =>
    Effect.gen(this, function*() {
      const decoded = decodeEither(input, configPath ?? "config")
      if (Either.isLeft(decoded)) return yield* Effect.fail(decoded.left)
      const config = decoded.right
      const single = this.entries.get(config.name)
      yield* this.manager.add(config, single === undefined ? undefined : { id: single.id as DaemonId.DaemonId })
      yield* this.record(config, configPath)
      yield* this.saveNow
      if (start) yield* Effect.zipRight(this.intend(config.name), this.manager.start(config.name))
      yield* this.syncDesired(config.name)
      return yield* this.infoOf(config.name)
    })

  /** Runs a registered config as `instances` copies (more are started when it runs; fewer stop gracefully, the last ones first). */
  scale = (name: string, instances: number | "max") =>
    Effect.gen(this, function*() {
      const entries = this.entriesOf(name)
      const config = configOf(entries[0])
      if (config !== undefined && entries[0]!.name === name) {
        return yield* Effect.fail({ _tag: "BadRequest", message: `${name} is one instance; scale its config: \`duende scale ${config} N\`` })
      }
      const first = entries[0]
      if (first === undefined) return yield* this.manager.members(name) // the unknown-daemon error, naming those there are
      const reason = this.invalidOf(name)
      if (reason !== undefined) {
        return yield* Effect.fail({ _tag: "BadRequest", message: `${name}: its registered config is invalid (${reason}); \`duende start <config>\` with a fixed file` })
      }
      const running = entries.some((entry) => entry.desired === "running")
      return yield* this.add({ ...(first.config as object), instances }, first.configPath, running)
    })

  remove = (name: string) =>
    Effect.gen(this, function*() {
      const entries = this.entriesOf(name)
      const config = configOf(entries[0])
      if (config !== undefined && entries[0]!.name === name) {
        return yield* Effect.fail({ _tag: "BadRequest", message: `${name} is one instance of ${config}: scale it down (\`duende scale\`) or remove them all` })
      }
      if (entries.length > 0 && entries.every((entry) => this.invalid.has(entry.name))) {
        for (const entry of entries) {
          this.invalid.delete(entry.name)
          this.entries.delete(entry.name)
        }
        return yield* this.saveNow
      }
      yield* this.manager.remove(name)
      for (const entry of entries) this.entries.delete(entry.name)
      yield* this.saveNow
    })

  /**
   * A daemon's log; for a config with instances, or every daemon (no name),
   * all of theirs interleaved by time, each line naming its daemon.
   */
  logs = (name: string | undefined, lines: number, follow: boolean, emit: (line: LogLineInfo) => void) =>
    Effect.scoped(Effect.gen(this, function*() {
      const members = name === undefined ? yield* this.manager.list : yield* this.manager.members(name)
      const adapter = this.manager.adapter
      const named = name === undefined || members.length > 1 || members[0]!.handle.name !== name
      const tag = (daemon: string) => (line: LogLineInfo): LogLineInfo => (named ? { daemon, ...line } : line)
      // Subscribe before reading the tails, so no line falls between the two.
      const live = follow
        ? yield* Effect.forEach(members, ({ handle }) => Effect.map(adapter.followLogs(handle), Stream.map(tag(handle.name))))
        : undefined
      const tails = yield* Effect.forEach(members, ({ handle }) =>
        Effect.map(adapter.logs(handle, { lines }), (tail) => tail.map(tag(handle.name))))
      const tail = tails.flat().sort((a, b) => a.at - b.at).slice(-lines)
      if (live === undefined) return tail
      for (const line of tail) emit(line)
      return yield* Stream.runForEach(Stream.mergeAll(live, { concurrency: "unbounded" }), (line) => Effect.sync(() => emit(line)))
    }))

  handle = (request: Request, emit: (line: LogLineInfo) => void): Effect.Effect<unknown, ErrorInfo> => {
    const { manager } = this
    const run = ((): Effect.Effect<unknown, { readonly _tag: string; readonly message: string }> => {
      switch (request.method) {
        case "ping":
          return Effect.succeed({ pid: process.pid, metrics: this.metricsUrl ?? null })
        case "add":
          return this.add(request.config, request.configPath, request.start)
        case "start": {
          const reason = this.invalidOf(request.name)
          if (reason !== undefined) {
            return Effect.fail({
              _tag: "ConfigError",
              message: `${request.name}: its registered config is invalid (${reason}); \`duende start <config>\` with a fixed file`
            })
          }
          return this.saved(Effect.zipRight(this.intend(request.name), manager.start(request.name)), request.name)
        }
        case "scale":
          return this.scale(request.name, request.instances)
        case "stop":
          return this.saved(manager.stop(request.name), request.name)
        case "restart":
          return this.saved(Effect.zipRight(this.intend(request.name), manager.restart(request.name)), request.name)
        case "reload":
          return Effect.zipRight(manager.reload(request.name), this.infoOf(request.name))
        case "remove":
          return Effect.as(this.remove(request.name), null)
        case "status":
          return this.infoOf(request.name)
        case "signal": {
          const signal = Signal.parse(request.signal)
          if (signal === undefined) {
            return Effect.fail({ _tag: "BadRequest", message: `unknown signal "${request.signal}"` })
          }
          return Effect.zipRight(manager.signal(request.name, signal), this.infoOf(request.name))
        }
        case "list":
          return this.all
        case "notices":
          return Effect.succeed([...this.notices])
        case "logs":
          return this.logs(request.name, request.lines, request.follow, emit)
        case "resurrect":
          return Effect.zipRight(Effect.zipRight(manager.startAll, this.syncDesired()), this.all)
        case "stats":
          return Effect.zipWith(manager.list, Clock.currentTimeMillis, (all, now): SupervisorStats => {
            const cpu = process.cpuUsage()
            const delay = {
              p50: this.loopDelay.percentile(50) / 1e6,
              p99: this.loopDelay.percentile(99) / 1e6,
              max: this.loopDelay.max / 1e6
            }
            this.loopDelay.reset()
            return {
              pid: process.pid,
              uptimeMs: now - this.startedAt,
              rssBytes: process.memoryUsage.rss(),
              cpuUserMs: cpu.user / 1000,
              cpuSystemMs: cpu.system / 1000,
              eventLoopDelayMs: delay,
              daemons: all.length,
              running: all.filter((m) => m.state.pid !== undefined).length,
              metrics: this.metricsUrl ?? null
            }
          })
        case "shutdown":
          // Answer first; the graceful stop then runs as for SIGTERM.
          return Effect.sync(() => void setTimeout(() => process.kill(process.pid, "SIGTERM"), 50))
      }
    })()
    return Effect.mapError(run, errorInfo)
  }
}

/**
 * The supervisor as a daemon definition (for tests and embedding).
 *
 * @example
 * ```ts
 * import { Paths, Supervisor } from "@duende/cli"
 *
 * const definition = Supervisor.daemon(Paths.resolve())
 * ```
 *
 * @since 0.1.0
 */
export const daemon = (paths: Paths, adoptable: Map<string, { readonly pid: number; readonly startedAt: number }> = new Map()) =>
  Daemon.make<State, unknown, DaemonManager.DaemonManager | ProcessSampler.ProcessSampler | HealthMonitor.HealthMonitor>({
    name: "duende-supervisor",
    init: () =>
      Effect.gen(function*() {
        // Before anything is read or signalled: a state directory another user prepared is refused.
        const problem = unsafe(paths)
        if (problem !== undefined) return yield* Effect.fail(new Error(problem))
        mkdirSync(paths.logs, { recursive: true, mode: 0o700 })
        const manager = yield* DaemonManager.DaemonManager
        const saves = yield* Queue.sliding<void>(1)
        const state = new State(paths, adoptable, manager, saves, yield* ProcessSampler.ProcessSampler, yield* HealthMonitor.HealthMonitor)
        state.loopDelay.enable()
        yield* Effect.addFinalizer(() => Effect.sync(() => state.loopDelay.disable()))
        yield* state.restore
        yield* state.saveNow
        yield* serve(paths.socket, paths.socketDirectory, (request, emit) => state.handle(request, emit))
        yield* Effect.forkScoped(state.watch)
        yield* Effect.forkScoped(state.saver)
        yield* Effect.forkScoped(state.sampleLoop)
        yield* OwnLog.rotateEvery(paths.supervisorLog)
        state.metricsUrl = yield* serveMetrics(manager)
        yield* Effect.log(`listening on ${paths.socket}${state.metricsUrl ? `; metrics on ${state.metricsUrl}` : ""}`)
        return state
      }),
    run: (ctx) =>
      Effect.zipRight(
        ctx.state.manager.startAll.pipe(Effect.catchAll((error) => Effect.logError(error.message))),
        Effect.never
      ),
    shutdown: (ctx) =>
      Effect.gen(function*() {
        yield* ctx.state.manager.shutdownAll
        yield* ctx.state.saveNow
      })
  })

/**
 * The Prometheus endpoint for every daemon, on loopback: `DUENDE_METRICS_PORT`
 * (default 9464; a free port when that one is taken; "off" for none).
 */
const serveMetrics = (manager: DaemonManager.DaemonManager) =>
  Effect.gen(function*() {
    const setting = process.env.DUENDE_METRICS_PORT ?? "9464"
    if (setting === "off") return undefined
    const registry = yield* MetricsRegistry.make()
    yield* SupervisorMetrics.register(registry, {
      daemons: Effect.map(manager.list, (all) =>
        all.map((m) => ({
          name: m.handle.name,
          pid: m.state.pid,
          startedAt: m.state.startedAt,
          restarts: m.restarts,
          health: m.state.health
        })))
    })
    const server = yield* PrometheusServer.make(registry, { port: Number(setting) }).pipe(
      Effect.catchAll((error) =>
        Effect.zipRight(
          Effect.logWarning(`metrics port ${setting} unavailable (${error.message}); using a free port`),
          PrometheusServer.make(registry, { port: 0 })
        )
      )
    )
    return server.url
  }).pipe(Effect.catchAll((error) => Effect.as(Effect.logError(`no metrics endpoint: ${error.message}`), undefined)))

/**
 * Runs the supervisor as this process's main program (the hidden
 * `duende supervisor` command): one per user, guarded by a PID file. With
 * `OTEL_EXPORTER_OTLP_ENDPOINT` set, it exports its spans and passes each
 * daemon its spawn span as `TRACEPARENT`.
 *
 * @example
 * ```ts
 * import { Paths, Supervisor } from "@duende/cli"
 *
 * Supervisor.runMain(Paths.resolve())
 * ```
 *
 * @since 0.1.0
 */
export const runMain = (paths: Paths): void => {
  // Checked before the PID file is written too.
  const problem = unsafe(paths)
  if (problem !== undefined) {
    // Nothing runs yet: returning lets stderr drain (a pipe is asynchronous), then the process ends with 1.
    process.stderr.write(`duende supervisor: ${problem}\n`)
    process.exitCode = 1
    return
  }
  const tracing = (process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? "") !== ""
  // Filled when the registry is restored, read once per daemon by the adapter's start.
  const adoptable = new Map<string, { readonly pid: number; readonly startedAt: number }>()
  const takeOver = (id: string) => {
    const found = adoptable.get(id)
    adoptable.delete(id)
    return found
  }
  Daemon.runMain(daemon(paths, adoptable), {
    layer: Layer.mergeAll(
      // DUENDE_RESTART_BREAKER=off: every daemon restarts on its own backoff, however many crash at once.
      Layer.scoped(
        DaemonManager.DaemonManager,
        DaemonManager.makeWith(process.env.DUENDE_RESTART_BREAKER === "off" ? { restartBreaker: false } : {})
      ).pipe(
        Layer.provide(NativeAdapter.layer({
          logDirectory: paths.logs,
          traceContext: tracing,
          adoptable: takeOver,
          notifySocket: join(paths.socketDirectory, "notify.sock")
        }))
      ),
      ProcessSampler.layer(),
      HealthMonitor.layer({ historySize: 256 })
    ),
    pidFile: paths.supervisorPidFile,
    config: { shutdownTimeout: "10m", initTimeout: "10m", health: { enabled: false } },
    ...(tracing
      ? {
        telemetry: Layer.unwrapEffect(
          Effect.map(
            Effect.promise(() => import("@duende/observe/otel")),
            ({ OtelSdk }) => OtelSdk.layer({ serviceName: "duende-supervisor" })
          )
        )
      }
      : {})
  })
}
