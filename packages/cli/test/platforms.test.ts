// The CLI's one table of platforms: every row loads a module of core's PlatformModule shape,
// formats belong to one platform, a missing package names what to install, and the command line
// loads only the modules it needs.
import { execFile } from "node:child_process"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import * as Platforms from "../src/internal/platforms.js"

const bin = join(__dirname, "..", "bin", "duende.js")
const counter = join(__dirname, "..", "..", "..", "examples", "http-counter", "duende.json")

const duende = (...args: Array<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000, env: { ...process.env, DUENDE_HOME: join(__dirname, "no-home") } }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }))
  })

describe("the platform table", () => {
  it("loads, for every row, a module of that kind with formats, flags and the adapter's make and layer", async () => {
    const seen = new Set<string>()
    for (const kind of Platforms.kinds) {
      const module = await Effect.runPromise(Platforms.loadRow(kind, Platforms.table[kind]))
      expect(module.kind).toBe(kind)
      expect(module.formats.length).toBeGreaterThan(0)
      for (const format of module.formats) {
        expect(seen.has(format)).toBe(false)
        seen.add(format)
      }
      for (const part of ["options", "render", "make", "layer"] as const) expect(typeof module[part]).toBe("function")
      for (const flag of module.flags) expect(flag.appliesTo.length).toBeGreaterThan(0)
    }
    expect([...seen]).toEqual(["systemd", "launchd", "oci", "docker", "podman", "engine", "compose", "kubernetes", "pepita", "wos"])
  })

  it("names the package to install when a platform's package is missing", async () => {
    // A platform whose package is not installed (here one that does not exist): its row names it.
    const row: Platforms.Row = { package: "@duende/platform-firecracker", load: () => import(["@duende", "platform-firecracker"].join("/")) }
    const failure = await Effect.runPromise(Effect.flip(Platforms.loadRow("firecracker", row)))
    expect(failure).toEqual({
      kind: "firecracker",
      message: "--platform firecracker needs @duende/platform-firecracker, which is not installed: npm install @duende/platform-firecracker"
    })
    const rows = { ...Platforms.table, firecracker: row }
    expect(await Effect.runPromise(Effect.flip(Platforms.load(["status", "api", "--platform", "firecracker"], rows)))).toEqual(failure)
    // Loaded for a render or for help, a missing platform is left out and reported, not fatal.
    const all = await Effect.runPromise(Platforms.load(["render", "oci", "x.json"], rows))
    expect([...all.modules.keys()]).toEqual(["systemd", "launchd", "container", "kubernetes", "pepita", "wos"])
    expect(all.unavailable).toEqual([failure])
  })

  it("loads only what the command line needs", () => {
    expect(Platforms.needed(["ls", "--json"])).toEqual([])
    expect(Platforms.needed(["logs", "api", "-n", "5", "--follow"])).toEqual([])
    expect(Platforms.needed(["status", "api", "--platform", "container"])).toEqual(["container"])
    expect(Platforms.needed(["status", "api", "--platform=systemd"])).toEqual(["systemd"])
    expect(Platforms.needed(["status", "api", "--platform", "launchd"])).toEqual(["launchd"])
    expect(Platforms.needed(["status", "api", "--platform", "wos"])).toEqual(["wos"])
    expect(Platforms.needed(["status", "api", "--platform", "firecracker"])).toEqual([])
    expect(Platforms.needed(["status", "api", "--user"])).toBe("all")
    expect(Platforms.needed(["render", "oci", "x.json"])).toBe("all")
    expect(Platforms.needed(["start", "--help"])).toBe("all")
    expect(Platforms.needed([])).toBe("all")
  })
})

describe("duende through the table", () => {
  it("refuses an unknown platform or format, and a flag of another platform, with exit 2 naming the known ones", async () => {
    const platform = await duende("status", "api", "--platform", "firecracker")
    expect(platform.code).toBe(2)
    expect(platform.stdout + platform.stderr).toContain("native, systemd, launchd, container, kubernetes, pepita, wos")
    const format = await duende("render", "plist", counter)
    expect(format).toMatchObject({
      code: 2,
      stderr: "duende: unknown format plist: expected one of systemd, launchd, oci, docker, podman, engine, compose, kubernetes, pepita, wos\n"
    })
    expect(await duende("status", "api", "--platform", "systemd", "--driver", "runc")).toMatchObject({
      code: 2,
      stderr: "duende: --driver goes with --platform container\n"
    })
    expect(await duende("status", "api", "--user")).toMatchObject({ code: 2, stderr: "duende: --user goes with --platform systemd\n" })
    expect(await duende("render", "oci", counter, "--user")).toMatchObject({ code: 2, stderr: "duende: --user goes with systemd\n" })
    expect(await duende("status", "api", "--platform", "container", "--driver", "kubernetes")).toMatchObject({ code: 2 })
  })

  it("lists every platform's flags in help, without loading a platform for a native command", async () => {
    const help = await duende("start", "--help")
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("--platform native | systemd | launchd | container | kubernetes | pepita | wos")
    expect(help.stdout).toContain("With --platform systemd: the user's manager")
    expect(help.stdout).toContain("--driver runc | crun | podman | engine")
    const render = await duende("render", "--help")
    expect(render.stdout).toContain("What to render: systemd, launchd, oci, docker, podman, engine, compose, kubernetes, pepita, wos")
    expect(render.stdout).toContain("For systemd: the systemd version to render for")
  })
})
