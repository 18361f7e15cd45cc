/**
 * How the `duende` command writes to its terminal, pipe or file: all of it,
 * before the process exits; quietly ended by a reader that went away; and
 * without colors where nobody sees them.
 *
 * A pipe is asynchronous: once its buffer (64 KiB on Linux) is full, the rest
 * of a write waits in the process, and `process.exit` would drop it. So the
 * command exits only from {@link exit}, which waits until both streams have
 * handed everything to the operating system. A reader that closes early
 * (`duende logs api | head`) makes the next write fail with EPIPE: the command
 * then ends at once with 141 (128 + SIGPIPE, what a shell reports for a
 * program a closed pipe stopped), without a stack trace.
 *
 * @internal
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

/** The exit code after a reader closed the pipe: 128 + SIGPIPE. */
export const brokenPipe = 141

/** Makes EPIPE on stdout or stderr end the command quietly; other write errors end it with 1. */
export const guard = (): void => {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => process.exit(error.code === "EPIPE" ? brokenPipe : 1))
  }
}

/** Exits with `code` once stdout and stderr have written everything queued so far. */
export const exit = (code: number): void => {
  let pending = 2
  let final = code
  const done = (error?: NodeJS.ErrnoException | null) => {
    if (error) final = error.code === "EPIPE" ? brokenPipe : 1
    if (--pending === 0) process.exit(final)
  }
  for (const stream of [process.stdout, process.stderr]) {
    // A write's callback runs once it and every write before it reached the operating system.
    if (stream.writable) stream.write("", done)
    else done()
  }
}

/** CSI sequences (colors, bold, cursor moves), as @effect/printer-ansi writes them. */
const ansi = /\u001b\[[0-9;?]*[ -/]*[@-~]/g

/** Colors only on a terminal, and not when NO_COLOR is set (https://no-color.org). */
export const colors = (stream: NodeJS.WriteStream, env: Readonly<Record<string, string | undefined>> = process.env): boolean =>
  stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === "")

/** `text` without ANSI escape sequences. */
export const plain = (text: string): string => text.replace(ansi, "")

/**
 * Runs `effect` with a Console whose `log` and `error` (what @effect/cli prints
 * help, usage errors and the wizard with) drop ANSI escapes from a stream that
 * shows no colors.
 */
export const withPlainConsole = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Console.consoleWith((base) => {
    const out = colors(process.stdout)
    const err = colors(process.stderr)
    if (out && err) return effect
    const strip = (args: ReadonlyArray<unknown>) => args.map((arg) => (typeof arg === "string" ? plain(arg) : arg))
    return Console.withConsole(effect, {
      ...base,
      log: (...args) => base.log(...(out ? args : strip(args))),
      error: (...args) => base.error(...(err ? args : strip(args)))
    })
  })
