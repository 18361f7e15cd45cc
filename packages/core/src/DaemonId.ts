/**
 * The stable identity of a registered daemon, kept across restarts (a UUID, so
 * that it never points at another daemon after the registry changes).
 *
 * @since 0.1.0
 */
import * as Brand from "effect/Brand"
import { randomUUID } from "node:crypto"

/**
 * A daemon id: a lowercase UUID string.
 *
 * @since 0.1.0
 */
export type DaemonId = string & Brand.Brand<"DaemonId">

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * Checks and brands a string as a DaemonId; throws a TypeError for anything else.
 *
 * @example
 * ```ts
 * import { DaemonId } from "@duende/core"
 *
 * const id = DaemonId.make("0b5c2f6e-7d8a-4a51-9a43-51a1f2f7c9d0")
 * ```
 *
 * @since 0.1.0
 */
export const make = (s: string): DaemonId => {
  if (!uuid.test(s)) throw new TypeError(`expected a lowercase UUID as daemon id, got ${JSON.stringify(s)}`)
  return s as DaemonId
}

/**
 * A new random DaemonId.
 *
 * @example
 * ```ts
 * import { DaemonId } from "@duende/core"
 *
 * const id = DaemonId.random()
 * ```
 *
 * @since 0.1.0
 */
export const random = (): DaemonId => randomUUID() as DaemonId

/**
 * Whether a string is a DaemonId.
 *
 * @example
 * ```ts
 * import { DaemonId } from "@duende/core"
 *
 * DaemonId.is("not-an-id") // false
 * ```
 *
 * @since 0.1.0
 */
export const is = (s: string): s is DaemonId => uuid.test(s)
