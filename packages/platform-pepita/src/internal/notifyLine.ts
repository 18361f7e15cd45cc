/**
 * One line of the native notify protocol (`KEY=VALUE`, as a Duende daemon
 * writes it to the fd named by DUENDE_NOTIFY_FD), read by core's own decoder
 * and turned into the `Status` event the agent forwards to the host. Lines
 * that are not part of the protocol are undefined and ignored, as the native
 * supervisor ignores them; `EXTEND_TIMEOUT_USEC` has no frame and is ignored
 * too. Text is cut to 2 KiB, the most a frame's text carries.
 *
 * @internal
 */
import * as NotifyProtocol from "@duende/core/NotifyProtocol"
import type { StatusEvent } from "../Frame.js"

export const parse = (line: string): StatusEvent | undefined => {
  const message = NotifyProtocol.decode(line)
  switch (message?._tag) {
    case undefined:
    case "ExtendTimeout":
      return undefined
    case "Status":
      return { _tag: "StatusText", text: message.text.slice(0, 2048) }
    case "Health":
      return { ...message, summary: message.summary.slice(0, 2048) }
    default:
      return message
  }
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
