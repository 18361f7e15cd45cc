// The registry on disk under real faults: a saving process SIGKILLed at seeded
// random moments, another process watching the file while saves run, both
// files corrupt. The main file must exist and be whole at every instant.
import { afterAll, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Registry from "../src/Registry.js"

const saver = join(__dirname, "fixtures", "registry-saver.mjs")
const children = new Set<ChildProcess>()
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
})

const generationOf = (path: string): number => JSON.parse(readFileSync(path, "utf8")).daemons[0].addedAt

/** A small seeded generator (a test that fails must fail the same way again). */
const seeded = (seed: number) => () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
  return seed / 2 ** 31
}

describe("the registry file under faults", () => {
  it("writes what it was given: a changed entry is written changed, the others as they were (each entry is serialized once)", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "duende-registry-")), "registry.json")
    const entry = (i: number, extra: object = {}): Registry.Entry => ({
      id: `id-${i}`,
      name: `d-${i}`,
      config: { name: `d-${i}`, command: ["sh", "-c", "echo \"\u2028$HOME\\n\""], env: { K: "\ud83d\ude00 \n" } },
      desired: "running",
      addedAt: i,
      ...extra
    })
    const entries = Array.from({ length: 50 }, (_, i) => entry(i))
    await Effect.runPromise(Registry.save(path, entries))
    const changed = [...entries]
    changed[7] = entry(7, { desired: "stopped", lastPid: 4242, lastPidStartedAt: 1_700_000_000_000 })
    changed.splice(3, 1)
    await Effect.runPromise(Registry.save(path, changed))
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ version: 1, daemons: changed })
    expect((await Effect.runPromise(Registry.load(path))).entries).toEqual(changed)
    expect(JSON.parse(readFileSync(`${path}.bak`, "utf8")).daemons).toEqual(entries)
  })

  it("exists and parses at every instant while another process saves it in a loop", async () => {
    const home = mkdtempSync(join(tmpdir(), "duende-registry-"))
    const path = join(home, "registry.json")
    await Effect.runPromise(Registry.save(path, []))
    const child = spawn(process.execPath, [saver, path, "quiet"], { stdio: ["ignore", "pipe", "inherit"] })
    children.add(child)
    // Its first save is done (loading it takes seconds on a loaded machine); watch while it saves on.
    await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()))
    let checks = 0
    const missing: Array<number> = []
    const torn: Array<string> = []
    const end = Date.now() + 3_000
    while (Date.now() < end) {
      checks++
      if (!existsSync(path)) {
        missing.push(checks)
        continue
      }
      try {
        JSON.parse(readFileSync(path, "utf8"))
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") missing.push(checks)
        else torn.push((error as Error).message)
      }
    }
    child.kill("SIGKILL")
    expect(checks).toBeGreaterThan(1_000)
    expect({ missing: missing.length, torn }).toEqual({ missing: 0, torn: [] })
    expect(generationOf(path)).toBeGreaterThan(10)
  }, 30_000)

  it("survives 30 SIGKILLs of the saving process at seeded random moments: current, whole, no temp files left", async () => {
    const home = mkdtempSync(join(tmpdir(), "duende-registry-"))
    const path = join(home, "registry.json")
    const random = seeded(24_013)
    let acknowledged = 0
    for (let kill = 0; kill < 30; kill++) {
      const child = spawn(process.execPath, [saver, path], { stdio: ["ignore", "pipe", "inherit"] })
      children.add(child)
      let out = ""
      child.stdout!.on("data", (d) => {
        out += d
        const all = [...out.matchAll(/saved (\d+)\n/g)]
        if (all.length > 0) acknowledged = Math.max(acknowledged, Number(all[all.length - 1]![1]))
      })
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
      // Wait for the first save, then kill at a random moment of the following ones.
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (out.includes("saved ")) {
            clearInterval(check)
            resolve()
          }
        }, 5)
      })
      await new Promise((r) => setTimeout(r, Math.floor(random() * 40)))
      child.kill("SIGKILL")
      await exited
      expect(existsSync(path)).toBe(true)
      // What a save reported done is never lost; at most the save under way is.
      expect(generationOf(path)).toBeGreaterThanOrEqual(acknowledged)
      const loaded = Effect.runSync(Registry.load(path))
      expect(loaded.warnings).toEqual([])
      expect(loaded.entries[0]!.addedAt).toBeGreaterThanOrEqual(acknowledged)
      expect(readdirSync(home).filter((f) => f.includes(".tmp-"))).toEqual([])
      if (existsSync(`${path}.bak`)) expect(generationOf(`${path}.bak`)).toBeLessThanOrEqual(generationOf(path))
    }
  }, 300_000)

  it("sets both files aside when both are unreadable, and never overwrites them", async () => {
    const home = mkdtempSync(join(tmpdir(), "duende-registry-"))
    const path = join(home, "registry.json")
    writeFileSync(path, `{"version": 1, "daemons": [ {"id": "trunc`)
    writeFileSync(`${path}.bak`, "not json either")
    const loaded = Effect.runSync(Registry.load(path))
    expect(loaded.entries).toEqual([])
    expect(loaded.warnings).toEqual([
      expect.stringMatching(/registry\.json is unreadable \(not valid JSON .*\); kept as .*registry\.json\.corrupt-/),
      expect.stringMatching(/registry\.json\.bak is unreadable \(not valid JSON .*\); kept as .*registry\.json\.bak\.corrupt-/)
    ])
    const aside = readdirSync(home).filter((f) => f.includes(".corrupt-")).sort()
    expect(aside).toHaveLength(2)
    await Effect.runPromise(Registry.save(path, []))
    await Effect.runPromise(Registry.save(path, []))
    expect(readFileSync(join(home, aside.find((f) => f.startsWith("registry.json.corrupt-"))!), "utf8")).toBe(
      `{"version": 1, "daemons": [ {"id": "trunc`
    )
    expect(readFileSync(join(home, aside.find((f) => f.startsWith("registry.json.bak.corrupt-"))!), "utf8")).toBe("not json either")
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ version: 1, daemons: [] })
  })
})
