// The adapter contract against the test platform (on TestClock) and the native adapter (real processes).
import { NativeAdapter } from "@duende/core/manager"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as AdapterContract from "../src/AdapterContract.js"
import * as Behavior from "../src/Behavior.js"
import * as TestPlatform from "../src/TestPlatform.js"

AdapterContract.run("TestPlatform", {
  layer: TestPlatform.layer(),
  clock: "test",
  workingDirectory: "/srv/simulated",
  daemon: (name, behavior) => ({ name, command: ["simulated"], env: Behavior.toEnv(behavior) })
})

const workingDirectory = mkdtempSync(join(tmpdir(), "duende-contract-cwd-"))
AdapterContract.run("NativeAdapter", {
  layer: NativeAdapter.layer({ logDirectory: mkdtempSync(join(tmpdir(), "duende-contract-logs-")) }),
  clock: "live",
  workingDirectory,
  daemon: (name, behavior) => ({
    name,
    command: [process.execPath, AdapterContract.fixture],
    env: Behavior.toEnv(behavior),
    platform: { native: { ready: "notify" } }
  })
})
