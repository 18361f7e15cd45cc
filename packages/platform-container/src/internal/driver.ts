/**
 * What the container adapter needs from a container runtime. Three drivers
 * implement it: runc/crun (OCI runtime CLI, restarts by Duende), podman (its
 * CLI) and the Docker Engine API over a unix socket (docker, or podman's
 * compatible service); the adapter does readiness, health and status text
 * through the state file for all of them.
 *
 * @internal
 */
import type { AdapterError, PlatformAdapter } from "@duende/core/manager"
import type { Signal } from "@duende/core"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { ContainerSpec } from "../ContainerSpec.js"

export type DriverKind = "runc" | "crun" | "podman" | "docker"

/** Files the adapter keeps for one daemon. */
export interface Paths {
  /** The daemon's own directory. */
  readonly root: string
  /** Bound at /run/duende in the container: the state file lives here. */
  readonly run: string
  /** runc/crun: the bundle (config.json, rootfs/). */
  readonly bundle: string
  readonly stdout: string
  readonly stderr: string
  /** runc/crun's own log (JSON lines). */
  readonly runtimeLog: string
  readonly pidFile: string
}

export interface Inspection {
  readonly status: "created" | "running" | "paused" | "restarting" | "exited"
  readonly pid: number | undefined
  /** Epoch ms. */
  readonly startedAt: number | undefined
  /** The last run's exit, once it has ended. */
  readonly exit: { readonly code: number; readonly at: number } | undefined
  /** Restarts done by the engine's restart policy. */
  readonly restarts: number
  /** The engine's healthcheck status, when it runs one. */
  readonly health: "starting" | "healthy" | "unhealthy" | undefined
  readonly labels: Readonly<Record<string, string>>
}

export type Lifecycle =
  | { readonly _tag: "Started"; readonly name: string; readonly at: number }
  | { readonly _tag: "Died"; readonly name: string; readonly code: number; readonly at: number }

export interface Driver {
  readonly kind: DriverKind
  readonly restarts: "platform" | "manager"
  /** The artifact `render` shows for this runtime. */
  readonly render: (spec: ContainerSpec, paths: Paths | undefined) => Effect.Effect<PlatformAdapter.Artifact, AdapterError>
  /**
   * Creates and starts a new run from the spec; succeeds once the runtime says it runs. `existing`
   * is the caller's inspection, just taken: a container of that name that does not run is removed first.
   */
  readonly start: (spec: ContainerSpec, paths: Paths, existing: Inspection | undefined) => Effect.Effect<void, AdapterError>
  /** undefined when the runtime does not know the container. */
  readonly inspect: (name: string) => Effect.Effect<Inspection | undefined, AdapterError>
  readonly kill: (name: string, signal: Signal.Signal) => Effect.Effect<void, AdapterError>
  /** Asks the container to stop (stop signal), kills it after `timeout`; an engine's restart policy does not restart it. */
  readonly stop: (name: string, timeout: Duration.Duration) => Effect.Effect<void, AdapterError>
  /** Deletes the stopped container from the runtime (nothing when it is not there). */
  readonly remove: (name: string) => Effect.Effect<void, AdapterError>
  readonly logs: (name: string, paths: Paths, lines: number) => Effect.Effect<ReadonlyArray<PlatformAdapter.LogLine>, AdapterError>
  /** Lines from now on, for the life of the scope. */
  readonly follow: (name: string, paths: Paths) => Effect.Effect<Stream.Stream<PlatformAdapter.LogLine>, AdapterError, Scope.Scope>
  /** Starts and deaths of every container of this driver, from the moment of subscription. */
  readonly lifecycle: Effect.Effect<Stream.Stream<Lifecycle>, never, Scope.Scope>
}
