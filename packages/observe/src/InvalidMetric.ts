/**
 * The error thrown when a metric is defined or used wrongly: an invalid name,
 * a label set that does not match the family's label names, a counter
 * decremented, a name registered twice with another shape. These are
 * programming errors, so registry methods throw them rather than fail an Effect.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * A metric defined or used wrongly.
 *
 * @example
 * ```ts
 * import { InvalidMetric, MetricsRegistry } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * Effect.runSync(Effect.map(MetricsRegistry.make(), (registry) => {
 *   try {
 *     registry.counter({ name: "bad name", help: "" })
 *   } catch (error) {
 *     if (error instanceof InvalidMetric) console.error(error.message)
 *   }
 * }))
 * ```
 *
 * @since 0.1.0
 */
export class InvalidMetric extends Data.TaggedError("InvalidMetric")<{
  readonly metric: string
  readonly reason: string
}> {
  override get message(): string {
    return `metric ${this.metric}: ${this.reason}`
  }
}
