/**
 * The daemon side of the native supervisor's notify channel (see notifyProtocol.ts).
 * Writes go through a non-blocking socket on the inherited fd, so a stalled
 * supervisor can never block the daemon's event loop.
 *
 * When that pipe breaks (the supervisor died, even by SIGKILL), the daemon
 * keeps running and, if its supervisor named one (`DUENDE_NOTIFY_SOCKET`),
 * connects to the supervisor's notify socket once a second until one answers:
 * the next supervisor, which took the daemon over. It introduces itself by its
 * `DUENDE_DAEMON_ID` and says again what it had said (ready, its status text,
 * its health), so the new supervisor knows what the dead one knew.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { fstatSync } from "node:fs"
import { connect, Socket } from "node:net"
import type { PlatformRuntime } from "../PlatformRuntime.js"
import { encode, encodeDaemon, type NotifyMessage, notifySocketVariable } from "./notifyProtocol.js"

/** Whether an fd is a pipe or socket we may write notifications to. */
export const isNotifyFd = (fd: number): boolean => {
  try {
    const stat = fstatSync(fd)
    return stat.isFIFO() || stat.isSocket()
  } catch {
    return false
  }
}

/** How often a daemon whose pipe broke tries the supervisor's notify socket. */
const reconnectMs = 1_000

export const make = (fd: number, base: PlatformRuntime): Effect.Effect<PlatformRuntime> =>
  Effect.sync(() => {
    const socketPath = process.env[notifySocketVariable]
    const daemonId = process.env.DUENDE_DAEMON_ID
    // Not for this daemon's own children.
    delete process.env[notifySocketVariable]
    // What the daemon has said, to say again to a supervisor that takes it over.
    let ready = false
    let stopping = false
    let statusText: string | undefined
    let health: NotifyMessage | undefined
    let channel: Socket | undefined
    const open = (socket: Socket) => {
      // The supervisor may be gone (EPIPE): the daemon keeps running regardless.
      socket.on("error", () => undefined)
      socket.once("close", () => {
        if (channel === socket) {
          channel = undefined
          retry()
        }
      })
      socket.unref()
      channel = socket
    }
    let timer: NodeJS.Timeout | undefined
    const retry = () => {
      if (socketPath === undefined || daemonId === undefined || stopping || timer !== undefined) return
      timer = setTimeout(() => {
        timer = undefined
        const socket = connect(socketPath)
        socket.on("error", () => {
          socket.destroy()
          if (channel === undefined) retry()
        })
        socket.once("connect", () => {
          open(socket)
          socket.write(encode({ _tag: "Hello" }) + encodeDaemon(daemonId))
          if (ready) socket.write(encode({ _tag: "Ready" }))
          if (statusText !== undefined) socket.write(encode({ _tag: "Status", text: statusText }))
          if (health !== undefined) socket.write(encode(health))
        })
        socket.unref()
      }, reconnectMs)
      timer.unref()
    }
    const send = (message: NotifyMessage) =>
      Effect.sync(() => {
        if (message._tag === "Ready") ready = true
        if (message._tag === "Stopping") stopping = true
        if (message._tag === "Status") statusText = message.text
        if (message._tag === "Health") health = message
        if (channel !== undefined && !channel.destroyed && channel.writable) channel.write(encode(message))
      })
    // A socket pair (what the supervisor's spawn makes) is read too, only to notice its end at once.
    const readable = (() => {
      try {
        return fstatSync(fd).isSocket()
      } catch {
        return false
      }
    })()
    const pipe = new Socket({ fd, readable, writable: true })
    open(pipe)
    if (readable) {
      pipe.on("data", () => undefined)
      pipe.once("end", () => pipe.destroy())
    }
    pipe.write(encode({ _tag: "Hello" }))
    return {
      ...base,
      platform: "native",
      ready: send({ _tag: "Ready" }),
      reloading: send({ _tag: "Reloading" }),
      stopping: send({ _tag: "Stopping" }),
      status: (text) => send({ _tag: "Status", text }),
      health: (report) =>
        send({
          _tag: "Health",
          state: report.state,
          consecutiveFailures: report.consecutiveFailures,
          summary: report.status.healthy
            ? "healthy"
            : report.status.checks.filter((c) => !c.passed).map((c) => c.message ? `${c.name}: ${c.message}` : c.name)
              .join("; ")
        }),
      extendTimeout: (duration) => send({ _tag: "ExtendTimeout", micros: Duration.toMillis(duration) * 1000 }),
      watchdogPing: send({ _tag: "Watchdog" })
    }
  })
