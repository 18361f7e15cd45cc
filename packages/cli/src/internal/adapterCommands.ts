/**
 * `install`, `start`, `stop`, `restart`, `reload`, `signal`, `status`, `logs`
 * and `rm` with `--platform <kind>`: the same commands as for the native
 * supervisor, done by the platform's adapter (from its module, see
 * `platforms.ts`), whatever the platform. The adapter lives for one command:
 * it finds the daemon by name, acts, and closes.
 *
 * @internal
 */
import type { DaemonConfig, Signal } from "@duende/core"
import { type AdapterError, DaemonManager, OperationUnsupported, type PlatformAdapter, type PlatformModule } from "@duende/core/manager"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Module } from "./platforms.js"

/** A platform's module and the options its flags gave. */
export interface Target {
  readonly module: Module
  readonly options: unknown
}

/** Runs `f` with the target's adapter; a failure becomes the adapter's message (the platform's stderr included). */
export const withAdapter = <A, E extends { readonly message: string } = AdapterError>(
  target: Target,
  f: (adapter: PlatformModule.Adapter) => Effect.Effect<A, AdapterError | E, Scope.Scope>
): Effect.Effect<A, string> =>
  Effect.scoped(Effect.flatMap(target.module.make(target.options), f)).pipe(Effect.mapError((error) => error.message))

const withState = (adapter: PlatformModule.Adapter, handle: PlatformAdapter.DaemonHandle) =>
  Effect.map(adapter.status(handle), (state) => ({ handle, state }))

/**
 * What of a config only the native supervisor does (restart.cron, watch), as
 * one warning for `platform`, or undefined when the config uses none of it.
 */
export const nativeOnly = (config: DaemonConfig.DaemonConfig, platform: string): string | undefined => {
  const fields = [...(config.restart.cron === undefined ? [] : ["restart.cron"]), ...(config.watch === false ? [] : ["watch"])]
  return fields.length === 0
    ? undefined
    : `${config.name}: ${fields.join(" and ")} ${fields.length > 1 ? "are" : "is"} run by the native supervisor; ${platform} does not restart the daemon on ${fields.length > 1 ? "them" : "it"}`
}

/** A config with `instances` is installed where copies can run side by side, never silently as one. */
const installOne = (adapter: PlatformModule.Adapter, config: DaemonConfig.DaemonConfig) => {
  const count = DaemonManager.instanceCount(config)
  const warning = nativeOnly(config, adapter.platform)
  if (warning !== undefined) return Effect.zipRight(Effect.logWarning(warning), installChecked(adapter, config, count))
  return installChecked(adapter, config, count)
}

const installChecked = (adapter: PlatformModule.Adapter, config: DaemonConfig.DaemonConfig, count: number) => {
  if (count === 1 || adapter.instances !== undefined) return adapter.install(config)
  return Effect.fail(
    new OperationUnsupported({
      operation: `run ${count} instances of ${config.name}`,
      platform: adapter.platform,
      hint: adapter.platform === "kubernetes"
        ? "set platform.kubernetes.replicas for pods, and instances to 1"
        : "run them with the native supervisor (`duende start` without --platform), or set instances to 1"
    })
  )
}

/** Installs a config; returns the handle. */
export const install = (target: Target, config: DaemonConfig.DaemonConfig) =>
  withAdapter(target, (adapter) => installOne(adapter, config))

/** Installs (when given a config) and starts; returns once the platform reports it started (after its readiness). */
export const start = (target: Target, what: DaemonConfig.DaemonConfig | string) =>
  withAdapter(target, (adapter) =>
    Effect.gen(function*() {
      const handle = typeof what === "string" ? yield* adapter.find(what) : yield* installOne(adapter, what)
      yield* adapter.start(handle)
      return yield* withState(adapter, handle)
    }))

/**
 * Stops, restarts or reloads by name. A platform may enforce the daemon's own
 * shutdown timeout (systemd's TimeoutStopSec); `timeout` is the command's patience.
 */
export const control = (target: Target, method: "stop" | "restart" | "reload", name: string, timeout: Duration.Duration) =>
  withAdapter(target, (adapter) =>
    Effect.gen(function*() {
      const handle = yield* adapter.find(name)
      if (method === "reload") yield* adapter.reload(handle)
      else yield* adapter[method](handle, timeout)
      return yield* withState(adapter, handle)
    }))

/** Sends a signal by name. */
export const signal = (target: Target, name: string, sent: Signal.Signal) =>
  withAdapter(target, (adapter) =>
    Effect.gen(function*() {
      const handle = yield* adapter.find(name)
      yield* adapter.signal(handle, sent)
      return yield* withState(adapter, handle)
    }))

/** The daemon's state as the platform reports it. */
export const status = (target: Target, name: string) =>
  withAdapter(target, (adapter) => Effect.flatMap(adapter.find(name), (handle) => withState(adapter, handle)))

/** The last `lines` log lines of the daemon, then (with `follow`) every new one, to `show`. */
export const logs = (
  target: Target,
  name: string,
  lines: number,
  follow: boolean,
  show: (line: PlatformAdapter.LogLine) => void
) =>
  withAdapter(target, (adapter) =>
    Effect.gen(function*() {
      const handle = yield* adapter.find(name)
      for (const line of yield* adapter.logs(handle, { lines })) show(line)
      if (!follow) return
      yield* Effect.flatMap(adapter.followLogs(handle), (stream) => Stream.runForEach(stream, (line) => Effect.sync(() => show(line))))
    }))

/** Stops the daemon if it runs, then uninstalls it. */
export const remove = (target: Target, name: string, timeout: Duration.Duration) =>
  withAdapter(target, (adapter) =>
    Effect.gen(function*() {
      const handle = yield* adapter.find(name)
      yield* adapter.stop(handle, timeout)
      yield* adapter.uninstall(handle)
    }))

/** One line about a daemon on a platform, as `start`/`stop`/`status` print it. */
export const describe = ({ handle, state }: {
  readonly handle: PlatformAdapter.DaemonHandle
  readonly state: PlatformAdapter.DaemonState
}): string =>
  `${handle.name}: ${state.status._tag.toLowerCase()}${
    state.status._tag === "Failed" ? ` (${state.status.reason})` : ""
  } under ${handle.platform}${parenthesized([
    handle.ref,
    state.pid === undefined ? "" : `pid ${state.pid}`,
    state.restarts > 0 ? `${state.restarts} restarts` : ""
  ])}${state.statusText ? ` — ${state.statusText}` : ""}`

/** ` (a, b)` of the parts that say something, or nothing when none does (a platform without a ref: WOS). */
const parenthesized = (parts: ReadonlyArray<string>) => {
  const said = parts.filter((part) => part !== "")
  return said.length === 0 ? "" : ` (${said.join(", ")})`
}

/** The default patience of `stop`, `restart` and `rm`. */
export const defaultTimeout: Duration.Duration = Duration.minutes(15)
