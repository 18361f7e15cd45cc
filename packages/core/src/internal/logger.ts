/**
 * The log format of a daemon process: one line per entry on stderr,
 * `2026-01-01T00:00:00.000Z INFO  [name] message`, causes rendered below.
 * `DUENDE_LOG_LEVEL` (debug, info, warning, error) sets the minimum level.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"

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

export const layer = (env: Readonly<Record<string, string | undefined>> = process.env): Layer.Layer<never> =>
  Layer.merge(
    Logger.replace(Logger.defaultLogger, lineLogger),
    Logger.minimumLogLevel(levels[(env.DUENDE_LOG_LEVEL ?? "info").toLowerCase()] ?? LogLevel.Info)
  )
