/**
 * Logging that journald understands. When systemd connects stderr to the
 * journal it says so in `JOURNAL_STREAM` (`<device>:<inode>` of that stream);
 * each line may then start with a syslog priority, `<3>` for errors, `<4>` for
 * warnings, `<6>` for info, `<7>` for debug, which journald stores as the
 * entry's PRIORITY (so `journalctl -p warning` works) and strips from the
 * text. journald stamps each entry, so the line carries no time.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as HashMap from "effect/HashMap"
import * as HashSet from "effect/HashSet"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { fstatSync } from "node:fs"

/**
 * Whether file descriptor `fd` (stderr by default) is the stream named by
 * `JOURNAL_STREAM`, i.e. its lines go to the journal. Comparing the device
 * and inode keeps a redirected stderr (`2>file`) from being mistaken for it.
 *
 * @example
 * ```ts
 * import { JournalLogger } from "@duende/platform-systemd"
 *
 * if (JournalLogger.isJournalStream()) console.error("<4>this is a warning in the journal")
 * ```
 *
 * @since 0.1.0
 */
export const isJournalStream = (env: Readonly<Record<string, string | undefined>> = process.env, fd = 2): boolean => {
  const match = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? "")
  if (match === null) return false
  try {
    const stat = fstatSync(fd, { bigint: true })
    return stat.dev === BigInt(match[1]!) && stat.ino === BigInt(match[2]!)
  } catch {
    return false
  }
}

/**
 * The syslog priority journald stores for an Effect log level.
 *
 * @example
 * ```ts
 * import { JournalLogger } from "@duende/platform-systemd"
 * import * as LogLevel from "effect/LogLevel"
 *
 * JournalLogger.priority(LogLevel.Warning) // 4
 * ```
 *
 * @since 0.1.0
 */
export const priority = (level: LogLevel.LogLevel): number => {
  switch (level._tag) {
    case "Fatal":
      return 2
    case "Error":
      return 3
    case "Warning":
      return 4
    case "Info":
      return 6
    default:
      return 7
  }
}

const text = (value: unknown): string =>
  typeof value === "string"
    ? value
    : value instanceof Error
    ? (value.stack ?? value.message)
    : JSON.stringify(value) ?? String(value)

/**
 * Formats one log entry as journal lines: every line carries the priority
 * prefix (journald makes each line an entry of its own), so a multi-line
 * cause stays at the error's priority.
 *
 * @example
 * ```ts
 * import { JournalLogger } from "@duende/platform-systemd"
 * import * as LogLevel from "effect/LogLevel"
 *
 * JournalLogger.format(LogLevel.Error, "api", "lost the database\nretrying")
 * // "<3>[api] lost the database\n<3>retrying\n"
 * ```
 *
 * @since 0.1.0
 */
export const format = (level: LogLevel.LogLevel, name: string | undefined, body: string): string => {
  const prefix = `<${priority(level)}>`
  const lines = `${name === undefined ? "" : `[${name}] `}${body}`.split("\n")
  return `${lines.map((line) => prefix + line).join("\n")}\n`
}

/**
 * The logger: one entry per line on stderr with its priority prefix and the
 * daemon's name (the `daemon` log annotation core sets).
 *
 * @example
 * ```ts
 * import { JournalLogger } from "@duende/platform-systemd"
 * import { Effect, Logger } from "effect"
 *
 * Effect.logWarning("disk almost full").pipe(Effect.provide(Logger.replace(Logger.defaultLogger, JournalLogger.logger)))
 * ```
 *
 * @since 0.1.0
 */
export const logger: Logger.Logger<unknown, void> = Logger.make(({ annotations, cause, logLevel, message }) => {
  const parts = Array.isArray(message) ? message : [message]
  const name = Option.getOrUndefined(HashMap.get(annotations, "daemon"))
  const causeText = Cause.isEmpty(cause) ? "" : `\n${Cause.pretty(cause, { renderErrorCause: true })}`
  const body = parts.map(text).join(" ") + causeText
  process.stderr.write(format(logLevel, name === undefined ? undefined : String(name), body))
})

/**
 * Makes {@link logger} the only line logger when stderr is the journal (see
 * {@link isJournalStream}); otherwise changes nothing. The minimum log level
 * in force is kept.
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { JournalLogger, SystemdRuntime } from "@duende/platform-systemd"
 * import { Effect, Layer } from "effect"
 *
 * const daemon = Daemon.make({ name: "api", run: () => Effect.never })
 * Daemon.runMain(daemon, { platform: Layer.merge(SystemdRuntime.layer, JournalLogger.layer) })
 * ```
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<never> = Layer.unwrapEffect(
  Effect.sync(() =>
    isJournalStream()
      ? Layer.scopedDiscard(
        Effect.locallyScopedWith(
          FiberRef.currentLoggers,
          // Every line logger goes (core's included); the tracer's span events stay.
          (loggers) => HashSet.add(HashSet.filter(loggers, (l) => l === Logger.tracerLogger), logger)
        )
      )
      : Layer.empty
  )
)
