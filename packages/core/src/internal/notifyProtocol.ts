/**
 * The native readiness protocol between Duende's supervisor and a daemon, in
 * the spirit of sd_notify and s6: the supervisor passes the write end of a
 * pipe as an inherited fd named by DUENDE_NOTIFY_FD; the daemon writes one
 * `KEY=VALUE` line per message.
 *
 * Keys: DUENDE=1 (hello: this process speaks the protocol), READY=1,
 * RELOADING=1, STOPPING=1, STATUS=<text>, WATCHDOG=1, EXTEND_TIMEOUT_USEC=<n>,
 * HEALTH=<state> <consecutive failures> <summary>.
 *
 * @internal
 */

/** The environment variable naming the notify fd. */
export const notifyFdVariable = "DUENDE_NOTIFY_FD"

/** The environment variable naming the supervisor's notify socket, where a daemon whose pipe broke reconnects. */
export const notifySocketVariable = "DUENDE_NOTIFY_SOCKET"

/** The line by which a daemon that reconnects names itself (its DUENDE_DAEMON_ID). */
export const encodeDaemon = (id: string): string => `DAEMON=${id.replace(/[\u0000-\u001f\u007f]+/g, "")}\n`

/** The daemon id a reconnecting daemon names, if `line` is that line. */
export const decodeDaemon = (line: string): string | undefined => (line.startsWith("DAEMON=") ? line.slice("DAEMON=".length) : undefined)

/** The environment variable carrying the daemon's config from the supervisor (see handoff.ts). */
export const configVariable = "DUENDE_DAEMON_CONFIG"

export type NotifyMessage =
  | { readonly _tag: "Hello" }
  | { readonly _tag: "Ready" }
  | { readonly _tag: "Reloading" }
  | { readonly _tag: "Stopping" }
  | { readonly _tag: "Status"; readonly text: string }
  | { readonly _tag: "Watchdog" }
  | { readonly _tag: "ExtendTimeout"; readonly micros: number }
  | {
    readonly _tag: "Health"
    readonly state: "starting" | "healthy" | "unhealthy"
    readonly consecutiveFailures: number
    readonly summary: string
  }

/** One line of text: control characters become spaces so a value can never start a new message. */
const oneLine = (text: string): string => text.replace(/[\u0000-\u001f\u007f]+/g, " ").slice(0, 2048)

export const encode = (message: NotifyMessage): string => {
  switch (message._tag) {
    case "Hello":
      return "DUENDE=1\n"
    case "Ready":
      return "READY=1\n"
    case "Reloading":
      return "RELOADING=1\n"
    case "Stopping":
      return "STOPPING=1\n"
    case "Watchdog":
      return "WATCHDOG=1\n"
    case "Status":
      return `STATUS=${oneLine(message.text)}\n`
    case "ExtendTimeout":
      return `EXTEND_TIMEOUT_USEC=${Math.max(0, Math.round(message.micros))}\n`
    case "Health":
      return `HEALTH=${message.state} ${message.consecutiveFailures} ${oneLine(message.summary)}\n`
  }
}

/** Reads one line; unknown or malformed lines are undefined (and ignored by the supervisor). */
export const decode = (line: string): NotifyMessage | undefined => {
  const equals = line.indexOf("=")
  if (equals <= 0) return undefined
  const key = line.slice(0, equals)
  const value = line.slice(equals + 1)
  switch (key) {
    case "DUENDE":
      return { _tag: "Hello" }
    case "READY":
      return value === "1" ? { _tag: "Ready" } : undefined
    case "RELOADING":
      return value === "1" ? { _tag: "Reloading" } : undefined
    case "STOPPING":
      return value === "1" ? { _tag: "Stopping" } : undefined
    case "WATCHDOG":
      return value === "1" ? { _tag: "Watchdog" } : undefined
    case "STATUS":
      return { _tag: "Status", text: value }
    case "EXTEND_TIMEOUT_USEC": {
      const micros = Number(value)
      return /^\d+$/.test(value) && Number.isSafeInteger(micros) ? { _tag: "ExtendTimeout", micros } : undefined
    }
    case "HEALTH": {
      const match = /^(starting|healthy|unhealthy) (\d+) ?(.*)$/.exec(value)
      return match
        ? {
          _tag: "Health",
          state: match[1] as "starting" | "healthy" | "unhealthy",
          consecutiveFailures: Number(match[2]),
          summary: match[3]!
        }
        : undefined
    }
  }
  return undefined
}
