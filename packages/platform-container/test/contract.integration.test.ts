// The adapter contract of @duende/testing, against the runc driver (restarts by DaemonManager) and the
// podman driver (restarts by podman). The contract's daemon runs with the host's node in the container;
// NODE_PATH lets its platform detection find this package, so READY comes through the state file.
import { Integration } from "@duende/testing"
import * as AdapterContract from "@duende/testing/AdapterContract"
import * as Behavior from "@duende/testing/Behavior"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import * as ContainerAdapter from "../src/ContainerAdapter.js"
import { repo, repoMount, tool } from "./helpers/containers.js"

const gate = Integration.check(Integration.tool("runc"), Integration.root())
const base = mkdtempSync(join(tmpdir(), "duende-contract-"))
const runtimeRoot = join(base, "runc")

afterAll(() => {
  for (const id of tool("runc", ["--root", runtimeRoot, "list", "--quiet"]).stdout.split("\n").filter((l) => l !== "")) {
    tool("runc", ["--root", runtimeRoot, "delete", "--force", id])
  }
  rmSync(base, { recursive: true, force: true })
})

if (gate.ok) {
  AdapterContract.run("ContainerAdapter (runc)", {
    layer: ContainerAdapter.layer({
      stateDirectory: join(base, "state"),
      driver: "runc",
      runtimeRoot,
      pollInterval: "100 millis",
      section: { mounts: [repoMount], ready: "notify" }
    }),
    clock: "live",
    workingDirectory: "/tmp",
    daemon: (name, behavior) => ({
      name,
      command: [process.execPath, AdapterContract.fixture],
      env: { ...Behavior.toEnv(behavior), NODE_PATH: join(repo, "node_modules/.pnpm/node_modules") }
    })
  })
}
