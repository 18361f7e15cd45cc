/**
 * Runs a platform tool (runc, crun, podman) with an argv array and no shell,
 * collecting its output; a non-zero exit becomes a PlatformCommandFailed
 * carrying what the tool printed. Interrupting the effect kills the tool.
 *
 * @internal
 */
import { PlatformCommandFailed } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"

export interface Output {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export interface Tool {
  readonly file: string
  /** Arguments before the subcommand (runc --root, podman --root…). */
  readonly globalArgs: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string | undefined>>
}

const limit = 4 * 1024 * 1024

/** Runs `tool args…`; codes in `accept` (besides 0) are returned instead of failing. */
export const run = (
  tool: Tool,
  args: ReadonlyArray<string>,
  accept: ReadonlyArray<number> = []
): Effect.Effect<Output, PlatformCommandFailed> => {
  const argv = [...tool.globalArgs, ...args]
  const command = [tool.file, ...argv]
  return Effect.async<Output, PlatformCommandFailed>((resume) => {
    let stdout = ""
    let stderr = ""
    const child = spawn(tool.file, argv, { env: tool.env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] })
    child.stdout.on("data", (chunk: Buffer) => {
      if (stdout.length < limit) stdout += chunk.toString()
    })
    child.stderr.on("data", (chunk: Buffer) => {
      if (stderr.length < limit) stderr += chunk.toString()
    })
    child.once("error", (error) => resume(Effect.fail(new PlatformCommandFailed({ command, exitCode: null, stderr: error.message }))))
    child.once("close", (code, signal) => {
      if (code === 0 || (code !== null && accept.includes(code))) resume(Effect.succeed({ code, stdout, stderr }))
      else {
        resume(Effect.fail(
          new PlatformCommandFailed({ command, exitCode: code, stderr: stderr || (signal ? `killed by ${signal}` : stdout) })
        ))
      }
    })
    return Effect.sync(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    })
  })
}
