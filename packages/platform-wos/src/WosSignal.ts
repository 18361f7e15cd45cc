/**
 * The signals of the WOS process model and their numbers (those of Linux).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Signal numbers by name: INT 2, KILL 9, USR1 10, SEGV 11, USR2 12, PIPE 13,
 * TERM 15, CHLD 17.
 *
 * @example
 * ```ts
 * import { WosSignal } from "@duende/platform-wos"
 *
 * WosSignal.numbers.TERM // 15
 * ```
 *
 * @since 0.1.0
 */
export const numbers = {
  INT: 2,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  TERM: 15,
  CHLD: 17
} as const

/**
 * A signal's name.
 *
 * @example
 * ```ts
 * import type { WosSignal } from "@duende/platform-wos"
 *
 * const term: WosSignal.Name = "TERM"
 * ```
 *
 * @since 0.1.0
 */
export type Name = keyof typeof numbers

/**
 * A signal's number.
 *
 * @example
 * ```ts
 * import type { WosSignal } from "@duende/platform-wos"
 *
 * const term: WosSignal.WosSignal = 15
 * ```
 *
 * @since 0.1.0
 */
export type WosSignal = (typeof numbers)[Name]

/**
 * The schema of a signal number: one of the eight WOS knows.
 *
 * @example
 * ```ts
 * import { WosSignal } from "@duende/platform-wos"
 * import * as Schema from "effect/Schema"
 *
 * Schema.decodeUnknownSync(WosSignal.WosSignal)(15) // 15
 * ```
 *
 * @since 0.1.0
 */
export const WosSignal: Schema.Schema<WosSignal> = Schema.Literal(...Object.values(numbers)).annotations({
  identifier: "WosSignal",
  message: (issue) => ({
    message: `${String(issue.actual)} is not a WOS signal number (INT 2, KILL 9, USR1 10, SEGV 11, USR2 12, PIPE 13, TERM 15, CHLD 17)`,
    override: true
  })
})

/**
 * The name of a signal number, for messages.
 *
 * @example
 * ```ts
 * import { WosSignal } from "@duende/platform-wos"
 *
 * WosSignal.nameOf(9) // "KILL"
 * ```
 *
 * @since 0.1.0
 */
export const nameOf = (signal: WosSignal): Name =>
  (Object.keys(numbers) as Array<Name>).find((name) => numbers[name] === signal)!

/**
 * The WOS signal with this number, if WOS has one.
 *
 * @example
 * ```ts
 * import { WosSignal } from "@duende/platform-wos"
 *
 * WosSignal.fromNumber(15) // 15
 * WosSignal.fromNumber(1) // undefined: WOS has no HUP
 * ```
 *
 * @since 0.1.0
 */
export const fromNumber = (n: number): WosSignal | undefined => Object.values(numbers).find((signal) => signal === n)
