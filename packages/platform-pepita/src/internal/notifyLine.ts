/**
 * One line of the native notify protocol (`KEY=VALUE`, as a Duende daemon
 * writes it to the fd named by DUENDE_NOTIFY_FD: see core's notify pipe) read
 * as the `Status` event the agent forwards to the host. Lines that are not
 * part of the protocol are undefined and ignored, as the native supervisor
 * ignores them.
 *
 * @internal
 */
import type { StatusEvent } from "../Frame.js"

export const parse = (line: string): StatusEvent | undefined => {
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
      return { _tag: "StatusText", text: value.slice(0, 2048) }
    case "HEALTH": {
      const match = /^(starting|healthy|unhealthy) (\d+) ?(.*)$/.exec(value)
      return match === null ? undefined : {
        _tag: "Health",
        state: match[1] as "starting" | "healthy" | "unhealthy",
        consecutiveFailures: Number(match[2]),
        summary: match[3]!.slice(0, 2048)
      }
    }
  }
  return undefined
}

/** Splits a byte stream into lines (no terminator), a line over `max` characters cut into pieces. */
export const lineSplitter = (emit: (line: string) => void, max = 16 * 1024) => {
  let rest = ""
  return {
    push: (text: string) => {
      rest += text
      let newline: number
      while ((newline = rest.indexOf("\n")) >= 0) {
        emit(rest.slice(0, newline).replace(/\r$/, ""))
        rest = rest.slice(newline + 1)
      }
      while (rest.length > max) {
        emit(rest.slice(0, max))
        rest = rest.slice(max)
      }
    },
    flush: () => {
      if (rest.length > 0) emit(rest)
      rest = ""
    }
  }
}
