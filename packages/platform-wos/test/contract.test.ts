// The adapter contract of @duende/testing against WosAdapter and against WosRemote (a kernel
// served on a socket, as `wos-ctl boot` does): its fixture daemon as a WebAssembly process
// (test/fixtures/contract.c, compiled at collection time), through DaemonManager too.
import { Behavior } from "@duende/testing"
import * as AdapterContract from "@duende/testing/AdapterContract"
import { afterAll, describe, it } from "@effect/vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PlatformAdapter } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Module from "../src/adapter.js"
import * as NodeWosHost from "../src/NodeWosHost.js"
import * as WosCtl from "../src/WosCtl.js"
import { compile, gate, sources } from "./helpers/wasm.js"

if (gate.ok) {
  const module = await compile(sources.contract)
  const workingDirectory = mkdtempSync(join(tmpdir(), "wos-contract-"))
  afterAll(() => rmSync(workingDirectory, { recursive: true, force: true }))
  const daemon = (name: string, behavior: Behavior.Behavior) => ({ name, command: [module], env: Behavior.toEnv(behavior) })
  AdapterContract.run("WosAdapter", { layer: Module.layer({}), clock: "live", timeScale: 0.3, workingDirectory, daemon })
  // A fresh kernel on a fresh socket per claim, the adapter talking to it as another process would.
  const remote = Layer.scoped(
    PlatformAdapter.PlatformAdapter,
    Effect.gen(function*() {
      const directory = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "wos-remote-"))),
        (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
      )
      yield* WosCtl.serve(yield* NodeWosHost.make(), join(directory, "wos.sock"))
      return yield* Module.make({ socket: join(directory, "wos.sock"), stateDirectory: join(directory, "state") })
    }).pipe(Effect.orDie)
  )
  AdapterContract.run("WosRemote", { layer: remote, clock: "live", timeScale: 0.3, workingDirectory, daemon })
} else {
  describe(`adapter contract: WosAdapter${gate.label}`, () => it.skip("needs clang for wasm32-wasi", () => {}))
}
