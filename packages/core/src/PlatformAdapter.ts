/**
 * The manager half: how Duende controls a daemon on a platform. Render the
 * platform's artifact (unit file, plist, OCI spec, VM spec), install, start,
 * stop within a timeout, restart, reload, signal, read status and logs, watch
 * events, uninstall. Core declares the service; `NativeAdapter` (core) and the
 * platform packages provide it. Every adapter runs the user's real command.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { AdapterError } from "./AdapterError.js"
import type { DaemonConfig } from "./DaemonConfig.js"
import type { DaemonId } from "./DaemonId.js"
import type { DaemonStatus } from "./DaemonStatus.js"
import type * as Platform from "./Platform.js"
import type { HealthReport } from "./PlatformRuntime.js"
import type { Signal } from "./Signal.js"
import type * as SyscallTrace from "./SyscallTrace.js"

/**
 * A file a platform needs for a daemon, as rendered from its config.
 *
 * @since 0.1.0
 */
export interface Artifact {
  /** A file name for it: "duende-api.service", "com.example.api.plist", "config.json". */
  readonly name: string
  /** What it is, for people: "systemd unit", "launchd plist", "OCI runtime spec". */
  readonly kind: string
  readonly content: string
}

/**
 * An installed daemon as an adapter knows it.
 *
 * @since 0.1.0
 */
export interface DaemonHandle {
  readonly id: DaemonId
  /** The config's name, or `<name>@<instance>` for one of its `instances`. */
  readonly name: string
  /** Which copy of its config it is (`instances`), numbered from 0; undefined for a daemon of one. */
  readonly instance?: number | undefined
  readonly platform: Platform.Kind
  /** The platform's own name for it: unit name, launchd label, container id, VM name, WOS pid. */
  readonly ref: string
}

/**
 * How one run of a daemon ended.
 *
 * @since 0.1.0
 */
export interface ExitInfo {
  /** The exit code, or null when a signal ended it. */
  readonly code: number | null
  readonly signal: Signal | null
  /** Epoch milliseconds. */
  readonly at: number
  /** "stopped by SIGTERM", "forced: shutdown deadline (exit 4)", "killed by SIGKILL (watchdog timeout)". */
  readonly description: string
  /**
   * Why the supervisor or the kernel ended it ("watchdog timeout", "memory
   * limit 150M exceeded…"), when one of them did: such an exit is a failure,
   * whatever its code (a daemon that exits 143 on the SIGTERM of a memory
   * limit has still failed).
   */
  readonly killedFor?: string | undefined
}

/**
 * What a daemon is doing now.
 *
 * @since 0.1.0
 */
export interface DaemonState {
  readonly status: DaemonStatus
  readonly pid: number | undefined
  /** When the current run started (epoch ms). */
  readonly startedAt: number | undefined
  readonly lastExit: ExitInfo | undefined
  /** Restarts counted by the platform itself (systemd's NRestarts); 0 where Duende restarts. */
  readonly restarts: number
  /** The daemon's last STATUS= text. */
  readonly statusText: string | undefined
  readonly health: HealthReport["state"] | undefined
  /** How each configured resource limit is enforced, or why it is not (the native adapter says; others leave it out). */
  readonly limits?: ReadonlyArray<LimitEnforcement> | undefined
}

/**
 * How one configured `resources` limit of a daemon is enforced: by a control
 * group, an rlimit or the supervisor's RSS sampling, or not at all, and why.
 *
 * @since 0.1.0
 */
export interface LimitEnforcement {
  /** The field of `resources`: "memory", "pidsMax", "cpuQuota"… */
  readonly limit: string
  /** "cgroup v1 memory.limit_in_bytes (/sys/fs/cgroup/memory/…)"; undefined when it is not enforced. */
  readonly how: string | undefined
  /** Why it is not enforced, and the fix. */
  readonly why?: string | undefined
}

/**
 * A line a daemon wrote.
 *
 * @since 0.1.0
 */
export interface LogLine {
  /** Epoch milliseconds (when known; 0 otherwise). */
  readonly at: number
  readonly stream: "stdout" | "stderr"
  readonly text: string
}

/**
 * What happens to a running daemon, as it happens.
 *
 * @since 0.1.0
 */
export type DaemonEvent =
  | { readonly _tag: "Started"; readonly pid: number | undefined; readonly at: number }
  | { readonly _tag: "Ready"; readonly at: number }
  | { readonly _tag: "Reloading"; readonly at: number }
  | { readonly _tag: "Stopping"; readonly at: number }
  | { readonly _tag: "StatusText"; readonly text: string; readonly at: number }
  | {
    readonly _tag: "Health"
    readonly state: HealthReport["state"]
    readonly consecutiveFailures: number
    readonly summary: string
    readonly at: number
  }
  | { readonly _tag: "WatchdogMissed"; readonly timeoutMs: number; readonly at: number }
  | { readonly _tag: "Exited"; readonly exit: ExitInfo }

/**
 * A platform adapter.
 *
 * `start` returns once the daemon runs: after it reported ready when it speaks
 * the platform's readiness protocol, else once started. `stop` asks politely
 * (SIGTERM or the platform's equivalent), waits up to `timeout`, then kills the
 * whole process tree; stopping a stopped daemon does nothing. `events` and
 * `followLogs` subscribe when run (nothing that happens afterwards is missed)
 * and stay subscribed until their scope closes.
 *
 * @since 0.1.0
 */
export interface PlatformAdapter {
  readonly platform: Platform.Kind
  /**
   * Who restarts a daemon that died: the platform itself (systemd `Restart=`,
   * launchd `KeepAlive`, podman `--restart`) or Duende's `DaemonManager`.
   */
  readonly restarts: "platform" | "manager"
  /**
   * How it runs a config's `instances`: `"copies"`, each installed with its
   * number and named `<name>@<number>` (the `DaemonManager` runs them side by
   * side); `"replicas"`, one install whose platform runs the count itself
   * (Kubernetes replicas). Without it, `instances` above 1 is refused.
   */
  readonly instances?: "copies" | "replicas" | undefined
  readonly render: (config: DaemonConfig) => Effect.Effect<ReadonlyArray<Artifact>, AdapterError>
  /**
   * Makes the daemon known to the platform (writes its unit, plist, bundle…);
   * `id` keeps a known identity; `instance` installs that copy of the config
   * (only where {@link PlatformAdapter.instances}).
   */
  readonly install: (config: DaemonConfig, id?: DaemonId, instance?: number) => Effect.Effect<DaemonHandle, AdapterError>
  readonly start: (handle: DaemonHandle) => Effect.Effect<void, AdapterError>
  readonly stop: (handle: DaemonHandle, timeout: Duration.Duration) => Effect.Effect<void, AdapterError>
  readonly restart: (handle: DaemonHandle, timeout: Duration.Duration) => Effect.Effect<void, AdapterError>
  /**
   * A rolling restart, where the platform can make one: a new process beside
   * the running one (sharing its `listen` sockets), the old one stopped once
   * the new one is ready; a new one that never gets ready is stopped and the
   * old one keeps serving (the failure says why). No `Exited` event: the
   * daemon never stops. The native adapter has it; the manager uses it for
   * daemons with `listen`.
   */
  readonly replace?: (handle: DaemonHandle, timeout: Duration.Duration) => Effect.Effect<void, AdapterError>
  readonly reload: (handle: DaemonHandle) => Effect.Effect<void, AdapterError>
  readonly signal: (handle: DaemonHandle, signal: Signal) => Effect.Effect<void, AdapterError>
  readonly status: (handle: DaemonHandle) => Effect.Effect<DaemonState, AdapterError>
  readonly logs: (
    handle: DaemonHandle,
    options?: { readonly lines?: number }
  ) => Effect.Effect<ReadonlyArray<LogLine>, AdapterError>
  /** Subscribes now, for the life of the scope, to the lines the daemon writes from this moment. */
  readonly followLogs: (handle: DaemonHandle) => Effect.Effect<Stream.Stream<LogLine>, AdapterError, Scope.Scope>
  /** Subscribes now, for the life of the scope, to what happens to the daemon from this moment. */
  readonly events: (handle: DaemonHandle) => Effect.Effect<Stream.Stream<DaemonEvent>, AdapterError, Scope.Scope>
  readonly uninstall: (handle: DaemonHandle) => Effect.Effect<void, AdapterError>
  /**
   * Attaches a syscall tracer (strace) to the daemon's main process as the
   * host sees it (the supervisor's child, systemd's MainPID, a container's
   * init pid), for the life of the scope; see `SyscallTrace.attach`. An
   * adapter without it cannot trace: `SyscallTrace.ofAdapter` says so with a
   * `TraceUnsupported`; one that can never trace its daemons fails with it.
   */
  readonly attachTracer?: (
    handle: DaemonHandle,
    options?: SyscallTrace.Input
  ) => Effect.Effect<
    Stream.Stream<SyscallTrace.Event, SyscallTrace.TracerFailed>,
    AdapterError | SyscallTrace.TraceError,
    Scope.Scope
  >
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { PlatformAdapter } from "@duende/core/manager"
 * import { Effect } from "effect"
 *
 * const statusOf = (handle: PlatformAdapter.DaemonHandle) =>
 *   Effect.flatMap(PlatformAdapter.PlatformAdapter, (adapter) => adapter.status(handle))
 * ```
 *
 * @since 0.1.0
 */
export const PlatformAdapter: Context.Tag<PlatformAdapter, PlatformAdapter> = Context.GenericTag<PlatformAdapter>(
  "@duende/core/PlatformAdapter"
)
