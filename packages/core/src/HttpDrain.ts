/**
 * A `node:http` (or `https`) server that listens where the manager says and
 * drains right when the daemon stops — one line in `init`.
 *
 * - **Where**: on the listen socket the manager holds for the daemon
 *   (`ctx.listenSockets`, by name: a config's `listen` natively, a `.socket`
 *   unit under systemd), so restarts refuse no connection; else on
 *   `host:port`.
 * - **Draining** when the scope closes (the daemon's shutdown): it stops
 *   accepting at once; responses still to be written carry
 *   `Connection: close`, so keep-alive clients go elsewhere after their
 *   answer instead of holding the process; a connection idle for `idleGrace`
 *   (default 1 s) is closed — not at once: a client may be sending its next
 *   request on it right now, and closing under it is the ECONNRESET of the
 *   keep-alive race; what is still open at `drainTimeout` is closed by force
 *   (`closeAllConnections`). A busy keep-alive client can no longer keep a
 *   daemon from exiting until its SIGKILL.
 *
 * The drain's deadline is Effect's `Clock`; connections' idle times are the wall clock's.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import { Server as NetServer, type Socket } from "node:net"
import type { ListenSocket } from "./PlatformRuntime.js"

/**
 * Options of {@link serve}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The held socket to take, by name (default: the first one, if any). */
  readonly socket?: string
  /** Without a held socket: where to listen (default 127.0.0.1). */
  readonly host?: string
  readonly port?: number
  /** How long in-flight requests may take once draining starts (default 5 seconds); keep it under shutdownTimeout. */
  readonly drainTimeout?: Duration.DurationInput
  /** How long a connection must have been idle to be closed while draining (default 1 second). */
  readonly idleGrace?: Duration.DurationInput
}

/**
 * Where the server listens: "fd 3 (http)" or "127.0.0.1:8080".
 *
 * @since 0.1.0
 */
export interface Listening {
  readonly server: Server
  readonly address: string
}

/**
 * Listens (on a held socket when there is one) and drains when the scope closes.
 *
 * @example
 * ```ts
 * import { Daemon, HttpDrain } from "@duende/core"
 * import { Effect } from "effect"
 * import { createServer } from "node:http"
 *
 * const daemon = Daemon.make({
 *   name: "web",
 *   init: (ctx) => HttpDrain.serve(createServer((_, res) => res.end("ok\n")), ctx, { port: 8080 }),
 *   run: () => Effect.never
 * })
 * ```
 *
 * @since 0.1.0
 */
export const serve = (
  server: Server,
  ctx: { readonly listenSockets: ReadonlyArray<ListenSocket> },
  options: Options = {}
): Effect.Effect<Listening, Error, Scope.Scope> => {
  const held = options.socket === undefined
    ? ctx.listenSockets[0]
    : ctx.listenSockets.find((socket) => socket.name === options.socket)
  const host = options.host ?? "127.0.0.1"
  const drainMs = Duration.toMillis(Duration.decode(options.drainTimeout ?? Duration.seconds(5)))
  const idleMs = Duration.toMillis(Duration.decode(options.idleGrace ?? Duration.seconds(1)))
  let draining = false
  /** Each open connection: requests in flight on it, and when it last did something (epoch ms). */
  const connections = new Map<Socket, { inFlight: number; since: number }>()
  const onConnection = (socket: Socket) => {
    connections.set(socket, { inFlight: 0, since: Date.now() })
    socket.once("close", () => connections.delete(socket))
  }
  const markClose = (request: IncomingMessage, response: ServerResponse) => {
    if (draining && !response.headersSent) response.setHeader("connection", "close")
    const tracked = connections.get(request.socket)
    if (tracked === undefined) return
    tracked.inFlight++
    response.once("close", () => {
      tracked.inFlight--
      tracked.since = Date.now()
    })
  }
  // Connections' idle times are the wall clock's: the server's events come from outside any fiber.
  const closeIdle = Effect.sync(() => {
    const now = Date.now()
    for (const [socket, tracked] of connections) {
      if (tracked.inFlight === 0 && now - tracked.since >= idleMs) socket.destroy()
    }
  })
  const listen = Effect.async<Listening, Error>((resume) => {
    const onError = (error: Error) => resume(Effect.fail(error))
    server.once("error", onError)
    const onListening = () => {
      server.off("error", onError)
      server.prependListener("request", markClose)
      server.on("connection", onConnection)
      resume(Effect.succeed({
        server,
        address: held !== undefined ? `fd ${held.fd} (${held.name})` : `${host}:${options.port ?? 0}`
      }))
    }
    if (held !== undefined) server.listen({ fd: held.fd }, onListening)
    else server.listen(options.port ?? 0, host, onListening)
  })
  const drain = Effect.gen(function*() {
    draining = true
    const closed = Effect.async<void>((resume) => {
      if (!server.listening) return resume(Effect.void)
      // net.Server's close: it stops accepting and waits for the connections. http.Server's would
      // also close every idle connection at once — under a client about to send on it (ECONNRESET).
      NetServer.prototype.close.call(server, () => resume(Effect.void))
    })
    const idle = Effect.repeat(closeIdle, Schedule.spaced(Duration.millis(50)))
    const force = Effect.zipRight(Effect.sleep(Duration.millis(drainMs)), Effect.sync(() => server.closeAllConnections()))
    // A release runs uninterruptibly: the loops must be made interruptible, or the race never ends.
    yield* Effect.raceFirst(closed, Effect.interruptible(Effect.zipRight(Effect.race(idle, force), Effect.never))).pipe(
      Effect.zipRight(Effect.sync(() => {
        server.off("request", markClose)
        server.off("connection", onConnection)
      }))
    )
  })
  return Effect.acquireRelease(listen, () => drain)
}
