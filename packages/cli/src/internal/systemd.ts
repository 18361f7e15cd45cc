/**
 * The `--platform systemd [--user]` side of `install`, `start`, `stop`,
 * `restart`, `reload`, `status`, `logs` and `rm`: the same commands, done by
 * systemd through `@duende/platform-systemd`'s adapter instead of by the
 * native supervisor. The adapter is imported only when asked for.
 *
 * @internal
 */
import type { DaemonConfig } from "@duende/core"
import type { AdapterError, PlatformAdapter } from "@duende/core/manager"
import type { SystemdAdapter } from "@duende/platform-systemd/adapter"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/**
 * Runs `f` with a systemd adapter for the system manager, or the user's with
 * `user`; a failure becomes the adapter's message (systemctl's stderr included).
 */
export const withAdapter = <A>(
  user: boolean,
  f: (adapter: SystemdAdapter.SystemdAdapter) => Effect.Effect<A, AdapterError>
): Effect.Effect<A, string> =>
  Effect.gen(function*() {
    const { SystemdAdapter } = yield* Effect.promise(() => import("@duende/platform-systemd/adapter"))
    const adapter = yield* SystemdAdapter.make({ scope: user ? "user" : "system" })
    return yield* Effect.mapError(f(adapter), (error) => error.message)
  })

/** `--user`, or a config whose `platform.systemd.scope` is "user". */
const userScope = (target: DaemonConfig.DaemonConfig | string, user: boolean) =>
  user || (typeof target !== "string" && target.platform.systemd?.scope === "user")

/** Installs a config's units (daemon-reload, enabled); returns the handle. */
export const install = (config: DaemonConfig.DaemonConfig, user: boolean) =>
  withAdapter(userScope(config, user), (adapter) => adapter.install(config))

/** Installs (when given a config) and starts; returns once systemd reports it started (after READY=1). */
export const start = (target: DaemonConfig.DaemonConfig | string, user: boolean) =>
  withAdapter(userScope(target, user), (adapter) =>
    Effect.gen(function*() {
      const handle = typeof target === "string" ? yield* adapter.find(target) : yield* adapter.install(target)
      yield* adapter.start(handle)
      return { handle, state: yield* adapter.status(handle) }
    }))

/**
 * Stops, restarts or reloads by name. systemd enforces the unit's own
 * TimeoutStopSec (the daemon's shutdown timeout); `timeout` is only the
 * command's patience beyond that.
 */
export const control = (method: "stop" | "restart" | "reload", name: string, user: boolean, timeout: Duration.Duration) =>
  withAdapter(user, (adapter) =>
    Effect.gen(function*() {
      const handle = yield* adapter.find(name)
      if (method === "reload") yield* adapter.reload(handle)
      else yield* adapter[method](handle, timeout)
      return { handle, state: yield* adapter.status(handle) }
    }))

/** The daemon's state from `systemctl show`. */
export const status = (name: string, user: boolean) =>
  withAdapter(user, (adapter) =>
    Effect.flatMap(adapter.find(name), (handle) => Effect.map(adapter.status(handle), (state) => ({ handle, state }))))

/** The last `lines` journal lines of the daemon, then (with `follow`) every new one, to `show`. */
export const logs = (
  name: string,
  user: boolean,
  lines: number,
  follow: boolean,
  show: (line: PlatformAdapter.LogLine) => void
) =>
  withAdapter(user, (adapter) =>
    Effect.gen(function*() {
      const handle = yield* adapter.find(name)
      for (const line of yield* adapter.logs(handle, { lines })) show(line)
      if (!follow) return
      yield* Effect.scoped(
        Effect.flatMap(adapter.followLogs(handle), (stream) => Stream.runForEach(stream, (line) => Effect.sync(() => show(line))))
      )
    }))

/** Stops the daemon if it runs, then removes its units. */
export const remove = (name: string, user: boolean, timeout: Duration.Duration) =>
  withAdapter(user, (adapter) =>
    Effect.gen(function*() {
      const handle = yield* adapter.find(name)
      yield* adapter.stop(handle, timeout)
      yield* adapter.uninstall(handle)
    }))

/** One line about a daemon under systemd, as `start`/`stop`/`status` print it. */
export const describe = (handle: PlatformAdapter.DaemonHandle, state: PlatformAdapter.DaemonState): string =>
  `${handle.name}: ${state.status._tag.toLowerCase()}${
    state.status._tag === "Failed" ? ` (${state.status.reason})` : ""
  } under systemd (${handle.ref}${
    state.pid === undefined ? "" : `, pid ${state.pid}`
  }${state.restarts > 0 ? `, ${state.restarts} restarts` : ""})${state.statusText ? ` — ${state.statusText}` : ""}`

/** The default patience of `stop`, `restart` and `rm`. */
export const defaultTimeout: Duration.Duration = Duration.minutes(15)
