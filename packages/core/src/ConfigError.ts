/**
 * The error of a config that cannot be used: every bad field with what was
 * expected, or why the file could not be read.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import { displayLine } from "./internal/displayText.js"

/**
 * One bad field: its path (`restart.backoff.multiplier`, `command.args[1]`) and
 * what is wrong with it.
 *
 * @since 0.1.0
 */
export interface ConfigProblem {
  readonly path: string
  readonly message: string
}

/**
 * A config was rejected. `source` is the file (or "config"); `problems` lists
 * every bad field. `message` is the text to show a user: no stack trace needed.
 *
 * @example
 * ```ts
 * import { ConfigError, DaemonConfig } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const program = DaemonConfig.decode({ name: "Bad Name", command: [] }).pipe(
 *   Effect.catchTag("ConfigError", (error) => Effect.logError(error.message))
 * )
 * ```
 *
 * @since 0.1.0
 */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly source: string
  readonly problems: ReadonlyArray<ConfigProblem>
}> {
  override get message(): string {
    // Values from a config can hold anything; none may reach a terminal as a control sequence or a forged line.
    const lines = this.problems.map((problem) =>
      problem.path === ""
        ? `  - ${displayLine(problem.message)}`
        : `  - ${displayLine(problem.path)}: ${displayLine(problem.message)}`
    )
    return `Invalid daemon config (${displayLine(this.source)}):\n${lines.join("\n")}`
  }
}
