/**
 * The lifecycle state of a daemon as a state machine. Only the transitions
 * below are legal; anything else is an {@link IllegalTransition}.
 *
 * ```text
 * Created ─→ Starting ─→ Running ⇄ Paused
 *               └──────────┴─────────┴──→ Stopping   (a stop was asked for)
 *   Starting, Running, Paused, Stopping ─→ Stopped | Failed   (the process ended)
 *   Stopped, Failed ─→ Starting   (restart)         Created ─→ Stopped   (removed unstarted)
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Either from "effect/Either"

/**
 * A daemon's state. `Failed` carries the reason.
 *
 * @since 0.1.0
 */
export type DaemonStatus = Data.TaggedEnum<{
  Created: {}
  Starting: {}
  Running: {}
  Paused: {}
  Stopping: {}
  Stopped: {}
  Failed: { readonly reason: string }
}>

const {
  $is,
  $match,
  Created,
  Failed,
  Paused,
  Running,
  Starting,
  Stopped,
  Stopping
} = Data.taggedEnum<DaemonStatus>()

export {
  /**
   * Narrows a status by tag: `DaemonStatus.$is("Running")(status)`.
   *
   * @since 0.1.0
   */
  $is,
  /**
   * Exhaustive match on a status.
   *
   * @since 0.1.0
   */
  $match,
  /** @since 0.1.0 */
  Created,
  /** @since 0.1.0 */
  Failed,
  /** @since 0.1.0 */
  Paused,
  /** @since 0.1.0 */
  Running,
  /** @since 0.1.0 */
  Starting,
  /** @since 0.1.0 */
  Stopped,
  /** @since 0.1.0 */
  Stopping
}

/**
 * The name of a state.
 *
 * @since 0.1.0
 */
export type Tag = DaemonStatus["_tag"]

const legal: Record<Tag, ReadonlyArray<Tag>> = {
  Created: ["Starting", "Stopped"],
  Starting: ["Running", "Stopping", "Stopped", "Failed"],
  Running: ["Paused", "Stopping", "Stopped", "Failed"],
  Paused: ["Running", "Stopping", "Stopped", "Failed"],
  Stopping: ["Stopped", "Failed"],
  Stopped: ["Starting"],
  Failed: ["Starting"]
}

/**
 * A transition the state machine does not allow.
 *
 * @since 0.1.0
 */
export class IllegalTransition extends Data.TaggedError("IllegalTransition")<{
  readonly from: Tag
  readonly to: Tag
}> {
  override get message(): string {
    const allowed = legal[this.from]
    return `a daemon cannot go from ${this.from} to ${this.to} (from ${this.from}: ${allowed.join(", ")})`
  }
}

/**
 * Whether `from → to` is a legal transition.
 *
 * @example
 * ```ts
 * import { DaemonStatus } from "@duende/core"
 *
 * DaemonStatus.canTransition("Running", "Stopping") // true
 * DaemonStatus.canTransition("Stopped", "Running") // false: it must start first
 * ```
 *
 * @since 0.1.0
 */
export const canTransition = (from: Tag, to: Tag): boolean => legal[from].includes(to)

/**
 * Moves `from` to `to`, or fails with {@link IllegalTransition}.
 *
 * @example
 * ```ts
 * import { DaemonStatus } from "@duende/core"
 * import { Either } from "effect"
 *
 * const next = DaemonStatus.transition(DaemonStatus.Running(), DaemonStatus.Stopping())
 * Either.isRight(next) // true
 * ```
 *
 * @since 0.1.0
 */
export const transition = (from: DaemonStatus, to: DaemonStatus): Either.Either<DaemonStatus, IllegalTransition> =>
  canTransition(from._tag, to._tag)
    ? Either.right(to)
    : Either.left(new IllegalTransition({ from: from._tag, to: to._tag }))

/**
 * Stopped or Failed: the daemon does not run and will not by itself.
 *
 * @example
 * ```ts
 * import { DaemonStatus } from "@duende/core"
 *
 * DaemonStatus.isTerminal(DaemonStatus.Failed({ reason: "crash loop" })) // true
 * ```
 *
 * @since 0.1.0
 */
export const isTerminal = (status: DaemonStatus): boolean => status._tag === "Stopped" || status._tag === "Failed"

/**
 * Running or Paused.
 *
 * @example
 * ```ts
 * import { DaemonStatus } from "@duende/core"
 *
 * DaemonStatus.isActive(DaemonStatus.Paused()) // true
 * ```
 *
 * @since 0.1.0
 */
export const isActive = (status: DaemonStatus): boolean => status._tag === "Running" || status._tag === "Paused"

/**
 * A one-word lowercase label ("running", "failed: crash loop"), for tables and logs.
 *
 * @example
 * ```ts
 * import { DaemonStatus } from "@duende/core"
 *
 * DaemonStatus.label(DaemonStatus.Failed({ reason: "exit 1" })) // "failed: exit 1"
 * ```
 *
 * @since 0.1.0
 */
export const label = (status: DaemonStatus): string =>
  status._tag === "Failed" ? `failed: ${status.reason}` : status._tag.toLowerCase()
