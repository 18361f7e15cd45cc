/**
 * Runs a command and collects its output, or follows the lines of a
 * long-running one. Interrupting (or closing the scope) kills the process.
 *
 * @internal
 */
import { PlatformCommandFailed } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { type ChildProcess, spawn } from "node:child_process"

export interface Output {
  readonly exitCode: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface ExecOptions {
  readonly env?: Readonly<Record<string, string | undefined>>
}

const spawnError = (argv: ReadonlyArray<string>, error: Error) =>
  new PlatformCommandFailed({ command: argv, exitCode: null, stderr: error.message })

/** Runs `argv`; fails only when it cannot run at all. */
export const run = (argv: ReadonlyArray<string>, options: ExecOptions = {}): Effect.Effect<Output, PlatformCommandFailed> =>
  Effect.async<Output, PlatformCommandFailed>((resume) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: options.env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] })
    const stdout: Array<Buffer> = []
    const stderr: Array<Buffer> = []
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk))
    child.once("error", (error) => resume(Effect.fail(spawnError(argv, error))))
    child.once("close", (code, signal) =>
      resume(Effect.succeed({
        exitCode: signal === null ? code : null,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8") + (signal === null ? "" : `\n(killed by ${signal})`)
      })))
    return Effect.sync(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    })
  })

/**
 * Starts a long-running `argv` now, within the scope (killed when it closes),
 * and gives its stdout lines as a stream, buffered from the start. The stream
 * ends when the process exits.
 */
export const follow = (
  argv: ReadonlyArray<string>,
  options: ExecOptions = {}
): Effect.Effect<Stream.Stream<string>, PlatformCommandFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox.make<string>()
    const child = yield* Effect.acquireRelease(
      Effect.async<ChildProcess, PlatformCommandFailed>((resume) => {
        const child = spawn(argv[0]!, argv.slice(1), { env: options.env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "ignore"] })
        child.once("error", (error) => resume(Effect.fail(spawnError(argv, error))))
        child.once("spawn", () => resume(Effect.succeed(child)))
      }),
      (child) =>
        Effect.sync(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        })
    )
    let partial = ""
    child.stdout!.on("data", (chunk: Buffer) => {
      const parts = (partial + chunk.toString("utf8")).split("\n")
      partial = parts.pop()!
      mailbox.unsafeOfferAll(parts)
    })
    child.once("close", () => void mailbox.unsafeDone(Exit.void))
    return Mailbox.toStream(mailbox)
  })
