/**
 * Runs a tool and collects what it printed. Interrupting kills it.
 *
 * @internal
 */
import { PlatformCommandFailed } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"

export interface Output {
  /** null when a signal ended it. */
  readonly exitCode: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `argv`; fails only when it cannot be started at all. */
export const run = (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): Effect.Effect<Output, PlatformCommandFailed> =>
  Effect.async<Output, PlatformCommandFailed>((resume) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk))
    child.once("error", (error) =>
      resume(Effect.fail(new PlatformCommandFailed({ command: argv, exitCode: null, stderr: error.message }))))
    child.once("close", (code, signal) =>
      resume(Effect.succeed({
        exitCode: signal === null ? code : null,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8") + (signal === null ? "" : `\n(ended by ${signal})`)
      })))
    return Effect.sync(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    })
  })
