/**
 * Why a daemon process ended, and the exit code that tells its manager.
 *
 * | code | reason | meaning |
 * |---|---|---|
 * | 0 | `Graceful` | run finished by itself; shutdown completed |
 * | 1 | `Error` | run (or shutdown) failed; shutdown was still attempted |
 * | 3 | `InitFailed` | init failed or did not finish within `initTimeout` |
 * | 4 | `ForcedByDeadline` | shutdown did not finish within `shutdownTimeout` |
 * | 5 | `ForcedBySignal` | a second SIGTERM/SIGINT arrived during shutdown |
 * | 6 | `AlreadyRunning` | the PID file is held by a live process |
 * | 78 | `ConfigInvalid` | the config was rejected (EX_CONFIG) |
 * | 130 | `Signal` (SIGINT) | stopped by SIGINT; shutdown completed |
 * | 143 | `Signal` (SIGTERM) | stopped by SIGTERM; shutdown completed |
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Signal from "./Signal.js"

/**
 * Why a daemon ended.
 *
 * @since 0.1.0
 */
export type ExitReason = Data.TaggedEnum<{
  Graceful: {}
  Signal: { readonly signal: Signal.Signal }
  Error: { readonly message: string }
  InitFailed: { readonly message: string }
  ForcedByDeadline: { readonly phase: string; readonly timeoutMs: number }
  ForcedBySignal: { readonly signal: Signal.Signal }
  AlreadyRunning: { readonly pid: number; readonly pidFile: string }
  ConfigInvalid: { readonly message: string }
}>

const {
  $is,
  $match,
  AlreadyRunning,
  ConfigInvalid,
  Error,
  ForcedByDeadline,
  ForcedBySignal,
  Graceful,
  InitFailed,
  Signal: BySignal
} = Data.taggedEnum<ExitReason>()

export {
  /**
   * Narrows a reason by tag.
   *
   * @since 0.1.0
   */
  $is,
  /**
   * Exhaustive match on a reason.
   *
   * @since 0.1.0
   */
  $match,
  /** @since 0.1.0 */
  AlreadyRunning,
  /** @since 0.1.0 */
  BySignal,
  /** @since 0.1.0 */
  ConfigInvalid,
  /** @since 0.1.0 */
  Error,
  /** @since 0.1.0 */
  ForcedByDeadline,
  /** @since 0.1.0 */
  ForcedBySignal,
  /** @since 0.1.0 */
  Graceful,
  /** @since 0.1.0 */
  InitFailed
}

/**
 * The documented exit codes by name.
 *
 * @since 0.1.0
 */
export const codes = {
  graceful: 0,
  error: 1,
  initFailed: 3,
  forcedByDeadline: 4,
  forcedBySignal: 5,
  alreadyRunning: 6,
  configInvalid: 78
} as const

/**
 * The exit code for a reason (see the module's table).
 *
 * @example
 * ```ts
 * import { ExitReason } from "@duende/core"
 *
 * ExitReason.exitCode(ExitReason.BySignal({ signal: "SIGTERM" })) // 143
 * ExitReason.exitCode(ExitReason.InitFailed({ message: "db down" })) // 3
 * ```
 *
 * @since 0.1.0
 */
export const exitCode: (reason: ExitReason) => number = $match({
  Graceful: () => codes.graceful,
  Signal: ({ signal }) => Signal.exitStatus(signal),
  Error: () => codes.error,
  InitFailed: () => codes.initFailed,
  ForcedByDeadline: () => codes.forcedByDeadline,
  ForcedBySignal: () => codes.forcedBySignal,
  AlreadyRunning: () => codes.alreadyRunning,
  ConfigInvalid: () => codes.configInvalid
})

/**
 * One line for logs and status output.
 *
 * @example
 * ```ts
 * import { ExitReason } from "@duende/core"
 *
 * ExitReason.describe(ExitReason.ForcedByDeadline({ phase: "shutdown", timeoutMs: 10000 }))
 * // "forced exit: shutdown did not finish within 10000ms"
 * ```
 *
 * @since 0.1.0
 */
export const describe: (reason: ExitReason) => string = $match({
  Graceful: () => "finished gracefully",
  Signal: ({ signal }) => `stopped by ${signal}, shutdown completed`,
  Error: ({ message }) => `failed: ${message}`,
  InitFailed: ({ message }) => `init failed: ${message}`,
  ForcedByDeadline: ({ phase, timeoutMs }) => `forced exit: ${phase} did not finish within ${timeoutMs}ms`,
  ForcedBySignal: ({ signal }) => `forced exit: second ${signal} during shutdown`,
  AlreadyRunning: ({ pid, pidFile }) => `already running as pid ${pid} (${pidFile})`,
  ConfigInvalid: ({ message }) => message
})

/**
 * What a manager can tell from a Duende daemon's exit code (or a signal that
 * killed it), for status output: `describeExit(4)` → "forced: shutdown deadline".
 *
 * @example
 * ```ts
 * import { ExitReason } from "@duende/core"
 *
 * ExitReason.describeExit(143) // "stopped by SIGTERM"
 * ExitReason.describeExit(null, "SIGKILL") // "killed by SIGKILL"
 * ```
 *
 * @since 0.1.0
 */
export const describeExit = (code: number | null, signal?: Signal.Signal | null): string => {
  if (code === null) return signal ? `killed by ${signal}` : "ended"
  switch (code) {
    case codes.graceful:
      return "exited gracefully"
    case codes.error:
      return "failed (exit 1)"
    case codes.initFailed:
      return "init failed (exit 3)"
    case codes.forcedByDeadline:
      return "forced: shutdown deadline (exit 4)"
    case codes.forcedBySignal:
      return "forced: second signal (exit 5)"
    case codes.alreadyRunning:
      return "already running (exit 6)"
    case codes.configInvalid:
      return "config invalid (exit 78)"
  }
  const bySignal = code > 128 ? Signal.fromNumber(code - 128) : undefined
  return bySignal ? `stopped by ${bySignal}` : `exited with ${code}`
}
