// A command that is no Duende daemon (busybox sh in the guest): ready after its
// grace, its output in the logs, and a stop it ignores forced at the deadline.
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as PepitaAdapter from "../src/PepitaAdapter.js"
import { cacheDirectory, gate } from "./helpers/vm.js"

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

describe.skipIf(!gate.ok)(`a plain command in a pepita VM${gate.label}`, () => {
  const scope = Effect.runSync(Scope.make())
  const directories: Array<string> = []
  const stateDirectory = (prefix: string) => {
    const directory = mkdtempSync(join(tmpdir(), prefix))
    directories.push(directory)
    return directory
  }
  afterAll(async () => {
    await run(Scope.close(scope, Exit.void))
    for (const directory of directories) rmSync(directory, { recursive: true, force: true })
  })

  it("fails a start whose program does not exist: StartFailed naming it, no VMM process or VM directory left", async () => {
    const missingState = stateDirectory("pepita-missing-")
    const adapter = await run(Scope.extend(PepitaAdapter.make({ stateDirectory: missingState, cacheDirectory }), scope))
    const handle = await run(adapter.install(decodeSync({ name: "missing", command: ["/no/such/program", "--flag"] })))
    const error = await run(Effect.flip(adapter.start(handle)))
    expect(error).toMatchObject({ _tag: "StartFailed", name: "missing", reason: expect.stringMatching(/\/no\/such\/program.*ENOENT/) })
    const state = await run(adapter.status(handle))
    expect(state.status._tag).toBe("Failed")
    expect(existsSync(join(missingState, "missing"))).toBe(false)
    expect(await run(Effect.flip(adapter.machine(handle)))).toMatchObject({ _tag: "OperationUnsupported" })
  }, 120_000)

  it("is ready once it has run a while, logs its output, and is killed when it ignores SIGTERM past the timeout", async () => {
    const adapter = await run(Scope.extend(
      PepitaAdapter.make({ stateDirectory: stateDirectory("pepita-plain-"), cacheDirectory }),
      scope
    ))
    const handle = await run(adapter.install(decodeSync({
      name: "plain",
      command: ["/bin/sh", "-c", "trap 'echo TERM ignored' TERM; echo plain $GREETING; while :; do sleep 0.2; done"],
      env: { GREETING: "hi" }
    })))
    await run(adapter.start(handle))
    const state = await run(adapter.status(handle))
    expect(state.status._tag).toBe("Running")
    expect(state.statusText).toBeUndefined()
    expect((await run(adapter.logs(handle))).map((line) => line.text)).toContain("plain hi")
    // The trap runs between two sleeps, well before the deadline.
    await run(adapter.stop(handle, Duration.seconds(3)))
    const stopped = await run(adapter.status(handle))
    expect(stopped.status._tag).toBe("Stopped")
    expect(stopped.lastExit).toMatchObject({ code: null, signal: "SIGKILL", description: "killed by SIGKILL" })
    expect((await run(adapter.logs(handle))).map((line) => line.text)).toContain("TERM ignored")
  }, 120_000)
})
