/**
 * The log format of a daemon process: one line per entry on stderr,
 * `2026-01-01T00:00:00.000Z INFO  [name] message`, causes rendered below.
 * `DUENDE_LOG_LEVEL` (debug, info, warning, error) sets the minimum level.
 *
 * stdout and stderr never kill the daemon: when writing to them fails (EPIPE:
 * the native supervisor that read them died), what the daemon writes from then
 * on goes straight to its log file (`DUENDE_LOG_FILE`, set by the native
 * adapter) in the adapter's own line format, so logs keep flowing without the
 * supervisor in the path; without that variable it is dropped.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { constants, openSync, writeSync } from "node:fs"

const text = (value: unknown): string =>
  typeof value === "string" ? value : value instanceof Error ? (value.stack ?? value.message) : JSON.stringify(value) ?? String(value)

export const lineLogger = Logger.make(({ annotations, cause, date, logLevel, message }) => {
  const parts = Array.isArray(message) ? message : [message]
  const name = Option.getOrUndefined(HashMap.get(annotations, "daemon"))
  const body = parts.map(text).join(" ")
  const causeText = Cause.isEmpty(cause) ? "" : `\n${Cause.pretty(cause, { renderErrorCause: true })}`
  process.stderr.write(
    `${date.toISOString()} ${logLevel.label.padEnd(5)} ${name === undefined ? "" : `[${name}] `}${body}${causeText}\n`
  )
})

const levels: Record<string, LogLevel.LogLevel> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  none: LogLevel.None
}

type Write = NodeJS.WriteStream["write"]

/** From now on, `stream` writes lines to the log file itself (or nowhere). */
const redirect = (stream: NodeJS.WriteStream, tag: "out" | "err", file: string | undefined): void => {
  let fd = -1
  if (file !== undefined && file !== "") {
    try {
      fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640)
    } catch {
      // no log file to fall back to: drop
    }
  }
  let partial = ""
  const write = (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
    const text = partial + (typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString())
    const lines = text.split("\n")
    partial = lines.pop()!.slice(-64 * 1024)
    if (fd >= 0 && lines.length > 0) {
      const stamp = new Date().toISOString()
      try {
        writeSync(fd, lines.map((line) => `${stamp} ${tag} ${line}\n`).join(""))
      } catch {
        // a full disk must not kill the daemon either
      }
    }
    const done = typeof encoding === "function" ? encoding : callback
    if (typeof done === "function") process.nextTick(done as () => void)
    return true
  }
  stream.write = write as Write
}

let guarded = false

/** Makes a failing stdout/stderr harmless (see the module's comment). Once per process. */
export const guardStdio = (env: Readonly<Record<string, string | undefined>>): void => {
  if (guarded) return
  guarded = true
  for (const [stream, tag] of [[process.stdout, "out"], [process.stderr, "err"]] as const) {
    let moved = false
    stream.on("error", () => {
      if (moved) return
      moved = true
      redirect(stream, tag, env.DUENDE_LOG_FILE)
    })
  }
}

export const layer = (env: Readonly<Record<string, string | undefined>> = process.env): Layer.Layer<never> =>
  Layer.mergeAll(
    Layer.effectDiscard(Effect.sync(() => guardStdio(env))),
    Logger.replace(Logger.defaultLogger, lineLogger),
    Logger.minimumLogLevel(levels[(env.DUENDE_LOG_LEVEL ?? "info").toLowerCase()] ?? LogLevel.Info)
  )
