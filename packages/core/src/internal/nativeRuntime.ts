/**
 * The daemon side of the native supervisor's notify pipe (see notifyProtocol.ts).
 * Writes go through a non-blocking socket on the inherited fd, so a stalled
 * supervisor can never block the daemon's event loop.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { fstatSync } from "node:fs"
import { Socket } from "node:net"
import type { PlatformRuntime } from "../PlatformRuntime.js"
import { encode, type NotifyMessage } from "./notifyProtocol.js"

/** Whether an fd is a pipe or socket we may write notifications to. */
export const isNotifyFd = (fd: number): boolean => {
  try {
    const stat = fstatSync(fd)
    return stat.isFIFO() || stat.isSocket()
  } catch {
    return false
  }
}

export const make = (fd: number, base: PlatformRuntime): Effect.Effect<PlatformRuntime> =>
  Effect.sync(() => {
    const socket = new Socket({ fd, readable: false, writable: true })
    // The supervisor may be gone (EPIPE): the daemon keeps running regardless.
    socket.on("error", () => undefined)
    socket.unref()
    const send = (message: NotifyMessage) =>
      Effect.sync(() => {
        if (!socket.destroyed && socket.writable) socket.write(encode(message))
      })
    socket.write(encode({ _tag: "Hello" }))
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
