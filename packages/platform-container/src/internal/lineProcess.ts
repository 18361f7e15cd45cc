/**
 * A long-running tool whose output is read line by line (`podman events`,
 * `podman logs --follow`), for the life of a scope: closing the scope kills it.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import type { Tool } from "./command.js"

export const lines = (
  tool: Tool,
  args: ReadonlyArray<string>,
  onLine: (stream: "stdout" | "stderr", line: string) => void
): Effect.Effect<Effect.Effect<number | null>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<number | null>()
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(tool.file, [...tool.globalArgs, ...args], {
          env: tool.env as NodeJS.ProcessEnv,
          stdio: ["ignore", "pipe", "pipe"]
        })
        for (const stream of ["stdout", "stderr"] as const) {
          let partial = ""
          child[stream].on("data", (chunk: Buffer) => {
            const parts = (partial + chunk.toString()).split("\n")
            partial = parts.pop()!
            for (const line of parts) onLine(stream, line)
          })
        }
        child.once("error", () => Effect.runSync(Deferred.succeed(done, null)))
        child.once("close", (code) => Effect.runSync(Deferred.succeed(done, code)))
        return child
      }),
      (child) =>
        Effect.sync(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
        })
    )
    return Deferred.await(done)
  })
