// The adapter contract of @duende/testing against WosAdapter: its fixture daemon as a WebAssembly
// process (test/fixtures/contract.c, compiled at collection time), through DaemonManager too.
import { Behavior } from "@duende/testing"
import * as AdapterContract from "@duende/testing/AdapterContract"
import { afterAll, describe, it } from "@effect/vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Module from "../src/adapter.js"
import { compile, gate, sources } from "./helpers/wasm.js"

if (gate.ok) {
  const module = await compile(sources.contract)
  const workingDirectory = mkdtempSync(join(tmpdir(), "wos-contract-"))
  afterAll(() => rmSync(workingDirectory, { recursive: true, force: true }))
  AdapterContract.run("WosAdapter", {
    layer: Module.layer({}),
    clock: "live",
    timeScale: 0.3,
    workingDirectory,
    daemon: (name, behavior) => ({ name, command: [module], env: Behavior.toEnv(behavior) })
  })
} else {
  describe(`adapter contract: WosAdapter${gate.label}`, () => it.skip("needs clang for wasm32-wasi", () => {}))
}
