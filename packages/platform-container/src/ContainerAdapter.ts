/**
 * Core's `PlatformAdapter` for containers, with one driver behind it: runc or
 * crun (OCI bundles; Duende's DaemonManager restarts), podman (its CLI; its
 * restart policy restarts) or the Docker Engine API over a unix socket
 * (docker, or podman's compatible service; the engine restarts). The driver
 * comes from the options, else from what is installed.
 *
 * Every container runs the daemon's real command. The adapter keeps, per
 * daemon, a directory under `stateDirectory`: the bundle (runc/crun), the log
 * files (runc/crun) and `run/`, bound at `/run/duende` in the container, where
 * the daemon's runtime (`@duende/platform-container`) writes its state file.
 * That is how readiness, reloads, stopping, status text and the daemon's own
 * health reach the adapter for every driver, runc included (which has no
 * notify channel of its own). A command that writes no state file is ready
 * once it has stayed up for `readyGrace`.
 *
 * Containers outlive the adapter: closing its scope stops watching them, not
 * the containers. Each daemon's config is kept in its directory
 * (`daemon.json`), so that an adapter in another process (the next `duende`
 * command) finds it by name and adopts its container (`find`). Runtime failures are `PlatformCommandFailed` carrying the
 * runtime's stderr or the API's message.
 *
 * @since 0.1.0
 */
import { DaemonConfig, DaemonId } from "@duende/core"
import { encode } from "@duende/core/DaemonConfigSchema"
import {
  type AdapterError,
  AdapterIOError,
  DaemonNotFound,
  OperationUnsupported,
  PlatformAdapter,
  ProcessTree,
  SyscallTrace
} from "@duende/core/manager"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { accessSync, chmodSync, chownSync, constants, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs"
import { delimiter, join } from "node:path"
import { stableId } from "./ContainerArtifacts.js"
import * as ContainerSection from "./ContainerSection.js"
import * as ContainerSpec from "./ContainerSpec.js"
import * as OciSpec from "./OciSpec.js"
import { resolveIds } from "./internal/accounts.js"
import { writeAtomic } from "./internal/files.js"
import type { Driver, DriverKind, Paths } from "./internal/driver.js"
import * as EngineDriver from "./internal/drivers/engine.js"
import * as OciDriver from "./internal/drivers/ociRuntime.js"
import * as PodmanDriver from "./internal/drivers/podman.js"
import * as EngineClient from "./internal/engineClient.js"
import { ManagedDaemon } from "./internal/managed.js"

/**
 * A driver: the runtime that runs the containers.
 *
 * @since 0.1.0
 */
export type DriverName = DriverKind

/**
 * Options of the container adapter.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Where per-daemon files live: bundles, logs, and the state directory bound into each container. */
  readonly stateDirectory: string
  /** The runtime; default "auto": {@link detectDriver}. */
  readonly driver?: DriverName | "auto"
  /** The runtime's executable (runc, crun, podman, or a wrapper that execs it); default: found on PATH. */
  readonly runtimePath?: string
  /** Global options for podman before its subcommand (`--root`, `--runroot`, `--url`…). */
  readonly runtimeArgs?: ReadonlyArray<string>
  /** runc/crun `--root` (their container state); default `<stateDirectory>/.runtime`. */
  readonly runtimeRoot?: string
  /** The Docker Engine API socket; default `$DOCKER_HOST` (unix://…), else /var/run/docker.sock. */
  readonly socket?: string
  /** The environment of the runtime tools (CONTAINERS_CONF, XDG_RUNTIME_DIR…); default this process's. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /**
   * The init binary for containers with `init: true`: bound into runc/crun bundles (default: tini-static,
   * tini, catatonit or docker-init, the first found) and given to podman as `--init-path` (only when set).
   */
  readonly initPath?: string
  /**
   * Defaults under each daemon's own `platform.container` section, or a function giving them per daemon
   * (a daemon's own fields win, field by field).
   */
  readonly section?: ContainerSection.Input | ((config: DaemonConfig.DaemonConfig) => ContainerSection.Input)
  /** How long a command that writes no state file must stay up to count as ready (default 2s). */
  readonly readyGrace?: Duration.DurationInput
  /** How often state files (and, for runc, logs) are polled besides inotify (default 1s). */
  readonly pollInterval?: Duration.DurationInput
  /** Podman healthchecks: "engine" (podman's systemd timers) or "adapter" (the adapter runs them); default: "engine" when systemd runs. */
  readonly healthchecks?: "engine" | "adapter"
  /** runc/crun log files are rotated above this size (default 10 MiB). */
  readonly logMaxBytes?: number
}

/**
 * The container adapter: core's `PlatformAdapter`, and a daemon's handle by its name.
 *
 * @since 0.1.0
 */
export interface ContainerAdapter extends PlatformAdapter.PlatformAdapter {
  /**
   * An installed daemon by its name: one this adapter installed, or one an adapter
   * in another process installed, adopted from the config kept in its directory.
   */
  readonly find: (name: string) => Effect.Effect<PlatformAdapter.DaemonHandle, AdapterError>
}

/** The record of an installed daemon in its directory: its identity and its config. */
const recordName = "daemon.json"

const which = (name: string, env: Readonly<Record<string, string | undefined>>): string | undefined => {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue
    try {
      accessSync(join(dir, name), constants.X_OK)
      return join(dir, name)
    } catch {
      // not here
    }
  }
  return undefined
}

const defaultSocket = (env: Readonly<Record<string, string | undefined>>): string => {
  const host = env.DOCKER_HOST
  return host !== undefined && host.startsWith("unix://") ? host.slice("unix://".length) : "/var/run/docker.sock"
}

/**
 * The driver for what is installed: with an image to run, the Docker Engine
 * API when its socket exists, else podman; without one, runc, else crun
 * (their "host" root needs no image), else podman or the Docker socket.
 *
 * @example
 * ```ts
 * import { ContainerAdapter } from "@duende/platform-container/adapter"
 *
 * const driver = ContainerAdapter.detectDriver({ image: false }) // "runc" on a machine with runc
 * ```
 *
 * @since 0.1.0
 */
export const detectDriver = (options: {
  readonly image: boolean
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly socket?: string
}): DriverName | undefined => {
  const env = options.env ?? process.env
  const socket = existsSync(options.socket ?? defaultSocket(env))
  const podman = which("podman", env) !== undefined
  if (options.image) return socket ? "docker" : podman ? "podman" : undefined
  if (which("runc", env) !== undefined) return "runc"
  if (which("crun", env) !== undefined) return "crun"
  return podman ? "podman" : socket ? "docker" : undefined
}

const makeDriver = (
  kind: DriverName,
  options: Options,
  env: Readonly<Record<string, string | undefined>>,
  poll: Duration.Duration
): Effect.Effect<Driver, OperationUnsupported, Scope.Scope> => {
  const missing = (what: string) =>
    Effect.fail(new OperationUnsupported({ operation: `run containers with ${kind}`, platform: "container", hint: what }))
  switch (kind) {
    case "runc":
    case "crun": {
      const path = options.runtimePath ?? which(kind, env)
      if (path === undefined) return missing(`${kind} is not on PATH (apt-get install ${kind})`)
      const root = options.runtimeRoot ?? join(options.stateDirectory, ".runtime")
      mkdirSync(root, { recursive: true, mode: 0o700 })
      return OciDriver.make({
        kind,
        path,
        root,
        env,
        initPath: options.initPath ?? OciSpec.findInit(),
        logMaxBytes: options.logMaxBytes ?? 10 * 1024 * 1024,
        poll
      })
    }
    case "podman": {
      const path = options.runtimePath ?? which("podman", env)
      if (path === undefined) return missing("podman is not on PATH (apt-get install podman)")
      return PodmanDriver.make({
        path,
        globalArgs: options.runtimeArgs ?? [],
        env,
        initPath: options.initPath,
        healthchecks: options.healthchecks ?? (existsSync("/run/systemd/private") ? "engine" : "adapter"),
        poll
      })
    }
    case "docker":
      return EngineDriver.make({ client: EngineClient.make(options.socket ?? defaultSocket(env)), poll })
  }
}

/**
 * The container adapter as a scoped value.
 *
 * @example
 * ```ts
 * import { ContainerAdapter } from "@duende/platform-container/adapter"
 * import { DaemonConfig } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const adapter = yield* ContainerAdapter.make({ stateDirectory: "/var/lib/duende/containers", driver: "runc" })
 *   const config = yield* DaemonConfig.decode({ name: "api", command: ["/usr/bin/node", "/srv/api/main.js"] })
 *   const handle = yield* adapter.install(config)
 *   yield* adapter.start(handle) // returns once the daemon reported READY
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<ContainerAdapter, OperationUnsupported, Scope.Scope> =>
  Effect.gen(function*() {
    const env = options.env ?? process.env
    const poll = Duration.decode(options.pollInterval ?? Duration.seconds(1))
    const wanted = options.driver ?? "auto"
    const kind = wanted !== "auto"
      ? wanted
      : detectDriver({
        image: typeof options.section === "object" && options.section.image !== undefined,
        env,
        ...(options.socket ? { socket: options.socket } : {})
      })
    if (kind === undefined) {
      return yield* new OperationUnsupported({
        operation: "run containers",
        platform: "container",
        hint: "no runtime found: install runc, crun or podman, or give the Docker Engine API socket"
      })
    }
    mkdirSync(options.stateDirectory, { recursive: true, mode: 0o700 })
    const driver = yield* makeDriver(kind, options, env, poll)
    const scope = yield* Effect.scope
    const runFork = yield* FiberSet.makeRuntime<never>()
    const daemons = new Map<string, { readonly daemon: ManagedDaemon; readonly watcher: Fiber.RuntimeFiber<never> }>()
    const shared = {
      driver,
      readyGraceMs: Duration.toMillis(Duration.decode(options.readyGrace ?? Duration.seconds(2))),
      poll,
      fork: <A, E>(effect: Effect.Effect<A, E>) => void runFork(effect)
    }

    // Starts and deaths, as the runtime reports them, go to the daemon whose container it is.
    const lifecycle = yield* driver.lifecycle
    yield* Effect.forkScoped(Stream.runForEach(lifecycle, (event) => {
      for (const { daemon } of daemons.values()) {
        if (daemon.spec.name === event.name) return daemon.onLifecycle(event)
      }
      return Effect.void
    }))

    const find = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.suspend(() => {
        const entry = daemons.get(handle.name)
        return entry === undefined
          ? Effect.fail(new DaemonNotFound({ name: handle.name, platform: "container" }))
          : Effect.succeed(entry.daemon)
      })

    const pathsOf = (name: string): Paths => {
      const root = join(options.stateDirectory, name)
      return {
        root,
        run: join(root, "run"),
        bundle: join(root, "bundle"),
        stdout: join(root, "stdout.log"),
        stderr: join(root, "stderr.log"),
        runtimeLog: join(root, "runtime.log"),
        pidFile: join(root, "container.pid")
      }
    }

    const specOf = (config: DaemonConfig.DaemonConfig, id: string, paths: Paths | undefined) =>
      Either.flatMap(
        ContainerSection.resolve(
          config.platform.container,
          typeof options.section === "function" ? options.section(config) : options.section
        ),
        (section) =>
          Either.flatMap(
            section.runtime !== undefined && section.runtime !== kind
              ? Either.left(
                `platform.container.runtime is "${section.runtime}" but this adapter drives ${kind}: ` +
                  `use ContainerAdapter.layer({ driver: "${section.runtime}", … })`
              )
              : Either.right(section),
            (checked) =>
              ContainerSpec.make(config, {
                id,
                section: checked,
                ...(paths !== undefined ? { stateDirectory: paths.run } : {})
              })
          )
      ).pipe(Either.mapLeft((hint) =>
        new OperationUnsupported({ operation: `run "${config.name}" in a container`, platform: "container", hint })
      ))

    /** The state directory is written by the daemon, which does not run as root unless its config says so. */
    const prepareRunDirectory = (spec: ContainerSpec.ContainerSpec, paths: Paths) => {
      mkdirSync(paths.run, { recursive: true, mode: 0o755 })
      const etc = kind === "runc" || kind === "crun"
        ? spec.rootfs === undefined || spec.rootfs === "host" ? "/etc" : join(spec.rootfs, "etc")
        : undefined
      const ids = etc !== undefined ? resolveIds(etc, spec.user, spec.group) : undefined
      if (ids !== undefined && typeof ids !== "string") chownSync(paths.run, ids.uid, ids.gid)
      else if (/^\d+$/.test(spec.user)) {
        chownSync(paths.run, Number(spec.user), spec.group !== undefined && /^\d+$/.test(spec.group) ? Number(spec.group) : -1)
      }
      // A user known only inside the image: the directory itself must let it write (its parent is 0700).
      else chmodSync(paths.run, 0o777)
    }

    const adapter: ContainerAdapter = {
      platform: "container",
      restarts: driver.restarts,
      render: (config) =>
        Effect.gen(function*() {
          const installed = daemons.get(config.name)?.daemon
          const paths = installed?.paths
          const spec = yield* specOf(config, installed?.handle.id ?? stableId(config.name), paths)
          return [yield* driver.render(spec, paths)]
        }),
      install: (config, id) =>
        Effect.gen(function*() {
          const paths = pathsOf(config.name)
          const existing = daemons.get(config.name)
          const name = (yield* specOf(config, id ?? DaemonId.random(), paths)).name
          // A container of that name may exist already (an adapter that came back): adopt it if Duende made it.
          const found = existing === undefined ? yield* driver.inspect(name) : undefined
          const labelled = found?.labels[ContainerSpec.labels.id]
          if (found !== undefined && labelled === undefined) {
            return yield* new OperationUnsupported({
              operation: `install "${config.name}"`,
              platform: "container",
              hint: `a container named ${name} exists and Duende did not create it`
            })
          }
          const daemonId = id ?? existing?.daemon.handle.id ??
            (labelled !== undefined && DaemonId.is(labelled) ? labelled : DaemonId.random())
          const spec = yield* specOf(config, daemonId, paths)
          yield* Effect.try({
            try: () => {
              mkdirSync(paths.root, { recursive: true, mode: 0o700 })
              prepareRunDirectory(spec, paths)
            },
            catch: (error) => new AdapterIOError({ path: paths.root, reason: (error as Error).message })
          })
          yield* writeAtomic(
            join(paths.root, recordName),
            `${JSON.stringify({ id: daemonId, config: encode(config) }, null, 2)}\n`,
            0o600
          )
          if (spec.ignored.length > 0) {
            yield* Effect.logWarning(`${config.name}: not applied in containers: ${spec.ignored.join(", ")}`)
          }
          if (existing !== undefined) {
            existing.daemon.config = config
            existing.daemon.spec = spec
            return existing.daemon.handle
          }
          const handle: PlatformAdapter.DaemonHandle = { id: daemonId, name: config.name, platform: "container", ref: spec.name }
          const events = yield* PubSub.sliding<PlatformAdapter.DaemonEvent>(1024)
          const daemon = new ManagedDaemon(handle, config, spec, paths, events, shared)
          const watcher = yield* Effect.forkIn(Effect.scoped(daemon.watchState()), scope)
          daemons.set(config.name, { daemon, watcher })
          return handle
        }),
      find: (name) =>
        Effect.suspend(() => {
          const installed = daemons.get(name)
          if (installed !== undefined) return Effect.succeed(installed.daemon.handle)
          const path = join(pathsOf(name).root, recordName)
          if (!existsSync(path)) return Effect.fail(new DaemonNotFound({ name, platform: "container" }))
          return Effect.try({
            try: () => JSON.parse(readFileSync(path, "utf8")) as { readonly id?: unknown; readonly config?: unknown },
            catch: (error) => new AdapterIOError({ path, reason: (error as Error).message })
          }).pipe(
            Effect.flatMap((record) =>
              Effect.flatMap(
                Effect.mapError(
                  DaemonConfig.decode(record.config, path),
                  (error) => new AdapterIOError({ path, reason: error.message })
                ),
                (config) => adapter.install(config, typeof record.id === "string" && DaemonId.is(record.id) ? record.id : undefined)
              )
            )
          )
        }),
      start: (handle) => Effect.flatMap(find(handle), (daemon) => daemon.start()),
      stop: (handle, timeout) => Effect.flatMap(find(handle), (daemon) => daemon.stop(timeout)),
      restart: (handle, timeout) =>
        Effect.flatMap(find(handle), (daemon) => Effect.zipRight(daemon.stop(timeout), daemon.start())),
      reload: (handle) => Effect.flatMap(find(handle), (daemon) => daemon.reload()),
      signal: (handle, signal) => Effect.flatMap(find(handle), (daemon) => daemon.signal(signal)),
      status: (handle) => Effect.flatMap(find(handle), (daemon) => daemon.state()),
      logs: (handle, logOptions) =>
        Effect.flatMap(find(handle), (daemon) => driver.logs(daemon.spec.name, daemon.paths, logOptions?.lines ?? 100)),
      followLogs: (handle) => Effect.flatMap(find(handle), (daemon) => driver.follow(daemon.spec.name, daemon.paths)),
      events: (handle) =>
        Effect.flatMap(find(handle), (daemon) => Effect.map(PubSub.subscribe(daemon.events), Stream.fromQueue)),
      attachTracer: (handle, traceOptions) =>
        Effect.gen(function*() {
          const daemon = yield* find(handle)
          // runc/crun state and podman's (or the engine's) State.Pid are pids of this host.
          const hostPid = (yield* driver.inspect(daemon.spec.name))?.pid
          const startedAt = hostPid === undefined ? undefined : ProcessTree.startTime(hostPid)
          if (hostPid === undefined || startedAt === undefined) {
            return yield* new SyscallTrace.TracerFailed({ reason: `container ${daemon.spec.name} is not running` })
          }
          const events = yield* SyscallTrace.attach({ pid: hostPid, startedAt }, traceOptions)
          // Attached to that pid, started then: still the container's process if the runtime still says so.
          const now = (yield* driver.inspect(daemon.spec.name))?.pid
          if (now !== hostPid) {
            return yield* new SyscallTrace.TracerFailed({
              reason: `container ${daemon.spec.name} changed its process while attaching (pid ${hostPid}, now ${now ?? "none"})`
            })
          }
          return events
        }),
      uninstall: (handle) =>
        Effect.gen(function*() {
          const daemon = yield* find(handle)
          if (yield* daemon.running()) {
            return yield* new OperationUnsupported({
              operation: `uninstall ${handle.name} while it runs`,
              platform: "container",
              hint: "stop it first"
            })
          }
          yield* driver.remove(daemon.spec.name)
          const entry = daemons.get(handle.name)
          daemons.delete(handle.name)
          if (entry !== undefined) yield* Fiber.interrupt(entry.watcher)
          yield* Effect.sync(() => rmSync(daemon.paths.root, { recursive: true, force: true }))
        })
    }
    return adapter
  })

/**
 * The container adapter as a layer providing core's `PlatformAdapter`.
 *
 * @example
 * ```ts
 * import { ContainerAdapter } from "@duende/platform-container/adapter"
 * import { PlatformAdapter } from "@duende/core/manager"
 * import { Effect } from "effect"
 *
 * const adapter = ContainerAdapter.layer({ stateDirectory: "/var/lib/duende/containers", driver: "podman" })
 * const program = Effect.flatMap(PlatformAdapter.PlatformAdapter, (a) => Effect.log(a.restarts)).pipe(
 *   Effect.provide(adapter)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<PlatformAdapter.PlatformAdapter, OperationUnsupported> =>
  Layer.scoped(PlatformAdapter.PlatformAdapter, make(options))
