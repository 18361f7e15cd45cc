/**
 * Core's `PlatformAdapter` for pepita microVMs: each daemon runs in its own VM
 * (a `VmmDriver` machine, QEMU by default) with the guest agent as its
 * manager.
 *
 * - install builds (or finds in the cache) the daemon's image: its
 *   `workingDirectory` is copied into the guest at the same path, with the
 *   adapter's extra `files`;
 * - start boots the VM (memory and vCPUs from `platform.pepita`), waits for the
 *   agent's Register, submits the daemon's real command and returns once the
 *   daemon reports READY on its notify pipe (a command that never says
 *   `DUENDE=1` is ready once it has run for five seconds); the VM's states are
 *   Starting → Running ↔ Paused → Stopping → Stopped | Failed;
 * - stop sends Shutdown (SIGTERM, the timeout, SIGKILL in the guest, power
 *   off), then quits the VMM through QMP and kills it at a deadline;
 * - signal is a TaskCancel; status, events, logs and followLogs come from the
 *   agent's frames; a guest whose heartbeats stop is reported unhealthy;
 * - the VMs belong to the adapter's scope: none outlives it.
 *
 * `restarts` is "manager": `DaemonManager` restarts a crashed daemon by
 * booting a new VM.
 *
 * @since 0.1.0
 */
import {
  AdapterIOError,
  DaemonAlreadyRunning,
  DaemonNotFound,
  OperationUnsupported,
  PlatformAdapter,
  PlatformCommandFailed,
  type PlatformModule,
  StartFailed,
  SyscallTrace
} from "@duende/core/manager"
import type { AdapterError } from "@duende/core/manager"
import { type DaemonConfig, DaemonId, DaemonStatus, type PlatformRuntime, type Signal } from "@duende/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as AgentChannel from "./AgentChannel.js"
import type * as Frame from "./Frame.js"
import * as Image from "./Image.js"
import * as QemuDriver from "./QemuDriver.js"
import type { Machine, MachineSpec, PortForward, VmmDriver } from "./VmmDriver.js"

/**
 * The adapter's options.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Each VM's directory (sockets, console) goes under it: `<state>/<name>` (default: a temporary directory). */
  readonly stateDirectory?: string | undefined
  /** Where images are cached (default `~/.cache/duende/pepita`). */
  readonly cacheDirectory?: string | undefined
  /** The kernel, unless a config's `platform.pepita.kernel` names one (default: the newest in /boot). */
  readonly kernel?: string | undefined
  /** More host files for every image, besides each daemon's working directory. */
  readonly files?: ReadonlyArray<Image.Files> | undefined
  /** Host ports (127.0.0.1) forwarded to guest ports, for every VM. */
  readonly forwards?: ReadonlyArray<PortForward> | undefined
  /** The VMM driver (default: QEMU with these options). */
  readonly driver?: VmmDriver | undefined
  readonly qemu?: QemuDriver.Options | undefined
  /** How long a VM may take from spawn to the agent's Register (default 120s: TCG on a loaded machine is slow). */
  readonly bootTimeout?: Duration.DurationInput | undefined
  /** The agent's heartbeat; three missed make the daemon unhealthy (default 2s). */
  readonly heartbeat?: Duration.DurationInput | undefined
}

/**
 * The pepita adapter: core's adapter, plus what only a VM has.
 *
 * @since 0.1.0
 */
export interface PepitaAdapter extends PlatformModule.Adapter {
  /** Freezes the VM (QMP `stop`): Running → Paused. */
  readonly pause: (handle: PlatformAdapter.DaemonHandle) => Effect.Effect<void, AdapterError>
  /** Thaws it (QMP `cont`): Paused → Running. */
  readonly resume: (handle: PlatformAdapter.DaemonHandle) => Effect.Effect<void, AdapterError>
  /** The running VM: the VMM's pid, its accelerator, its console (kernel, init, the agent's own stderr). */
  readonly machine: (handle: PlatformAdapter.DaemonHandle) => Effect.Effect<Machine, AdapterError>
  /** The image a daemon was installed with. */
  readonly image: (handle: PlatformAdapter.DaemonHandle) => Effect.Effect<Image.Image, AdapterError>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { PepitaAdapter } from "@duende/platform-pepita/adapter"
 * import { Effect } from "effect"
 *
 * const paused = Effect.flatMap(PepitaAdapter.PepitaAdapter, (adapter) =>
 *   Effect.flatMap(adapter.find("api"), adapter.pause))
 * ```
 *
 * @since 0.1.0
 */
export const PepitaAdapter: Context.Tag<PepitaAdapter, PepitaAdapter> = Context.GenericTag<PepitaAdapter>(
  "@duende/platform-pepita/PepitaAdapter"
)

const platform = "pepita" as const
const logTailLines = 1000
/**
 * A command that never says DUENDE=1 on its notify pipe is ready after this
 * long (the native supervisor waits 2s; an emulated CPU loads a Duende
 * daemon's modules several times slower, and it must not be taken for a plain
 * command before its hello).
 */
const plainReadyMs = 5_000

interface Run {
  readonly scope: Scope.CloseableScope
  readonly taskId: string
  machine: Machine | undefined
  channel: AgentChannel.AgentChannel | undefined
  pid: number | undefined
  helloSeen: boolean
  lastBeat: number
  stopRequested: boolean
  /** The task's end, as the agent reported it (or the VM's, when it died without a report). */
  readonly exited: Deferred.Deferred<PlatformAdapter.ExitInfo>
  /** Completes at READY; fails when the task could not run or ended before. */
  readonly ready: Deferred.Deferred<void, string>
  /** Completes once the run is over and its VM gone. */
  readonly done: Deferred.Deferred<void>
}

interface Daemon {
  readonly handle: PlatformAdapter.DaemonHandle
  config: DaemonConfig.DaemonConfig
  image: Image.Image
  readonly events: PubSub.PubSub<PlatformAdapter.DaemonEvent>
  readonly lines: PubSub.PubSub<PlatformAdapter.LogLine>
  tail: Array<PlatformAdapter.LogLine>
  status: DaemonStatus.DaemonStatus
  startedAt: number | undefined
  lastExit: PlatformAdapter.ExitInfo | undefined
  statusText: string | undefined
  /** What the daemon last reported (HEALTH=). */
  health: PlatformRuntime.HealthReport["state"] | undefined
  /** Why the guest is taken for unhealthy whatever the daemon says: its agent stopped heartbeating. */
  silence: string | undefined
  run: Run | undefined
  readonly lock: Effect.Semaphore
}

const describeExit = (code: number | null, signal: string | null): string =>
  signal !== null ? `killed by ${signal}` : code === 0 ? "exited 0" : `exited ${code}`

/**
 * The machine a config becomes: name, memory (MiB) and vCPUs from
 * `platform.pepita`, the kernel command line the agent reads (`duende.vm`,
 * `duende.heartbeat`).
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { PepitaAdapter } from "@duende/platform-pepita/adapter"
 *
 * const config = decodeSync({ name: "api", command: ["node", "api.js"], platform: { pepita: { memory: "512M", vcpus: 2 } } })
 * PepitaAdapter.machineSpec(config, { kernel: "/boot/vmlinuz", initrd: "/c/i.cpio", directory: "/run/api", forwards: [], heartbeatMs: 2000 })
 * // { name: "api", memoryMiB: 512, vcpus: 2, cmdline: ["duende.vm=api", "duende.heartbeat=2000"], ... }
 * ```
 *
 * @since 0.1.0
 */
export const machineSpec = (
  config: DaemonConfig.DaemonConfig,
  parts: { readonly kernel: string; readonly initrd: string; readonly directory: string; readonly forwards: ReadonlyArray<PortForward>; readonly heartbeatMs: number }
): MachineSpec => ({
  name: config.name,
  kernel: parts.kernel,
  initrd: parts.initrd,
  memoryMiB: Math.max(64, Math.floor((config.platform.pepita?.memory ?? 256 * 1024 * 1024) / (1024 * 1024))),
  vcpus: config.platform.pepita?.vcpus ?? 1,
  cmdline: [`duende.vm=${config.name}`, `duende.heartbeat=${parts.heartbeatMs}`],
  directory: parts.directory,
  forwards: parts.forwards
})

/**
 * The VM spec a config becomes on this adapter, as a JSON artifact: the
 * machine (kernel, memory, vCPUs, kernel command line, forwarded ports) and
 * the task the agent runs. The initramfs is built by install.
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { PepitaAdapter } from "@duende/platform-pepita/adapter"
 *
 * PepitaAdapter.artifact(decodeSync({ name: "api", command: ["node", "api.js"] }), {}).name // "api.pepita.json"
 * ```
 *
 * @since 0.1.0
 */
export const artifact = (
  config: DaemonConfig.DaemonConfig,
  options: Options,
  heartbeatMs = Duration.toMillis(Duration.decode(options.heartbeat ?? Duration.seconds(2)))
): PlatformAdapter.Artifact => ({
  name: `${config.name}.pepita.json`,
  kind: "pepita VM spec",
  content: JSON.stringify(
    {
      machine: machineSpec(config, {
        kernel: config.platform.pepita?.kernel ?? options.kernel ?? Image.defaultKernel() ?? "/boot/vmlinuz",
        initrd: "(built by install: an initramfs of busybox, node, the agent and the app)",
        directory: join(options.stateDirectory ?? join(tmpdir(), "duende-pepita"), config.name),
        forwards: options.forwards ?? [],
        heartbeatMs
      }),
      task: {
        program: config.command.program,
        args: config.command.args,
        env: config.env,
        cwd: config.workingDirectory ?? "/",
        shutdownTimeoutMs: Duration.toMillis(config.shutdownTimeout)
      }
    },
    null,
    2
  ) + "\n"
})

/**
 * The adapter, for the life of the scope: every VM it started is stopped
 * (killed if it must be) when the scope closes.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { PepitaAdapter } from "@duende/platform-pepita/adapter"
 * import { Duration, Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const adapter = yield* PepitaAdapter.make({ cacheDirectory: "/var/cache/duende" })
 *   const handle = yield* adapter.install(yield* DaemonConfig.load("duende.json"))
 *   yield* adapter.start(handle) // returns once the daemon in its VM is ready
 *   yield* adapter.stop(handle, Duration.seconds(10))
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<PepitaAdapter, AdapterError, Scope.Scope> =>
  Effect.gen(function*() {
    const driver = options.driver ??
      (yield* QemuDriver.make({ cacheDirectory: options.cacheDirectory, ...options.qemu }).pipe(
        Effect.mapError((error) => new PlatformCommandFailed({ command: ["qemu-system-x86_64"], exitCode: null, stderr: error.message }))
      ))
    const stateDirectory = options.stateDirectory ?? join(tmpdir(), `duende-pepita-${process.pid}`)
    const bootTimeout = Duration.decode(options.bootTimeout ?? Duration.seconds(120))
    const heartbeat = Duration.decode(options.heartbeat ?? Duration.seconds(2))
    const heartbeatMs = Duration.toMillis(heartbeat)
    const daemons = new Map<string, Daemon>()

    const lookup = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.suspend(() => {
        const daemon = daemons.get(handle.name)
        return daemon === undefined ? Effect.fail(new DaemonNotFound({ name: handle.name, platform })) : Effect.succeed(daemon)
      })

    const publish = (daemon: Daemon, event: PlatformAdapter.DaemonEvent) => PubSub.publish(daemon.events, event)

    const moveTo = (daemon: Daemon, status: DaemonStatus.DaemonStatus) =>
      Effect.sync(() => {
        if (DaemonStatus.canTransition(daemon.status._tag, status._tag)) daemon.status = status
      })

    /** What one frame from the agent means for the daemon. */
    const onFrame = (daemon: Daemon, run: Run, item: Frame.Decoded): Effect.Effect<void> =>
      Effect.gen(function*() {
        if (Either.isLeft(item)) return yield* Effect.logWarning(`pepita ${daemon.handle.name}: ${item.left.message}`)
        const frame = item.right
        const now = yield* Clock.currentTimeMillis
        run.lastBeat = now
        switch (frame._tag) {
          case "Heartbeat":
            if (daemon.silence === undefined) return
            daemon.silence = undefined
            return yield* publish(daemon, {
              _tag: "Health",
              state: daemon.health ?? "healthy",
              consecutiveFailures: 0,
              summary: "the guest agent heartbeats again",
              at: now
            })
          case "Ack":
            if (frame.of === "TaskSubmit" && frame.id === run.taskId) {
              run.pid = frame.pid
              yield* publish(daemon, { _tag: "Started", pid: frame.pid, at: now })
            }
            return
          case "Error":
            if (frame.id === run.taskId) yield* Deferred.fail(run.ready, frame.message)
            return yield* Effect.logWarning(`pepita ${daemon.handle.name}: the agent says: ${frame.message}`)
          case "TaskResult": {
            if (frame.id !== run.taskId) return
            const exit: PlatformAdapter.ExitInfo = {
              code: frame.code,
              signal: (frame.signal ?? null) as Signal.Signal | null,
              at: now,
              description: describeExit(frame.code, frame.signal)
            }
            yield* Deferred.fail(run.ready, `it ${exit.description} before it was ready`)
            yield* Deferred.succeed(run.exited, exit)
            return
          }
          case "Status": {
            if (frame.id !== run.taskId) return
            const event = frame.event
            switch (event._tag) {
              case "Output": {
                const line: PlatformAdapter.LogLine = { at: now, stream: event.stream, text: event.text }
                daemon.tail.push(line)
                if (daemon.tail.length > logTailLines) daemon.tail = daemon.tail.slice(-logTailLines)
                yield* PubSub.publish(daemon.lines, line)
                return
              }
              case "Hello":
                run.helloSeen = true
                return
              case "Ready":
                if (daemon.status._tag === "Starting") {
                  yield* moveTo(daemon, DaemonStatus.Running())
                  yield* publish(daemon, { _tag: "Ready", at: now })
                }
                yield* Deferred.succeed(run.ready, undefined)
                return
              case "Reloading":
                return yield* publish(daemon, { _tag: "Reloading", at: now })
              case "Stopping":
                // A stop the adapter asked for was published when it asked.
                return run.stopRequested ? undefined : yield* publish(daemon, { _tag: "Stopping", at: now })
              case "Watchdog":
                return
              case "StatusText":
                daemon.statusText = event.text
                return yield* publish(daemon, { _tag: "StatusText", text: event.text, at: now })
              case "Health":
                daemon.health = event.state
                return yield* publish(daemon, {
                  _tag: "Health",
                  state: event.state,
                  consecutiveFailures: event.consecutiveFailures,
                  summary: event.summary,
                  at: now
                })
            }
            return
          }
          default:
            return
        }
      })

    /** Three missed heartbeats: the guest is unhealthy (not while paused: a frozen VM cannot beat). */
    const watchHeartbeat = (daemon: Daemon, run: Run) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const silent = now - run.lastBeat
        if (daemon.status._tag !== "Running" || silent < 3 * heartbeatMs || daemon.silence !== undefined) return
        daemon.silence = `no heartbeat from the guest agent for ${Math.round(silent / 1000)}s`
        yield* publish(daemon, {
          _tag: "Health",
          state: "unhealthy",
          consecutiveFailures: Math.floor(silent / heartbeatMs),
          summary: daemon.silence,
          at: now
        })
      }).pipe(Effect.repeat(Schedule.spaced(heartbeat)), Effect.asVoid)

    /** The end of a run: the VM gone, the exit recorded and published. */
    const finish = (daemon: Daemon, run: Run, exit: PlatformAdapter.ExitInfo) =>
      Effect.gen(function*() {
        if (daemon.run !== run) return yield* Deferred.await(run.done)
        daemon.run = undefined
        daemon.lastExit = exit
        const failed = !run.stopRequested && (exit.code !== 0 || exit.signal !== null)
        daemon.status = failed ? DaemonStatus.Failed({ reason: exit.description }) : DaemonStatus.Stopped()
        yield* Scope.close(run.scope, Exit.void)
        yield* publish(daemon, { _tag: "Exited", exit })
        yield* Deferred.succeed(run.done, undefined)
      })

    /** The VM died or its channel closed without a TaskResult: the daemon died with it. */
    const vmGone = (run: Run, what: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const exit: PlatformAdapter.ExitInfo = { code: null, signal: "SIGKILL", at: now, description: what, killedFor: what }
        yield* Deferred.fail(run.ready, what)
        yield* Deferred.succeed(run.exited, exit)
      })

    const boot = (daemon: Daemon, run: Run) =>
      Effect.gen(function*() {
        const configured = machineSpec(daemon.config, {
          kernel: daemon.image.kernel,
          initrd: daemon.image.initrd,
          directory: join(stateDirectory, daemon.handle.name),
          forwards: options.forwards ?? [],
          heartbeatMs
        })
        const minimum = Image.minimumMemoryMiB(daemon.image)
        if (configured.memoryMiB < minimum) {
          yield* Effect.logWarning(
            `${daemon.handle.name}: platform.pepita.memory (${configured.memoryMiB} MiB) is too small for its ` +
              `${Math.ceil(daemon.image.bytes / (1024 * 1024))} MiB initramfs; the VM gets ${minimum} MiB`
          )
        }
        const machine = yield* driver.boot({ ...configured, memoryMiB: Math.max(configured.memoryMiB, minimum) })
        run.machine = machine
        const channel = yield* AgentChannel.connect(machine.agentSocket)
        run.channel = channel
        const frames = yield* channel.subscribe
        const registered = yield* Deferred.make<void>()
        yield* Effect.forkScoped(Effect.forever(Effect.flatMap(frames.take, (item) =>
          Either.isRight(item) && item.right._tag === "Register"
            ? Deferred.succeed(registered, undefined)
            : onFrame(daemon, run, item))))
        yield* Effect.forkScoped(Effect.flatMap(machine.exited, (exit) =>
          vmGone(run, `the VM exited (${exit.code === null ? exit.signal : `code ${exit.code}`})${exit.stderr ? `: ${exit.stderr.split("\n").at(-1)}` : ""}`)))
        yield* Effect.forkScoped(Effect.zipRight(channel.closed, vmGone(run, "the agent's channel closed")))
        // A VM that dies before its agent registers fails `ready`: no need to wait out the boot timeout.
        yield* Effect.raceFirst(Deferred.await(registered), Effect.zipRight(Deferred.await(run.ready), Effect.never)).pipe(
          Effect.timeoutFail({
            duration: bootTimeout,
            onTimeout: () => `the guest agent did not register within ${Duration.format(bootTimeout)}`
          })
        )
        run.lastBeat = yield* Clock.currentTimeMillis
        yield* Effect.forkScoped(watchHeartbeat(daemon, run))
        const { config } = daemon
        yield* channel.send({
          _tag: "TaskSubmit",
          id: run.taskId,
          program: config.command.program,
          args: config.command.args,
          env: config.env,
          ...(config.workingDirectory === undefined ? {} : { cwd: config.workingDirectory }),
          shutdownTimeoutMs: Duration.toMillis(config.shutdownTimeout)
        })
        // A plain command (no DUENDE=1 on the notify pipe) is ready once it has run for a while.
        yield* Effect.forkScoped(Effect.zipRight(
          Effect.sleep(Duration.millis(plainReadyMs)),
          Effect.suspend(() => (run.helloSeen || run.pid === undefined ? Effect.void : Effect.gen(function*() {
            if (daemon.status._tag === "Starting") {
              yield* moveTo(daemon, DaemonStatus.Running())
              yield* publish(daemon, { _tag: "Ready", at: yield* Clock.currentTimeMillis })
            }
            yield* Deferred.succeed(run.ready, undefined)
          })))
        ))
        const initTimeout = config.initTimeout
        yield* Deferred.await(run.ready).pipe(
          Effect.timeoutFail({ duration: initTimeout, onTimeout: () => `not ready within ${Duration.format(initTimeout)}` })
        )
      }).pipe(
        Effect.mapError((error) => (typeof error === "string" ? error : error.message)),
        Scope.extend(run.scope)
      )

    const start = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.flatMap(lookup(handle), (daemon) =>
        daemon.lock.withPermits(1)(Effect.gen(function*() {
          if (daemon.run !== undefined) return yield* new DaemonAlreadyRunning({ name: handle.name, pid: daemon.run.pid })
          const run: Run = {
            scope: yield* Scope.make(),
            taskId: DaemonId.random(),
            machine: undefined,
            channel: undefined,
            pid: undefined,
            helloSeen: false,
            lastBeat: 0,
            stopRequested: false,
            exited: yield* Deferred.make<PlatformAdapter.ExitInfo>(),
            ready: yield* Deferred.make<void, string>(),
            done: yield* Deferred.make<void>()
          }
          daemon.run = run
          daemon.status = DaemonStatus.Starting()
          daemon.startedAt = yield* Clock.currentTimeMillis
          daemon.statusText = undefined
          daemon.health = undefined
          daemon.silence = undefined
          const booted = yield* Effect.either(boot(daemon, run))
          if (Either.isLeft(booted)) {
            daemon.run = undefined
            daemon.status = DaemonStatus.Failed({ reason: booted.left })
            yield* Scope.close(run.scope, Exit.void)
            return yield* new StartFailed({ name: handle.name, reason: booted.left })
          }
          // From now on the run ends when the task does (a crash included), whoever ends it.
          yield* Effect.forkIn(Effect.flatMap(Deferred.await(run.exited), (exit) => finish(daemon, run, exit)), adapterScope)
        })))

    const stopRun = (daemon: Daemon, timeout: Duration.Duration) =>
      Effect.gen(function*() {
        const run = daemon.run
        if (run === undefined) return
        run.stopRequested = true
        yield* moveTo(daemon, DaemonStatus.Stopping())
        yield* publish(daemon, { _tag: "Stopping", at: yield* Clock.currentTimeMillis })
        const timeoutMs = Duration.toMillis(timeout)
        if (run.channel !== undefined) yield* Effect.ignore(run.channel.send({ _tag: "Shutdown", timeoutMs }))
        // The guest SIGKILLs at the timeout and powers off; past a margin the VMM is told to quit, then killed.
        const machine = run.machine
        if (machine !== undefined) {
          const gone = yield* machine.exited.pipe(Effect.timeout(Duration.millis(timeoutMs + 10_000)), Effect.option)
          if (gone._tag === "None") yield* machine.quit
        }
        yield* vmGone(run, "stopped with its VM")
        yield* Effect.flatMap(Deferred.await(run.exited), (exit) => finish(daemon, run, exit))
      })

    const stop = (handle: PlatformAdapter.DaemonHandle, timeout: Duration.Duration) =>
      Effect.flatMap(lookup(handle), (daemon) => daemon.lock.withPermits(1)(stopRun(daemon, timeout)))

    const signal = (handle: PlatformAdapter.DaemonHandle, sig: Signal.Signal) =>
      Effect.flatMap(lookup(handle), (daemon) =>
        Effect.scoped(Effect.gen(function*() {
          const run = daemon.run
          if (run?.channel === undefined) {
            return yield* new OperationUnsupported({ operation: `send ${sig}`, platform, hint: `${handle.name} is not running` })
          }
          const frames = yield* run.channel.subscribe
          yield* run.channel.send({ _tag: "TaskCancel", id: run.taskId, signal: sig }).pipe(
            Effect.mapError((error) => new AdapterIOError({ path: error.path, reason: error.message }))
          )
          const answer = yield* AgentChannel.waitFor(
            frames,
            (frame): frame is Extract<Frame.Frame, { _tag: "Ack" | "Error" }> =>
              (frame._tag === "Ack" && frame.of === "TaskCancel" || frame._tag === "Error") && frame.id === run.taskId
          ).pipe(Effect.timeout(Duration.seconds(30)), Effect.option)
          if (answer._tag === "None") {
            return yield* new PlatformCommandFailed({ command: ["TaskCancel", sig], exitCode: null, stderr: "the guest agent did not answer" })
          }
          if (answer.value._tag === "Error") {
            return yield* new PlatformCommandFailed({ command: ["TaskCancel", sig], exitCode: null, stderr: answer.value.message })
          }
        })))

    const machineOf = (handle: PlatformAdapter.DaemonHandle, operation: string) =>
      Effect.flatMap(lookup(handle), (daemon) => {
        const machine = daemon.run?.machine
        return machine === undefined
          ? Effect.fail(new OperationUnsupported({ operation, platform, hint: `${handle.name} is not running` }))
          : Effect.succeed({ daemon, machine })
      })

    const vmmFailed = (error: { readonly message: string }, operation: string) =>
      new PlatformCommandFailed({ command: [driver.name, operation], exitCode: null, stderr: error.message })

    const imageFor = (config: DaemonConfig.DaemonConfig) =>
      Effect.gen(function*() {
        if (config.platform.pepita?.rootfs !== undefined) {
          return yield* new OperationUnsupported({
            operation: "boot a rootfs image",
            platform,
            hint: "the VM boots an initramfs built from the host's files; remove platform.pepita.rootfs"
          })
        }
        const files = [
          ...(config.workingDirectory === undefined ? [] : [{ from: config.workingDirectory, to: config.workingDirectory }]),
          ...(options.files ?? [])
        ]
        return yield* Image.build(
          { kernel: config.platform.pepita?.kernel ?? options.kernel, files },
          { cacheDirectory: options.cacheDirectory }
        ).pipe(Effect.mapError((error) => new AdapterIOError({ path: error.path, reason: error.reason })))
      })

    const adapterScope = yield* Effect.scope
    // Closing the adapter's scope stops every VM it runs (and removes the state directory it chose itself).
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        Effect.forEach([...daemons.values()], (daemon) => Effect.ignore(stopRun(daemon, Duration.seconds(5))), { discard: true }),
        options.stateDirectory === undefined
          ? Effect.promise(() => rm(stateDirectory, { recursive: true, force: true }))
          : Effect.void
      )
    )

    const adapter: PepitaAdapter = {
      platform,
      restarts: "manager",
      attachTracer: () =>
        Effect.fail(
          new SyscallTrace.TraceUnsupported({
            platform: "pepita",
            reason:
              "the daemon runs in a QEMU guest: its system calls go to the guest's kernel, which the host's ptrace cannot see, and the guest image has no strace"
          })
        ),
      render: (config) => Effect.succeed([artifact(config, { ...options, stateDirectory }, heartbeatMs)]),
      install: (config, id) =>
        Effect.gen(function*() {
          const existing = daemons.get(config.name)
          if (existing?.run !== undefined) return yield* new DaemonAlreadyRunning({ name: config.name, pid: existing.run.pid })
          const image = yield* imageFor(config)
          if (existing !== undefined) {
            existing.config = config
            existing.image = image
            return existing.handle
          }
          const handle: PlatformAdapter.DaemonHandle = {
            id: id ?? DaemonId.random(),
            name: config.name,
            platform,
            ref: `duende-vm-${config.name}`
          }
          daemons.set(config.name, {
            handle,
            config,
            image,
            events: yield* PubSub.unbounded<PlatformAdapter.DaemonEvent>(),
            lines: yield* PubSub.unbounded<PlatformAdapter.LogLine>(),
            tail: [],
            status: DaemonStatus.Created(),
            startedAt: undefined,
            lastExit: undefined,
            statusText: undefined,
            health: undefined,
            silence: undefined,
            run: undefined,
            lock: yield* Effect.makeSemaphore(1)
          })
          return handle
        }),
      start,
      stop,
      restart: (handle, timeout) => Effect.zipRight(stop(handle, timeout), start(handle)),
      reload: (handle) =>
        Effect.flatMap(lookup(handle), (daemon): Effect.Effect<void, AdapterError> =>
          daemon.config.reload === "replace"
            ? Effect.zipRight(stop(handle, daemon.config.shutdownTimeout), start(handle))
            : signal(handle, "SIGHUP")),
      signal,
      status: (handle) =>
        Effect.map(lookup(handle), (daemon) => ({
          status: daemon.status,
          pid: daemon.run?.pid,
          startedAt: daemon.run === undefined ? undefined : daemon.startedAt,
          lastExit: daemon.lastExit,
          restarts: 0,
          statusText: daemon.statusText,
          health: daemon.silence === undefined ? daemon.health : "unhealthy"
        })),
      logs: (handle, logOptions) =>
        Effect.map(lookup(handle), (daemon) => daemon.tail.slice(-(logOptions?.lines ?? logTailLines))),
      followLogs: (handle) =>
        Effect.flatMap(lookup(handle), (daemon) => Effect.map(PubSub.subscribe(daemon.lines), Stream.fromQueue)),
      events: (handle) =>
        Effect.flatMap(lookup(handle), (daemon) => Effect.map(PubSub.subscribe(daemon.events), Stream.fromQueue)),
      uninstall: (handle) =>
        Effect.gen(function*() {
          const daemon = daemons.get(handle.name)
          if (daemon === undefined) return
          yield* daemon.lock.withPermits(1)(stopRun(daemon, daemon.config.shutdownTimeout))
          daemons.delete(handle.name)
          yield* Effect.promise(() => rm(join(stateDirectory, handle.name), { recursive: true, force: true }))
        }),
      find: (name) =>
        Effect.suspend(() => {
          const daemon = daemons.get(name)
          return daemon === undefined ? Effect.fail(new DaemonNotFound({ name, platform })) : Effect.succeed(daemon.handle)
        }),
      pause: (handle) =>
        Effect.flatMap(machineOf(handle, "pause"), ({ daemon, machine }) =>
          Effect.zipRight(
            Effect.mapError(machine.pause, (error) => vmmFailed(error, "pause")),
            moveTo(daemon, DaemonStatus.Paused())
          )),
      resume: (handle) =>
        Effect.flatMap(machineOf(handle, "resume"), ({ daemon, machine }) =>
          Effect.gen(function*() {
            yield* Effect.mapError(machine.resume, (error) => vmmFailed(error, "resume"))
            // The silence while frozen was no missed heartbeat.
            if (daemon.run !== undefined) daemon.run.lastBeat = yield* Clock.currentTimeMillis
            yield* moveTo(daemon, DaemonStatus.Running())
          })),
      machine: (handle) => Effect.map(machineOf(handle, "show its VM"), ({ machine }) => machine),
      image: (handle) => Effect.map(lookup(handle), (daemon) => daemon.image)
    }
    return adapter
  })

/**
 * The adapter as a layer providing core's `PlatformAdapter` and `PepitaAdapter`;
 * its VMs are stopped when the layer is released.
 *
 * @example
 * ```ts
 * import { DaemonManager } from "@duende/core/manager"
 * import { PepitaAdapter } from "@duende/platform-pepita/adapter"
 * import { Layer } from "effect"
 *
 * const manager = DaemonManager.layer.pipe(Layer.provide(PepitaAdapter.layer({ stateDirectory: "/run/duende/pepita" })))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<PlatformAdapter.PlatformAdapter | PepitaAdapter, AdapterError> =>
  Layer.scopedContext(
    Effect.map(make(options), (adapter) =>
      Context.make(PepitaAdapter, adapter).pipe(Context.add(PlatformAdapter.PlatformAdapter, adapter)))
  )
