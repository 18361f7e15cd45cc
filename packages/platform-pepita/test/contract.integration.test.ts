// The adapter contract of @duende/testing against PepitaAdapter with real VMs
// (QEMU, TCG here): every claim boots its daemon in a VM of its own, the guest
// agent as its manager, and DaemonManager restarts crashed VMs. The contract's
// fixture daemon is bundled with esbuild into one file (core, the Behavior
// decoder and effect inlined), as an app is deployed, and that file's
// directory is the daemon's working directory, copied into every image. The
// bundle has no @duende/platform-pepita, so inside the VM core falls back to
// the native runtime, which speaks the agent's notify pipe.
import * as AdapterContract from "@duende/testing/AdapterContract"
import * as Behavior from "@duende/testing/Behavior"
import { build } from "esbuild"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe } from "vitest"
import * as PepitaAdapter from "../src/PepitaAdapter.js"
import { cacheDirectory, gate } from "./helpers/vm.js"

const workingDirectory = mkdtempSync(join(tmpdir(), "pepita-contract-"))
const stateDirectory = mkdtempSync(join(tmpdir(), "pepita-contract-state-"))

afterAll(() => {
  rmSync(workingDirectory, { recursive: true, force: true })
  rmSync(stateDirectory, { recursive: true, force: true })
})

describe.skipIf(!gate.ok)(`PepitaAdapter contract with real VMs${gate.label}`, () => {
  beforeAll(async () => {
    await build({
      entryPoints: [AdapterContract.fixture],
      bundle: true,
      platform: "node",
      format: "esm",
      outfile: join(workingDirectory, "contract-daemon.mjs"),
      logLevel: "error"
    })
  }, 60_000)

  AdapterContract.run("PepitaAdapter (QEMU)", {
    layer: PepitaAdapter.layer({ stateDirectory, cacheDirectory, heartbeat: "1 second" }),
    clock: "live",
    // Every start and restart boots a VM (10–15 s under TCG on a loaded machine): wait longer.
    waitScale: 3,
    workingDirectory,
    daemon: (name, behavior) => ({
      name,
      command: ["node", join(workingDirectory, "contract-daemon.mjs")],
      env: Behavior.toEnv(behavior),
      workingDirectory,
      initTimeout: "60s",
      platform: { pepita: { memory: "512M" } }
    })
  })
})
