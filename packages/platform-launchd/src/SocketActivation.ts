/**
 * Socket activation under launchd: the job's plist lists `Sockets` by name,
 * launchd listens on them, and the daemon collects the file descriptors with
 * `launch_activate_socket(name)` (macOS only, through koffi; see
 * `internal/liblaunch.ts` for the whole FFI boundary). The names come from
 * the `DUENDE_LAUNCHD_SOCKETS` variable the rendered plist sets. The result is
 * core's `ListenSocket`s, what `ctx.listenSockets` holds under systemd too, so
 * the same daemon code serves either way.
 *
 * @since 0.1.0
 */
import type { PlatformRuntime } from "@duende/core"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { Server } from "node:net"
import { type Activate, bind, libSystem } from "./internal/liblaunch.js"
import { socketsVariable } from "./internal/protocol.js"

/**
 * Why sockets could not be collected.
 *
 * @example
 * ```ts
 * import { SocketActivation } from "@duende/platform-launchd"
 *
 * new SocketActivation.SocketActivationError({ name: "http", reason: "no such socket in the job's plist (ENOENT)" }).message
 * // 'launchd socket "http": no such socket in the job\'s plist (ENOENT)'
 * ```
 *
 * @since 0.1.0
 */
export class SocketActivationError extends Data.TaggedError("SocketActivationError")<{
  readonly name: string
  readonly reason: string
}> {
  override get message(): string {
    return `launchd socket "${this.name}": ${this.reason}`
  }
}

/**
 * How the fds of one socket name are collected: launchd's
 * `launch_activate_socket` ({@link native}), or a function of the same
 * contract in tests. Returns the fds, or the errno.
 *
 * @since 0.1.0
 */
export type Activator = Activate

/** What launch_activate_socket's errors mean (launch.h). */
const meanings: Readonly<Record<number, string>> = {
  2: "no such socket in the job's plist (ENOENT)",
  3: "this process is not managed by launchd (ESRCH)",
  37: "already activated by this process (EALREADY)"
}

/**
 * The socket names in an environment (`DUENDE_LAUNCHD_SOCKETS`, comma-separated).
 *
 * @example
 * ```ts
 * import { SocketActivation } from "@duende/platform-launchd"
 *
 * SocketActivation.names({ DUENDE_LAUNCHD_SOCKETS: "http,admin" }) // ["http", "admin"]
 * ```
 *
 * @since 0.1.0
 */
export const names = (env: Readonly<Record<string, string | undefined>> = process.env): ReadonlyArray<string> =>
  (env[socketsVariable] ?? "").split(",").map((n) => n.trim()).filter((n) => /^[A-Za-z0-9_.-]{1,255}$/.test(n))

/**
 * launch_activate_socket of this machine: on macOS through koffi, elsewhere a reason.
 *
 * @example
 * ```ts
 * import { SocketActivation } from "@duende/platform-launchd"
 *
 * const activate = SocketActivation.native()
 * if (typeof activate === "string") console.log(`no socket activation: ${activate}`)
 * ```
 *
 * @since 0.1.0
 */
export const native = (platform: NodeJS.Platform = process.platform): Activator | string =>
  platform === "darwin" ? bind(libSystem) : `launch_activate_socket exists on macOS only (this is ${platform})`

/**
 * Collects the sockets of each name, in order: each fd becomes a
 * `ListenSocket` with the name it was listed under (a name listening on two
 * addresses gives two).
 *
 * @example
 * ```ts
 * import { SocketActivation } from "@duende/platform-launchd"
 *
 * const sockets = SocketActivation.activate(["http"], (name) => ({ fds: [5] }))
 * // Either.right([{ fd: 5, name: "http" }])
 * ```
 *
 * @since 0.1.0
 */
export const activate = (
  socketNames: ReadonlyArray<string>,
  activator: Activator | string = native()
): Either.Either<ReadonlyArray<PlatformRuntime.ListenSocket>, SocketActivationError> => {
  const sockets: Array<PlatformRuntime.ListenSocket> = []
  for (const name of socketNames) {
    if (typeof activator === "string") return Either.left(new SocketActivationError({ name, reason: activator }))
    const result = activator(name)
    if ("errno" in result) {
      return Either.left(
        new SocketActivationError({ name, reason: meanings[result.errno] ?? `launch_activate_socket failed with errno ${result.errno}` })
      )
    }
    for (const fd of result.fds) sockets.push({ fd, name })
  }
  return Either.right(sockets)
}

/**
 * Makes `server` accept connections on a socket launchd handed over;
 * completes once it listens.
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { SocketActivation } from "@duende/platform-launchd"
 * import { Effect } from "effect"
 * import { createServer } from "node:http"
 *
 * const daemon = Daemon.make({
 *   name: "web",
 *   init: (ctx) =>
 *     Effect.gen(function*() {
 *       const server = createServer((_, res) => res.end("hello\n"))
 *       const socket = ctx.listenSockets.find((s) => s.name === "http")
 *       if (socket) yield* SocketActivation.listen(server, socket)
 *       return server
 *     }),
 *   run: () => Effect.never
 * })
 * ```
 *
 * @since 0.1.0
 */
export const listen = (server: Server, socket: PlatformRuntime.ListenSocket): Effect.Effect<void, Error> =>
  Effect.async<void, Error>((resume) => {
    const onError = (error: Error) => {
      server.off("listening", onListening)
      resume(Effect.fail(error))
    }
    const onListening = () => {
      server.off("error", onError)
      resume(Effect.void)
    }
    server.once("error", onError)
    server.once("listening", onListening)
    server.listen({ fd: socket.fd })
    return Effect.sync(() => {
      server.off("error", onError)
      server.off("listening", onListening)
    })
  })
