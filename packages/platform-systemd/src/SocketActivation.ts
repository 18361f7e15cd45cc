/**
 * Socket activation: systemd opens the listen sockets of a `.socket` unit and
 * hands them to the daemon as file descriptors from 3 on, described by
 * `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`. {@link fromEnvironment}
 * reads them as core's `ListenSocket`s (what `ctx.listenSockets` holds), and
 * {@link listen} puts a Node server on one.
 *
 * @since 0.1.0
 */
import { PlatformRuntime } from "@duende/core"
import * as Effect from "effect/Effect"
import type { Server } from "node:net"

/**
 * The first file descriptor systemd passes (`SD_LISTEN_FDS_START`).
 *
 * @example
 * ```ts
 * import { SocketActivation } from "@duende/platform-systemd"
 *
 * const second = SocketActivation.firstFd + 1 // 4
 * ```
 *
 * @since 0.1.0
 */
export const firstFd = 3

/**
 * The listen sockets systemd passed to process `pid`, in order, with their
 * names (`FileDescriptorName=`, "unknown" when unnamed). Empty when the
 * variables are absent, malformed, or meant for another process (LISTEN_PID
 * differs: the variables were inherited from a parent).
 *
 * @example
 * ```ts
 * import { SocketActivation } from "@duende/platform-systemd"
 *
 * SocketActivation.fromEnvironment({ LISTEN_PID: "42", LISTEN_FDS: "2", LISTEN_FDNAMES: "http:admin" }, 42)
 * // [{ fd: 3, name: "http" }, { fd: 4, name: "admin" }]
 * ```
 *
 * @since 0.1.0
 */
export const fromEnvironment = (
  env: Readonly<Record<string, string | undefined>> = process.env,
  pid: number = process.pid
): ReadonlyArray<PlatformRuntime.ListenSocket> => PlatformRuntime.listenSocketsFromEnvironment(env, pid)

/**
 * Makes `server` accept connections on a socket systemd passed; completes
 * once it listens, fails when the fd is not a usable listen socket.
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { SocketActivation } from "@duende/platform-systemd"
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
