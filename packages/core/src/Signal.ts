/**
 * Unix signals by name, with their Linux numbers (the numbering WOS and the
 * pepita guest use too).
 *
 * @since 0.1.0
 */

const numbers = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20
} as const

/**
 * A signal name as Node spells it.
 *
 * @since 0.1.0
 */
export type Signal = keyof typeof numbers

/**
 * Every signal Duende knows, in number order.
 *
 * @since 0.1.0
 */
export const all: ReadonlyArray<Signal> = Object.keys(numbers) as Array<Signal>

/**
 * The Linux number of a signal.
 *
 * @example
 * ```ts
 * import { Signal } from "@duende/core"
 *
 * Signal.toNumber("SIGTERM") // 15
 * ```
 *
 * @since 0.1.0
 */
export const toNumber = (signal: Signal): number => numbers[signal]

/**
 * The signal with a Linux number, if Duende knows it.
 *
 * @example
 * ```ts
 * import { Signal } from "@duende/core"
 *
 * Signal.fromNumber(2) // "SIGINT"
 * ```
 *
 * @since 0.1.0
 */
export const fromNumber = (n: number): Signal | undefined => all.find((signal) => numbers[signal] === n)

/**
 * Reads "TERM", "sigterm", "SIGTERM" or "15" as a signal.
 *
 * @example
 * ```ts
 * import { Signal } from "@duende/core"
 *
 * Signal.parse("hup") // "SIGHUP"
 * Signal.parse("nope") // undefined
 * ```
 *
 * @since 0.1.0
 */
export const parse = (text: string): Signal | undefined => {
  const trimmed = text.trim()
  if (/^\d+$/.test(trimmed)) return fromNumber(Number(trimmed))
  const upper = trimmed.toUpperCase()
  const name = (upper.startsWith("SIG") ? upper : `SIG${upper}`) as Signal
  return name in numbers ? name : undefined
}

/**
 * The exit status a shell reports for a process ended by this signal (128 + n).
 *
 * @example
 * ```ts
 * import { Signal } from "@duende/core"
 *
 * Signal.exitStatus("SIGTERM") // 143
 * ```
 *
 * @since 0.1.0
 */
export const exitStatus = (signal: Signal): number => 128 + numbers[signal]
