// @duende/testing's adapter contract, run against SystemdAdapter and a real systemd
// (PID 1 in systemd-nspawn), with the contract's own fixture daemon.
import { Behavior } from "@duende/testing"
import * as AdapterContract from "@duende/testing/AdapterContract"
import { afterAll, beforeAll } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { join } from "node:path"
import * as SystemdAdapter from "../src/SystemdAdapter.js"
import { boot, gate, type Machine } from "./helpers/nspawn.js"

let machine: Machine | undefined
if (gate.ok) {
  beforeAll(async () => {
    machine = await boot()
  }, 90_000)
  afterAll(() => machine?.shutdown(), 60_000)

  AdapterContract.run(`SystemdAdapter (systemd in nspawn)${gate.label}`, {
    // Built when a claim runs, after the machine booted.
    layer: Layer.unwrapEffect(Effect.sync(() => SystemdAdapter.layer({ prefix: machine!.prefix, root: machine!.root }))),
    clock: "live",
    workingDirectory: join(__dirname, "fixtures"),
    daemon: (name, behavior) => ({
      name,
      command: ["node", join(__dirname, "fixtures", "contract-daemon.mjs")],
      env: Behavior.toEnv(behavior)
    })
  })
}
