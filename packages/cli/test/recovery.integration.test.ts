// What the supervisor's start recovered is told to the user: a registry restored from its last
// good copy, an entry whose config no longer decodes (kept, listed, not run), two entries with
// one name (merged, the later kept). `resurrect` says it, `ls` lists the invalid entry and points
// at `doctor`, which shows every notice; with the supervisor dead and daemons meant to run,
// the answer offered is `duende resurrect`, not `duende start`.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runner } from "./helpers/cli.js"
import { afterAll, describe, expect, it } from "vitest"

const ticker = join(__dirname, "fixtures", "ticker.mjs")
const home = mkdtempSync(join(tmpdir(), "duende-recovery-"))

const duende = runner({ DUENDE_HOME: home })

afterAll(async () => {
  await duende("shutdown")
  rmSync(home, { recursive: true, force: true })
}, 60_000)

const entry = (id: string, name: string, config: object, desired: "running" | "stopped", addedAt: number) => ({
  id,
  name,
  config: { name, ...config },
  desired,
  addedAt
})
const good = { command: ["node", ticker], platform: { native: { ready: "started" } }, shutdownTimeout: "3s" }

describe("a supervisor's recovery, told to the user", () => {
  it("says the registry came from its last good copy, lists an invalid entry, says two entries were merged", async () => {
    writeFileSync(join(home, "registry.json"), "{\"version\": 1, \"daemons\": [", { mode: 0o600 }) // cut short
    writeFileSync(
      join(home, "registry.json.bak"),
      JSON.stringify({
        version: 1,
        daemons: [
          entry("6f1c1f4e-0000-4000-8000-000000000001", "dup", good, "stopped", 1),
          entry("6f1c1f4e-0000-4000-8000-000000000002", "broken", { command: [] }, "running", 2),
          entry("6f1c1f4e-0000-4000-8000-000000000003", "dup", good, "running", 3)
        ]
      }),
      { mode: 0o600 }
    )

    // No supervisor, daemons meant to run: the answer is resurrect.
    const before = await duende("ls")
    expect(before.code).toBe(3)
    expect(before.stderr).toMatch(/registry says 2 daemon\(s\) should run \(broken, dup\): `duende resurrect` starts/)

    const resurrected = await duende("resurrect")
    expect(resurrected.code).toBe(0)
    expect(resurrected.stderr).toMatch(/^duende: .*registry\.json is unreadable \(not valid JSON.*\); kept as .*registry\.json\.corrupt-/m)
    expect(resurrected.stderr).toMatch(/^duende: restored 3 daemon\(s\) from .*registry\.json\.bak$/m)
    expect(resurrected.stderr).toContain(
      "duende: the registry had two entries named \"dup\": kept the later one (id 6f1c1f4e-0000-4000-8000-000000000003), dropped id 6f1c1f4e-0000-4000-8000-000000000001"
    )
    expect(resurrected.stderr).toMatch(/^duende: broken: not run: its registered config is invalid \(.*command.*\); fix it/m)
    expect(resurrected.stdout).toMatch(/^dup +running /m)
    expect(resurrected.stdout).toMatch(/^broken +invalid config: /m)
    expect(readdirSync(home).filter((name) => name.startsWith("registry.json.corrupt-"))).toHaveLength(1)

    const listed = await duende("ls", "--json")
    expect(listed.code).toBe(0)
    expect(JSON.parse(listed.stdout).map((d: { name: string; statusTag: string }) => [d.name, d.statusTag])).toEqual([
      ["dup", "Running"],
      ["broken", "Invalid"]
    ])
    expect(listed.stderr).toMatch(/the supervisor's start left 4 notice\(s\).*`duende doctor` shows them/)

    const doctor = await duende("doctor")
    expect(doctor.stdout.split("\n").filter((line) => line.startsWith("notice "))).toHaveLength(4)

    expect(await duende("start", "broken")).toMatchObject({ code: 78 })
    expect((await duende("status", "broken")).stdout).toMatch(/status +invalid config: /)
    expect(await duende("rm", "broken")).toMatchObject({ code: 0 })
    expect(JSON.parse((await duende("ls", "--json")).stdout).map((d: { name: string }) => d.name)).toEqual(["dup"])
  }, 120_000)
})
