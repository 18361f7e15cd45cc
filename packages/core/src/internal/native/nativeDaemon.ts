/**
 * One daemon under the native adapter: its child process (in a session of its
 * own), the notify pipe, the log file, readiness, stop with a deadline and a
 * tree kill, the watchdog, and the events it publishes.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync } from "node:fs"
import { StringDecoder } from "node:string_decoder"
import { join } from "node:path"
import { DaemonAlreadyRunning, StartFailed } from "../../AdapterError.js"
import { ownerOf } from "../../ProcessTree.js"
import type { DaemonConfig } from "../../DaemonConfig.js"
import * as DaemonStatus from "../../DaemonStatus.js"
import * as ExitReason from "../../ExitReason.js"
import type { DaemonEvent, DaemonHandle, DaemonState, ExitInfo, LogLine } from "../../PlatformAdapter.js"
import * as Signal from "../../Signal.js"
import { findExecutable } from "../executable.js"
import { toHandoff } from "../handoff.js"
import { formatByteSize, formatDurationMillis } from "../units.js"
import { lineSplitter } from "../lines.js"
import { configVariable, decode, type NotifyMessage, notifyFdVariable, notifySocketVariable } from "../notifyProtocol.js"
import { resolveAccount } from "./accounts.js"
import { httpOnce, tcpOnce } from "./probe.js"
import { hasEnvironment, pidRunning, type ProcessEntry, processStartTimeMs, scanProcesses } from "../procfs.js"
import { escapedOf, groupHasMembers, living, signalAll, treeOf } from "./processTree.js"
import type { Reaper } from "./reaper.js"
import type { HeldSockets } from "./listeners.js"
import { type DaemonLimits, limitsFor } from "./resourceLimits.js"
import { parseLine, RotatingLog, tail } from "./rotatingLog.js"
import type { SocketPool } from "./socketPool.js"
import { type SpawnFailure, type Spawned, spawner } from "./spawner.js"
import type { Warden } from "./warden.js"

/** A log line as followers get it: numbered, so that a follower that fell behind can say how many it missed. */
interface NumberedLine {
  readonly seq: number
  readonly line: LogLine
}

export interface Context {
  readonly logDirectory: string
  readonly env: Readonly<Record<string, string | undefined>>
  readonly readyGraceMs: number
  /** Start inside a "duende.spawn" span and pass it on as TRACEPARENT. */
  readonly traceContext: boolean
  readonly reaper: Reaper
  /** Sessions of every daemon started so far (the reaper reaps only their orphans). */
  /** The listen sockets of every config, shared by its instances. */
  readonly sockets: SocketPool
  readonly sessions: Set<number>
  /** Main processes running now, which their spawner reaps (the reaper skips them). */
  readonly mains: Set<number>
  /** When tethered: the process that stops every daemon's tree once this process ends. */
  readonly warden: Warden | undefined
  /** Forks a fiber that lives as long as the adapter. */
  readonly fork: <A, E>(effect: Effect.Effect<A, E>) => void
  /** A process a previous supervisor left running for this daemon id, to take over instead of starting anew. */
  readonly adoptable: (daemonId: string) => Adoptable | undefined
  /** The notify socket daemons reconnect to when their pipe breaks (DUENDE_NOTIFY_SOCKET), if any. */
  readonly notifySocket: string | undefined
}

/** A running process to adopt: its pid and start time (epoch ms, as /proc tells it). */
export interface Adoptable {
  readonly pid: number
  readonly startedAt: number
}

const fileSize = (path: string): number => {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

/** Up to 4 MiB of a file from `from`; the bytes read (fewer than asked at most once per look). */
const readRange = (path: string, from: number, to: number): Buffer => {
  const buffer = Buffer.alloc(Math.min(to - from, 4 * 1024 * 1024))
  const fd = openSync(path, "r")
  try {
    return buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, from))
  } finally {
    closeSync(fd)
  }
}

/** How often an adopted process (not this process's child: no exit event) is looked at, and its log file read. */
const adoptedPollMs = 200

/**
 * How much longer than a daemon's own shutdown deadline the supervisor waits
 * before its SIGKILL: a Duende daemon ends itself at `shutdownTimeout` (exit 4,
 * "forced: shutdown deadline"), and that exit must come first to be recorded.
 */
export const stopMarginMs = 2_000

/** Exits that mean "it stopped because it was told to", as systemd counts them. */
const cleanExit = (code: number | null, signal: Signal.Signal | null) =>
  code === 0 || code === 130 || code === 143 ||
  (signal !== null && ["SIGHUP", "SIGINT", "SIGTERM", "SIGPIPE"].includes(signal))

interface Run {
  /** Set once the process has exited (a plain flag: status reads it often). */
  ended: boolean
  /** Undefined for an adopted process: another supervisor spawned it. */
  readonly process: Spawned | undefined
  readonly pid: number
  /** Taken over from a previous supervisor: no pipes, no notify channel, no exit status. */
  readonly adopted: boolean
  readonly startedAt: number
  readonly ready: Deferred.Deferred<void, StartFailed>
  readonly exited: Deferred.Deferred<ExitInfo>
  helloSeen: boolean
  lastPing: number
  /** Epoch ms until which the current start or stop deadline is extended (EXTEND_TIMEOUT_USEC). */
  extendedUntil: number
  killedFor: string | undefined
  stopRequested: boolean
  recentErrors: Array<string>
  /** The memory group's OOM kills when this run started (a rise means the kernel killed one of its processes). */
  oomKillsAtStart: number
  /** The child's fd of the notify pipe (3, or after the listen sockets). */
  readonly notifyFd: number
}

/** SIGKILL to a just-created process's group (it leads its own session): one nobody owns. */
const killGroup = (pid: number): void => {
  try {
    process.kill(-pid, "SIGKILL")
  } catch {
    // gone already
  }
}

/** Whether `program` can be run from `cwd` with `path` (the check spawn makes, done before a shell runs it). */
const runnable = (program: string, path: string | undefined, cwd: string): boolean =>
  findExecutable(program, path, cwd) !== undefined

/**
 * Runs the command with LISTEN_PID set to its own pid, which only the child
 * knows: the shell exports its pid and execs the command in its place (same
 * pid), as systemd sets it between fork and exec.
 */
const withListenPid = ["-c", 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"'] as const

/** How often the RSS of a tree whose memory limit no cgroup enforces is sampled. */
const memorySampleMs = 1_000

/** The children of a process (from /proc, recursively): those a just-spawned daemon may have forked already. */
const descendantsOf = (pid: number): ReadonlyArray<number> => {
  const out: Array<number> = []
  const queue = [pid]
  while (queue.length > 0 && out.length < 10_000) {
    const next = queue.pop()!
    let text = ""
    try {
      text = readFileSync(`/proc/${next}/task/${next}/children`, "utf8")
    } catch {
      continue
    }
    for (const child of text.split(" ")) {
      const found = Number(child)
      if (child !== "" && Number.isInteger(found)) {
        out.push(found)
        queue.push(found)
      }
    }
  }
  return out
}

const pageSize = 4096

/** The resident memory of a process tree: the sum of its members' RSS (shared pages count in each). */
const treeRss = (pid: number): number => {
  let total = 0
  for (const member of [pid, ...descendantsOf(pid)]) {
    try {
      total += Number(readFileSync(`/proc/${member}/statm`, "utf8").split(" ")[1]) * pageSize
    } catch {
      // ended meanwhile
    }
  }
  return total
}

export class NativeDaemon {
  status: DaemonStatus.DaemonStatus = DaemonStatus.Created()
  private run: Run | undefined
  private lastExit: ExitInfo | undefined
  private statusText: string | undefined
  private health: DaemonState["health"]
  private limits: DaemonLimits | undefined
  /** Set while the current run's process is being created (the spawner answers asynchronously). */
  private spawning: Deferred.Deferred<void> | undefined
  /** The new process of a rolling restart, until it is ready (or has failed). */
  private successor: Run | undefined
  /** Limits already warned about as not enforced (once per daemon and limit). */
  private readonly warned = new Set<string>()
  private readonly log: RotatingLog
  /** Lines written so far (the last one's number). */
  private lineCount = 0

  constructor(
    readonly handle: DaemonHandle,
    public config: DaemonConfig,
    private readonly context: Context,
    readonly events: PubSub.PubSub<DaemonEvent>
  ) {
    mkdirSync(context.logDirectory, { recursive: true, mode: 0o700 })
    const logs = config.platform.native?.logs ?? { maxSize: 10 * 1024 * 1024, keep: 5 }
    this.log = new RotatingLog(this.logPath, logs.maxSize, logs.keep, (line) => this.publishLine(line))
    // Held from the install on: an instance added beside running ones (or replacing a daemon of one) keeps the
    // sockets open while the others go. One that cannot be had now is tried again, and reported, at the start.
    if (config.listen.length > 0) this.holdListeners()
  }

  /** The live lines for followers: made at the first follower (nothing per idle daemon before). */
  private lines: PubSub.PubSub<NumberedLine> | undefined

  private publishLine(line: LogLine): void {
    const seq = ++this.lineCount
    if (this.lines !== undefined) Effect.runSync(PubSub.publish(this.lines, { seq, line }))
  }

  /**
   * The lines written from now on. The buffer behind it slides (a slow follower
   * never stalls the daemon): a follower that falls behind gets, where lines
   * were dropped, one line saying how many and that the log file has them.
   */
  follow(): Effect.Effect<Stream.Stream<LogLine>, never, Scope.Scope> {
    // Sliding: a slow follower loses the oldest, never stalls the daemon.
    this.lines ??= Effect.runSync(PubSub.sliding<NumberedLine>(512))
    // The count when the subscription starts (no line can be published between the two).
    return Effect.map(PubSub.subscribe(this.lines), (queue) =>
      Stream.fromQueue(queue).pipe(
        Stream.mapAccum(this.lineCount, (last, { line, seq }): readonly [number, ReadonlyArray<LogLine>] => {
          const skipped = seq - last - 1
          if (skipped <= 0) return [seq, [line]]
          const gap: LogLine = {
            at: line.at,
            stream: "stderr",
            text: `[duende: ${skipped} line(s) skipped here: the follower did not keep up; ${this.logPath} has them]`
          }
          return [seq, [gap, line]]
        }),
        Stream.flattenIterables
      ))
  }

  get logPath(): string {
    return join(this.context.logDirectory, `${this.handle.name}.log`)
  }

  private publish(event: DaemonEvent): void {
    Effect.runSync(PubSub.publish(this.events, event))
  }

  private moveTo(next: DaemonStatus.DaemonStatus): void {
    const result = DaemonStatus.transition(this.status, next)
    // An impossible transition means a bug here; keep the process consistent rather than crash the supervisor.
    this.status = Either.isRight(result) ? result.right : next
  }

  get running(): boolean {
    return this.run !== undefined && !this.run.ended
  }

  state(): DaemonState {
    const run = this.run
    const alive = this.running
    return {
      status: this.status,
      pid: alive ? run?.pid : undefined,
      startedAt: alive ? run?.startedAt : undefined,
      lastExit: this.lastExit,
      restarts: 0,
      statusText: this.statusText,
      health: alive ? this.health : undefined,
      limits: this.limits?.enforcement
    }
  }

  logs(count: number): ReadonlyArray<LogLine> {
    const keep = this.config.platform.native?.logs.keep ?? 5
    return tail(this.logPath, keep, count)
  }

  /** Starts the command; succeeds once it is ready (see the readiness modes in the config). */
  start(): Effect.Effect<void, DaemonAlreadyRunning | StartFailed> {
    return Effect.gen(this, function*() {
      // A start under way (its process being created, or not ready yet): this one answers once
      // that one is done, so that whoever asked sees the daemon started, not half-way.
      if (this.spawning !== undefined) yield* Deferred.await(this.spawning)
      if (this.running) {
        yield* Effect.ignore(Deferred.await(this.run!.ready))
        if (this.running) return yield* new DaemonAlreadyRunning({ name: this.handle.name, pid: this.run?.pid })
      }
      const candidate = this.context.adoptable(this.handle.id)
      if (candidate !== undefined && (yield* this.adopt(candidate))) return
      const run = yield* this.spawnRun(true)
      return yield* Deferred.await(run.ready)
    })
  }

  /**
   * A rolling restart: a second process is started beside the running one,
   * with the same listen sockets; once it is ready the first is stopped
   * gracefully. A new process that does not get ready is stopped and the old
   * one keeps serving: the restart fails with the reason. Without a running
   * process it is a start.
   */
  replace(timeout: Duration.Duration): Effect.Effect<void, DaemonAlreadyRunning | StartFailed> {
    return Effect.gen(this, function*() {
      const old = this.run
      if (old === undefined || old.ended || old.adopted || this.status._tag !== "Running" || this.successor !== undefined) {
        yield* this.stop(timeout)
        return yield* this.start()
      }
      const fresh = yield* this.spawnRun(false)
      this.successor = fresh
      const ready = yield* Effect.either(Deferred.await(fresh.ready))
      this.successor = undefined
      if (Either.isLeft(ready)) {
        if (!fresh.ended) yield* this.stopRun(fresh, timeout)
        const reason = `the new process did not get ready (${ready.left.reason}); the old one (pid ${old.pid}) keeps serving`
        this.log.write("stderr", `[duende] rolling restart abandoned: ${reason}\n`, Date.now())
        return yield* new StartFailed({ name: this.handle.name, reason })
      }
      this.run = fresh
      yield* this.stopRun(old, timeout)
    })
  }

  /**
   * Spawns a run of the command: the daemon's current run (`current`), or the
   * successor of a rolling restart, which leaves the daemon's status alone.
   */
  private spawnRun(current: boolean): Effect.Effect<Run, StartFailed> {
    return Effect.gen(this, function*() {
      const { config } = this
      const account = resolveAccount(config.user, config.group)
      if (typeof account === "string") return yield* new StartFailed({ name: this.handle.name, reason: account })
      const ready = yield* Deferred.make<void, StartFailed>()
      const exited = yield* Deferred.make<ExitInfo>()
      const now = yield* Clock.currentTimeMillis
      const env: Record<string, string> = {}
      for (const [key, value] of Object.entries(this.context.env)) {
        if (value !== undefined && !key.startsWith("DUENDE_") && !key.startsWith("LISTEN_") && key !== "NOTIFY_SOCKET") {
          env[key] = value
        }
      }
      const sockets = config.listen.length === 0 ? undefined : this.holdListeners()
      if (typeof sockets === "string") {
        if (current) this.failedToSpawn(sockets)
        return yield* new StartFailed({ name: this.handle.name, reason: sockets })
      }
      const notifyFd = 3 + (sockets?.fds.length ?? 0)
      Object.assign(env, config.env, {
        DUENDE_PLATFORM: "native",
        // Where a Duende daemon writes its output itself if this supervisor dies (see internal/logger).
        DUENDE_LOG_FILE: this.logPath,
        // Lets a later supervisor find this process even if it died before recording its pid.
        DUENDE_DAEMON_ID: this.handle.id,
        ...(this.handle.instance !== undefined ? { DUENDE_INSTANCE: String(this.handle.instance) } : {}),
        ...(this.context.notifySocket !== undefined ? { [notifySocketVariable]: this.context.notifySocket } : {}),
        [notifyFdVariable]: String(notifyFd),
        [configVariable]: toHandoff(config),
        // systemd's socket passing: fds 3…, their names; LISTEN_PID is set by the child itself (withListenPid).
        ...(sockets !== undefined ? { LISTEN_FDS: String(sockets.fds.length), LISTEN_FDNAMES: sockets.names.join(":") } : {})
      })
      if (this.context.traceContext) {
        // W3C trace context: this spawn span becomes the parent of the daemon's spans.
        const span = yield* Effect.option(Effect.currentSpan)
        delete env.TRACEPARENT
        delete env.TRACESTATE
        if (Option.isSome(span)) {
          env.TRACEPARENT = `00-${span.value.traceId}-${span.value.spanId}-${span.value.sampled ? "01" : "00"}`
        }
      }
      const limits = this.applyLimits(now)
      const cwd = config.workingDirectory ?? process.cwd()
      if (sockets !== undefined && !runnable(config.command.program, env.PATH, cwd)) {
        const reason = `cannot run "${config.command.program}": not found${
          config.command.program.includes("/") ? "" : " in PATH"
        } (cwd ${cwd})`
        if (current) this.failedToSpawn(reason)
        return yield* new StartFailed({ name: this.handle.name, reason })
      }
      const program = sockets === undefined ? config.command.program : "/bin/sh"
      const args = sockets === undefined ? config.command.args : [...withListenPid, config.command.program, ...config.command.args]
      const spawning = yield* Deferred.make<void>()
      const settled = Effect.suspend(() => {
        if (this.spawning === spawning) this.spawning = undefined
        return Deferred.succeed(spawning, undefined)
      })
      if (current) {
        // Starting from the request on: the spawner answers asynchronously, and meanwhile another
        // start waits for this one and a stop waits for the process to exist.
        this.spawning = spawning
        this.moveTo(DaemonStatus.Starting())
      }
      const spawned = yield* Effect.async<Spawned, StartFailed>((resume) => {
        let abandoned = false
        spawner().spawn({ program, args, env, cwd: config.workingDirectory, fds: sockets?.fds ?? [], ...account }).then(
          (created) => {
            // Interrupted meanwhile: nobody owns this process, so it must not live.
            if (abandoned) killGroup(created.pid)
            else resume(Effect.succeed(created))
          },
          (error: SpawnFailure) =>
            resume(Effect.fail(
              new StartFailed({
                name: this.handle.name,
                reason: error.code === "ENOENT"
                  ? `cannot run "${config.command.program}": not found${
                    config.command.program.includes("/") ? "" : " in PATH"
                  } (cwd ${config.workingDirectory ?? process.cwd()})`
                  : `cannot run "${config.command.program}": ${error.message}`
              })
            ))
        )
        return Effect.sync(() => (abandoned = true))
      }).pipe(
        Effect.tapError((error) => Effect.sync(() => current && this.failedToSpawn(error.reason))),
        Effect.onExit((exit) => (exit._tag === "Success" ? Effect.void : settled))
      )
      // At once: whatever it forks from now on is born in its groups.
      limits.attach(spawned.pid, () => descendantsOf(spawned.pid))
      const run: Run = {
        ended: false,
        process: spawned,
        adopted: false,
        pid: spawned.pid,
        startedAt: now,
        ready,
        exited,
        helloSeen: false,
        lastPing: now,
        extendedUntil: 0,
        killedFor: undefined,
        stopRequested: false,
        recentErrors: [],
        oomKillsAtStart: limits.oomKills(),
        notifyFd
      }
      if (current) this.run = run
      yield* settled
      this.context.sessions.add(run.pid)
      this.context.mains.add(run.pid)
      this.context.warden?.track(run.pid, Duration.toMillis(config.shutdownTimeout) + stopMarginMs)
      if (current) this.health = undefined
      this.publish({ _tag: "Started", pid: run.pid, at: now })
      this.wire(run)
      this.context.fork(this.readiness(run))
      if (config.resources.memory !== undefined) this.context.fork(this.watchMemory(run, limits, config.resources.memory))
      return run
    }).pipe(
      this.context.traceContext
        ? Effect.withSpan("duende.spawn", { attributes: { "duende.daemon": this.handle.name }, kind: "producer" })
        : (effect) => effect
    )
  }

  /**
   * Takes over a process a previous supervisor started for this daemon and left
   * running (it died, even by SIGKILL): same pid, no restart. Only one started
   * with this daemon's id in its environment, at the recorded start time, by
   * this user. Not being its parent, this supervisor learns of its end by
   * looking (every 200 ms), not its exit status; its output, which a Duende
   * daemon writes to its log file itself once its pipe broke, is followed from
   * that file; what it says comes back when it reconnects to the notify
   * socket (see `reattach`); its watchdog is not enforced until it is
   * restarted. False when the process is not there or
   * not what was recorded: then it is started anew.
   */
  private adopt(candidate: Adoptable): Effect.Effect<boolean> {
    return Effect.gen(this, function*() {
      const { pid, startedAt } = candidate
      const uid = process.getuid?.()
      if (
        !pidRunning(pid) || processStartTimeMs(pid) !== startedAt || !hasEnvironment(pid, "DUENDE_DAEMON_ID", this.handle.id) ||
        (uid !== undefined && ownerOf(pid) !== uid)
      ) return false
      const ready = yield* Deferred.make<void, StartFailed>()
      const exited = yield* Deferred.make<ExitInfo>()
      yield* Deferred.succeed(ready, undefined)
      const run: Run = {
        ended: false,
        process: undefined,
        adopted: true,
        pid,
        startedAt,
        ready,
        exited,
        helloSeen: false,
        lastPing: Date.now(),
        extendedUntil: 0,
        killedFor: undefined,
        stopRequested: false,
        recentErrors: [],
        oomKillsAtStart: 0,
        notifyFd: 3
      }
      this.run = run
      this.context.sessions.add(pid)
      this.health = undefined
      this.statusText = "adopted from a previous supervisor"
      this.moveTo(DaemonStatus.Starting())
      this.moveTo(DaemonStatus.Running())
      this.publish({ _tag: "Started", pid, at: startedAt })
      this.publish({ _tag: "Ready", at: Date.now() })
      this.context.fork(this.watchAdopted(run))
      return true
    })
  }

  /** A taken-over daemon reconnected to the notify socket: true when this daemon's current run is one. */
  reattach(): boolean {
    const run = this.run
    if (run === undefined || run.ended || !run.adopted) return false
    run.helloSeen = true
    return true
  }

  /** A line the reattached daemon sent over the notify socket. */
  notify(line: string): void {
    const run = this.run
    if (run === undefined || run.ended || !run.adopted) return
    const message = decode(line)
    if (message !== undefined) this.onMessage(run, message)
  }

  /** Until the adopted process ends: looks at it, and passes on what it appends to its log file. */
  private watchAdopted(run: Run): Effect.Effect<void> {
    const start = processStartTimeMs(run.pid)
    let offset = fileSize(this.logPath)
    const decoder = new StringDecoder("utf8") // a character cut at a read's end is completed by the next
    const feed = lineSplitter((line) => {
      if (line !== "") this.publishLine(parseLine(line))
    })
    const follow = () => {
      const size = fileSize(this.logPath)
      if (size < offset) offset = 0 // rotated or cut
      if (size === offset) return
      const bytes = readRange(this.logPath, offset, size)
      offset += bytes.length
      feed(decoder.write(bytes))
    }
    return Effect.gen(this, function*() {
      while (!run.ended) {
        yield* Effect.sleep(Duration.millis(adoptedPollMs))
        follow()
        if (!pidRunning(run.pid) || processStartTimeMs(run.pid) !== start) {
          follow()
          this.onExit(run, null, null)
        }
      }
    })
  }

  /** The listen sockets of the current config: those held already, or new ones (the old closed) when `listen` changed. */
  /** The config's listen sockets, shared with its other instances. */
  private holdListeners(): HeldSockets | string {
    return this.context.sockets.take(this.config.name, this.config.listen, this)
  }

  /**
   * The daemon's groups with its current limits (made again at each start: the
   * config may have changed); each limit that cannot be enforced is said once
   * in its log.
   */
  private applyLimits(now: number): DaemonLimits {
    const { config } = this
    const limits = limitsFor(this.handle.id, config.resources, {
      workingDirectory: config.workingDirectory ?? process.cwd(),
      useCgroups: config.platform.native?.cgroups ?? true
    })
    this.limits = limits
    for (const entry of limits.enforcement) {
      const key = `${entry.limit}:${entry.how ?? entry.why}`
      if ((entry.how === undefined || entry.how.startsWith("RSS")) && !this.warned.has(key)) {
        this.warned.add(key)
        const said = entry.how === undefined ? `is not enforced: ${entry.why}` : `is enforced by ${entry.how}`
        this.log.write("stderr", `[duende] resources.${entry.limit} ${said}\n`, now)
      }
    }
    return limits
  }

  /**
   * While the run lasts: OOM kills of its processes are logged, and where no
   * memory cgroup enforces `resources.memory`, the tree's RSS is sampled and
   * the daemon restarted (stopped as a failure, with the reason) once it has
   * stayed above the limit for `platform.native.memoryGrace`.
   */
  private watchMemory(run: Run, limits: DaemonLimits, limit: number): Effect.Effect<void> {
    const graceMs = Duration.toMillis(this.config.platform.native?.memoryGrace ?? Duration.seconds(5))
    let over: number | undefined
    let kills = run.oomKillsAtStart
    return Effect.gen(this, function*() {
      while (!run.ended && run.killedFor === undefined) {
        yield* Effect.sleep(Duration.millis(memorySampleMs))
        if (run.ended || run.stopRequested) return
        const now = yield* Clock.currentTimeMillis
        if (limits.memoryInCgroup) {
          const seen = limits.oomKills()
          if (seen > kills) {
            this.log.write("stderr", `[duende] the kernel's OOM killer ended ${seen - kills} process(es) of this daemon: memory limit ${formatByteSize(limit)} reached\n`, now)
            kills = seen
          }
          continue
        }
        const rss = treeRss(run.pid)
        if (rss <= limit) {
          over = undefined
          continue
        }
        over ??= now
        if (now - over < graceMs) continue
        run.killedFor = `memory limit ${formatByteSize(limit)} exceeded: the process tree used ${
          (rss / 1024 / 1024).toFixed(1)
        } MiB for ${formatDurationMillis(now - over)} (RSS sampling)`
        this.log.write("stderr", `[duende] ${run.killedFor}; stopping it to restart\n`, now)
        yield* this.killTree(run, this.config.shutdownTimeout)
      }
    })
  }

  /** A command that could not even be run ends like a run that exited at once. */
  private failedToSpawn(reason: string): void {
    const exit: ExitInfo = { code: null, signal: null, at: Date.now(), description: reason }
    this.lastExit = exit
    this.moveTo(DaemonStatus.Starting())
    this.moveTo(DaemonStatus.Failed({ reason }))
    this.publish({ _tag: "Exited", exit })
  }

  private wire(run: Run): void {
    const child = run.process!
    child.stdout.on("data", (chunk: Buffer) => this.log.write("stdout", chunk.toString(), Date.now()))
    child.stderr.on("data", (chunk: Buffer) => {
      const text = chunk.toString()
      this.log.write("stderr", text, Date.now())
      run.recentErrors.push(...text.split("\n").filter((l) => l.trim() !== ""))
      if (run.recentErrors.length > 8) run.recentErrors.splice(0, run.recentErrors.length - 8)
    })
    const notify = child.notify
    const feed = lineSplitter((line) => {
      const message = decode(line)
      if (message !== undefined) this.onMessage(run, message)
    })
    notify.on("data", (chunk: Buffer) => feed(chunk.toString()))
    notify.on("error", () => undefined)
    child.onExit((code, signal) => this.onExit(run, code, signal))
  }

  private onMessage(run: Run, message: NotifyMessage): void {
    const now = Date.now()
    switch (message._tag) {
      case "Hello":
        run.helloSeen = true
        return
      case "Ready":
        run.lastPing = now
        if (run === this.run && this.status._tag === "Starting") this.moveTo(DaemonStatus.Running())
        // The successor of a rolling restart gets ready while the daemon is Running already.
        if (run === this.run || run === this.successor) Effect.runSync(Deferred.succeed(run.ready, undefined))
        this.publish({ _tag: "Ready", at: now })
        return
      case "Reloading":
        this.publish({ _tag: "Reloading", at: now })
        return
      case "Stopping":
        this.publish({ _tag: "Stopping", at: now })
        return
      case "Status":
        this.statusText = message.text
        this.publish({ _tag: "StatusText", text: message.text, at: now })
        return
      case "Watchdog":
        run.lastPing = now
        return
      case "ExtendTimeout":
        run.extendedUntil = Math.max(run.extendedUntil, now + message.micros / 1000)
        return
      case "Health":
        this.health = message.state
        this.publish({
          _tag: "Health",
          state: message.state,
          consecutiveFailures: message.consecutiveFailures,
          summary: message.summary,
          at: now
        })
        return
    }
  }

  private onExit(run: Run, code: number | null, signal: Signal.Signal | null): void {
    const now = Date.now()
    this.context.mains.delete(run.pid)
    this.log.flush(now)
    const described = run.adopted && code === null && signal === null
      ? "ended (its exit status is unknown: it was adopted from a previous supervisor, not started by this one)"
      : ExitReason.describeExit(code, signal)
    if (run.killedFor === undefined && this.limits?.memoryInCgroup === true && this.limits.oomKills() > run.oomKillsAtStart) {
      run.killedFor = `the kernel's OOM killer: memory limit ${formatByteSize(this.config.resources.memory ?? 0)} reached`
      this.log.write("stderr", `[duende] ended by ${run.killedFor}\n`, now)
      this.log.flush(now)
    }
    const exit: ExitInfo = {
      code,
      signal,
      at: now,
      description: run.killedFor ? `${described} (${run.killedFor})` : described,
      ...(run.killedFor !== undefined && !run.stopRequested ? { killedFor: run.killedFor } : {})
    }
    if (run !== this.run) {
      // A rolling restart's: the process it replaced, or a successor that failed. The daemon goes on.
      this.endAside(run, exit)
      return
    }
    this.lastExit = exit
    if (run.stopRequested || (cleanExit(code, signal) && run.killedFor === undefined)) this.moveTo(DaemonStatus.Stopped())
    else this.moveTo(DaemonStatus.Failed({ reason: exit.description }))
    run.ended = true
    this.publish({ _tag: "Exited", exit })
    Effect.runSync(Deferred.succeed(run.exited, exit))
    const stderr = run.recentErrors.length > 0 ? `; last stderr: ${run.recentErrors.slice(-3).join(" | ")}` : ""
    const reason = run.killedFor !== undefined && run.stopRequested
      ? run.killedFor
      : `${exit.description} before it was ready${stderr}`
    Effect.runSync(Deferred.fail(run.ready, new StartFailed({ name: this.handle.name, reason })))
    // Whatever the daemon left behind in its group and session, or outside them (re-parented
    // to this subreaper), goes too, and its zombies are reaped. Usually nothing is left: the
    // group signal then fails with ESRCH, the supervisor's few other children are looked at,
    // and /proc is not scanned (a crash storm must not stall the supervisor).
    if (!run.stopRequested && (groupHasMembers(run.pid) || this.escaped().length > 0)) {
      this.context.fork(this.killTree(run, Duration.millis(this.shutdownBoundMs())))
    } else {
      this.context.reaper.reap(this.context.sessions, this.context.mains)
      this.context.warden?.forget(run.pid)
    }
  }

  /** The end of a run that is not the daemon's current one: logged, its tree cleaned up; no status change, no event. */
  private endAside(run: Run, exit: ExitInfo): void {
    run.ended = true
    this.log.write("stderr", `[duende] pid ${run.pid} ${run.stopRequested ? "replaced" : "ended"}: ${exit.description}\n`, exit.at)
    Effect.runSync(Deferred.succeed(run.exited, exit))
    Effect.runSync(Deferred.fail(run.ready, new StartFailed({ name: this.handle.name, reason: `${exit.description} before it was ready` })))
    if (groupHasMembers(run.pid) || this.escaped().length > 0) {
      this.context.fork(this.killTree(run, Duration.millis(this.shutdownBoundMs())))
    } else {
      this.context.reaper.reap(this.context.sessions, this.context.mains)
      this.context.warden?.forget(run.pid)
    }
  }

  /** The daemon's processes that left its session and were re-parented to this subreaper. */
  private escaped(): ReadonlyArray<ProcessEntry> {
    const { mains, reaper, sessions } = this.context
    return reaper.active ? escapedOf(this.handle.id, reaper.orphanEntries(mains), sessions) : []
  }

  private shutdownBoundMs(): number {
    return Math.min(Duration.toMillis(this.config.shutdownTimeout), 10_000)
  }

  /** Readiness per the config; fails the start (and stops the process) at initTimeout. */
  private readiness(run: Run): Effect.Effect<void> {
    const mode = this.config.platform.native?.ready ?? "auto"
    const done = Deferred.isDone(run.ready)
    const succeed = Effect.suspend(() => {
      if (this.status._tag === "Starting") {
        this.moveTo(DaemonStatus.Running())
        this.publish({ _tag: "Ready", at: Date.now() })
      }
      return Deferred.succeed(run.ready, undefined)
    })
    const poll = (attempt: Effect.Effect<boolean>): Effect.Effect<void> =>
      Effect.flatMap(done, (isDone) =>
        isDone ? Effect.void : Effect.flatMap(attempt, (ok) =>
          ok ? succeed : Effect.zipRight(Effect.sleep(Duration.millis(100)), poll(attempt))))
    const waitForReady: Effect.Effect<void> = mode === "started"
      ? succeed
      : mode === "notify"
      ? Effect.void // READY=1 arrives through the notify pipe
      : mode === "auto"
      ? Effect.zipRight(
        Effect.sleep(Duration.millis(this.context.readyGraceMs)),
        Effect.suspend(() => (run.helloSeen ? Effect.void : succeed))
      )
      : "tcp" in mode
      ? poll(tcpOnce(mode.tcp, mode.host ?? "127.0.0.1"))
      : poll(httpOnce(mode.http))
    const initTimeoutMs = Duration.toMillis(this.config.initTimeout)
    const deadline: Effect.Effect<void> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const end = Math.max(run.startedAt + initTimeoutMs, run.extendedUntil)
      return now >= end ? Effect.void : Effect.zipRight(Effect.sleep(Duration.millis(end - now)), deadline)
    })
    const timedOut = Effect.gen(this, function*() {
      if (yield* done) return
      run.killedFor = `not ready within ${Duration.format(this.config.initTimeout)}`
      // Stop it first, so that when start fails nothing of it is left running.
      yield* this.stopRun(run, this.config.shutdownTimeout)
      yield* Deferred.fail(run.ready, new StartFailed({ name: this.handle.name, reason: run.killedFor }))
    })
    return Effect.raceFirst(
      Effect.zipRight(waitForReady, Deferred.await(run.ready).pipe(Effect.ignore)),
      Effect.zipRight(deadline, timedOut)
    ).pipe(Effect.zipRight(Effect.suspend(() => this.watchdog(run))))
  }

  /** Kills the daemon when its pings stop (like systemd's WatchdogSec: SIGABRT, then the tree). */
  private watchdog(run: Run): Effect.Effect<void> {
    const timeout = this.config.watchdogInterval
    if (timeout === undefined) return Effect.void
    const timeoutMs = Duration.toMillis(timeout)
    const check: Effect.Effect<void> = Effect.gen(this, function*() {
      if (yield* Deferred.isDone(run.exited)) return
      const now = yield* Clock.currentTimeMillis
      if (now - run.lastPing <= timeoutMs || run.stopRequested) {
        yield* Effect.sleep(Duration.millis(Math.max(50, timeoutMs / 4)))
        return yield* check
      }
      run.killedFor = "watchdog timeout"
      this.publish({ _tag: "WatchdogMissed", timeoutMs, at: now })
      try {
        process.kill(run.pid, "SIGABRT")
      } catch {
        // already gone
      }
      yield* Effect.raceFirst(Deferred.await(run.exited), Effect.sleep(this.config.shutdownTimeout))
      yield* this.killTree(run, Duration.zero)
    })
    return Effect.flatMap(Effect.either(Deferred.await(run.ready)), (ready) =>
      Either.isLeft(ready) ? Effect.void : Effect.zipRight(Effect.sync(() => (run.lastPing = Date.now())), check))
  }

  /** SIGTERM to the session's group, wait for the tree to end (deadline extendable), then SIGKILL it all. */
  private stopRun(run: Run, timeout: Duration.Duration): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      if (yield* Deferred.isDone(run.exited)) {
        yield* this.killTree(run, Duration.zero)
        return
      }
      run.stopRequested = true
      if (run === this.run && this.status._tag !== "Stopping") this.moveTo(DaemonStatus.Stopping())
      try {
        process.kill(-run.pid, "SIGCONT") // a paused daemon cannot handle SIGTERM
      } catch {
        // gone
      }
      // Given the daemon's own deadline or more, wait past it: its forced exit (4) comes first.
      const own = Duration.toMillis(this.config.shutdownTimeout)
      const asked = Duration.toMillis(timeout)
      yield* this.killTree(run, Duration.millis(asked >= own ? asked + stopMarginMs : asked))
    })
  }

  /**
   * Ends the run's whole tree: SIGTERM, wait up to `grace` (extendable), SIGKILL,
   * wait, reap. /proc is scanned only to find members outside the process group
   * (once, and again before SIGKILL); waiting checks the group with signal 0 and
   * those few pids, so a thousand daemons stopping at once do not stall the loop.
   */
  private killTree(run: Run, grace: Duration.Duration): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      let outside: ReadonlyArray<number> = []
      const escapedPids = new Set<number>()
      const scan = () => {
        const processes = scanProcesses()
        const found = new Map<number, ProcessEntry>()
        for (const entry of treeOf(run.pid, processes)) found.set(entry.pid, entry)
        for (const escaped of this.escaped()) {
          for (const entry of treeOf(escaped.pid, processes)) found.set(entry.pid, entry)
        }
        // Those outside the session are reaped by pid once they end (the reaper knows sessions).
        for (const entry of found.values()) if (entry.sid !== run.pid) escapedPids.add(entry.pid)
        const members = living([...found.values()])
        outside = members.filter((entry) => entry.pgid !== run.pid).map((entry) => entry.pid)
        return members
      }
      const gone = () => run.ended && !groupHasMembers(run.pid) && outside.every((pid) => !pidRunning(pid))
      const waitUntil = (end: () => number): Effect.Effect<boolean> =>
        Effect.gen(function*() {
          while (true) {
            if (gone()) return true
            if ((yield* Clock.currentTimeMillis) >= end()) return false
            yield* Effect.sleep(Duration.millis(25))
          }
        })
      const start = yield* Clock.currentTimeMillis
      const graceMs = Duration.toMillis(grace)
      const members = scan()
      if (graceMs > 0) signalAll(run.pid, members, "SIGTERM")
      const graceful = yield* waitUntil(() => Math.max(start + graceMs, run.extendedUntil))
      if (!graceful) {
        signalAll(run.pid, scan(), "SIGKILL")
        try {
          process.kill(run.pid, "SIGKILL") // the main process, in case it left its group
        } catch {
          // gone
        }
        const killedAt = yield* Clock.currentTimeMillis
        yield* waitUntil(() => killedAt + 5_000)
      }
      this.context.reaper.reap(this.context.sessions, this.context.mains, escapedPids)
      if (run.ended) this.context.warden?.forget(run.pid)
    })
  }

  stop(timeout: Duration.Duration): Effect.Effect<void> {
    // A start whose process is being created finishes first: then that process is stopped.
    const spawning = this.spawning
    if (spawning !== undefined) return Effect.zipRight(Deferred.await(spawning), this.stop(timeout))
    return Effect.suspend(() => {
      const run = this.run
      const successor = this.successor
      const both = [run, successor].filter((each): each is Run => each !== undefined && !each.ended)
      if (run === undefined) return Effect.void
      return Effect.asVoid(Effect.forEach(both.length > 0 ? both : [run], (each) => this.stopRun(each, timeout), { concurrency: "unbounded" }))
    })
  }

  signal(signal: Signal.Signal): Effect.Effect<void, StartFailed> {
    return Effect.suspend(() => {
      const run = this.run
      if (run === undefined || !this.running) {
        return Effect.fail(new StartFailed({ name: this.handle.name, reason: `not running: cannot send ${signal}` }))
      }
      try {
        process.kill(run.pid, signal)
      } catch (error) {
        return Effect.fail(new StartFailed({ name: this.handle.name, reason: (error as Error).message }))
      }
      if (signal === "SIGSTOP" && this.status._tag === "Running") this.moveTo(DaemonStatus.Paused())
      if (signal === "SIGCONT" && this.status._tag === "Paused") this.moveTo(DaemonStatus.Running())
      return Effect.void
    })
  }

  /** SIGHUP; for a Duende daemon, waits until it reported RELOADING and then READY (bounded). */
  reload(): Effect.Effect<void, StartFailed> {
    return Effect.scoped(Effect.gen(this, function*() {
      const run = this.run
      if (run === undefined || !this.running) {
        return yield* new StartFailed({ name: this.handle.name, reason: "not running: cannot reload" })
      }
      if (!run.helloSeen) return yield* this.signal("SIGHUP")
      // Subscribe before signalling so that neither answer can be missed.
      const events = yield* PubSub.subscribe(this.events)
      yield* this.signal("SIGHUP")
      const next = (tag: DaemonEvent["_tag"]): Effect.Effect<void> =>
        Effect.flatMap(events.take, (event) => (event._tag === tag ? Effect.void : next(tag)))
      const reloading = yield* Effect.timeout(next("Reloading"), Duration.seconds(2)).pipe(Effect.option)
      // No RELOADING: the daemon has no reload hook; it logged and ignored SIGHUP.
      if (Option.isSome(reloading)) yield* Effect.timeout(next("Ready"), this.config.initTimeout).pipe(Effect.ignore)
    }))
  }

  close(): void {
    this.log.close(Date.now())
    if (!this.running) {
      this.limits?.remove()
      this.context.sockets.release(this.config.name, this)
    }
  }
}
