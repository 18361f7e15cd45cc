/**
 * The ways sampling a process can fail.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * The process does not exist (it exited, or was never there).
 *
 * @example
 * ```ts
 * import { ProcessSampler } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const rss = (pid: number) =>
 *   Effect.flatMap(ProcessSampler.ProcessSampler, (sampler) => sampler.sample(pid)).pipe(
 *     Effect.map((sample) => sample.residentBytes),
 *     Effect.catchTag("ProcessNotFound", () => Effect.succeed(0))
 *   )
 * ```
 *
 * @since 0.1.0
 */
export class ProcessNotFound extends Data.TaggedError("ProcessNotFound")<{
  readonly pid: number
}> {
  override get message(): string {
    return `no process with pid ${this.pid}`
  }
}

/**
 * The process table could not be read: no /proc and no working `ps` (on
 * Windows, for instance), or `ps` failed.
 *
 * @example
 * ```ts
 * import { ProcessSampler } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const sample = (pid: number) =>
 *   Effect.flatMap(ProcessSampler.ProcessSampler, (sampler) => sampler.sample(pid)).pipe(
 *     Effect.catchTag("SamplingFailed", (error) => Effect.logWarning(error.message))
 *   )
 * ```
 *
 * @since 0.1.0
 */
export class SamplingFailed extends Data.TaggedError("SamplingFailed")<{
  readonly source: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot sample processes with ${this.source}: ${this.reason}`
  }
}

/**
 * Any sampling failure.
 *
 * @since 0.1.0
 */
export type SamplingError = ProcessNotFound | SamplingFailed
