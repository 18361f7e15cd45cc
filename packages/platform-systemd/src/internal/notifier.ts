/**
 * Sends sd_notify datagrams to `$NOTIFY_SOCKET` from this process (so that
 * `NotifyAccess=main` accepts them): through an AF_UNIX datagram socket opened
 * with koffi, or, when koffi cannot be loaded, by running `systemd-notify`
 * (racy and sent from another pid: a fallback, announced with a warning).
 * A notification never fails the daemon; transport errors are logged once
 * per kind.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { execFile } from "node:child_process"
import { EAGAIN, EINTR, libc, MSG_DONTWAIT, MSG_NOSIGNAL, SOCK_CLOEXEC, SOCK_DGRAM, unixAddress, AF_UNIX } from "./libc.js"

/** How notifications travel. */
export type Transport = "socket" | "systemd-notify" | "none"

export interface Notifier {
  readonly transport: Transport
  /** Sends one datagram with these assignments. */
  readonly send: (fields: ReadonlyArray<readonly [string, string]>) => Effect.Effect<void>
}

const keyPattern = /^[A-Z][A-Z0-9_]*$/

/**
 * The datagram for some assignments: `KEY=value` lines. A value can never add
 * an assignment: newlines (and NULs, which end C strings) become spaces.
 */
export const encode = (fields: ReadonlyArray<readonly [string, string]>): string =>
  fields
    .filter(([key]) => keyPattern.test(key))
    .map(([key, value]) => `${key}=${value.replace(/[\n\0]/g, " ")}`)
    .join("\n")

const none: Notifier = { transport: "none", send: () => Effect.void }

const warnOnce = () => {
  const seen = new Set<string>()
  return (kind: string, message: string) =>
    Effect.suspend(() => {
      if (seen.has(kind)) return Effect.void
      seen.add(kind)
      return Effect.logWarning(message)
    })
}

export interface NotifierOptions {
  /** The value of `$NOTIFY_SOCKET`. */
  readonly address: string | undefined
  /** This process's pid (for the systemd-notify fallback). */
  readonly pid: number
  /** "auto": the socket through koffi, else systemd-notify. */
  readonly transport: "auto" | "socket" | "systemd-notify"
}

export const make = (options: NotifierOptions): Effect.Effect<Notifier, never, Scope.Scope> =>
  Effect.gen(function*() {
    const target = options.address
    if (target === undefined || target === "") return none
    const address = unixAddress(target)
    if (typeof address === "string") {
      return yield* Effect.as(Effect.logWarning(`${address}: systemd will not hear from this daemon`), none)
    }
    const warn = warnOnce()
    if (options.transport !== "systemd-notify") {
      const lib = libc()
      if (typeof lib !== "string") return yield* socketNotifier(lib, address, warn)
      if (options.transport === "socket") {
        return yield* Effect.as(Effect.logWarning(`sd_notify unavailable: ${lib}`), none)
      }
      yield* Effect.logWarning(
        `sd_notify through koffi is unavailable (${lib}): falling back to systemd-notify, which sends from its own pid; the unit needs NotifyAccess=all`
      )
    }
    return systemdNotify(target, options.pid, warn)
  })

const socketNotifier = (
  lib: Exclude<ReturnType<typeof libc>, string>,
  address: Buffer,
  warn: ReturnType<typeof warnOnce>
): Effect.Effect<Notifier, never, Scope.Scope> =>
  Effect.gen(function*() {
    const fd = yield* Effect.acquireRelease(
      Effect.sync(() => lib.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)),
      (fd) => Effect.sync(() => void (fd >= 0 && lib.close(fd)))
    )
    if (fd < 0) {
      const errno = lib.errno()
      return yield* Effect.as(Effect.logWarning(`sd_notify: socket() failed (errno ${errno})`), none)
    }
    const sendOnce = (datagram: Buffer) =>
      Effect.suspend(() => {
        // Never block the event loop: a full queue (EAGAIN) is retried on a timer.
        const sent = lib.sendto(fd, datagram, datagram.length, MSG_DONTWAIT | MSG_NOSIGNAL, address, address.length)
        return sent >= 0 ? Effect.void : Effect.fail(lib.errno())
      })
    return {
      transport: "socket" as const,
      send: (fields) =>
        Effect.suspend(() => {
          const datagram = Buffer.from(encode(fields), "utf8")
          return sendOnce(datagram).pipe(
            Effect.retry({
              while: (errno) => errno === EAGAIN || errno === EINTR,
              schedule: Schedule.intersect(Schedule.spaced(Duration.millis(10)), Schedule.recurs(200))
            }),
            Effect.catchAll((errno) =>
              warn(`errno ${errno}`, `sd_notify: sendto failed (errno ${errno}); systemd may not hear this daemon`)
            )
          )
        })
    }
  })

const systemdNotify = (address: string, pid: number, warn: ReturnType<typeof warnOnce>): Notifier => ({
  transport: "systemd-notify",
  send: (fields) =>
    Effect.async<void>((resume) => {
      const args = [`--pid=${pid}`, ...encode(fields).split("\n")]
      const child = execFile(
        "systemd-notify",
        args,
        { env: { ...process.env, NOTIFY_SOCKET: address }, timeout: 10_000 },
        (error, _stdout, stderr) => {
          resume(
            error === null ? Effect.void : warn(
              String(error.code ?? "failed"),
              `systemd-notify ${args.join(" ")} failed: ${stderr.trim() || error.message}`
            )
          )
        }
      )
      return Effect.sync(() => void child.kill())
    })
})
