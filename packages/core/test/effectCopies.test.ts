// Two copies of effect: found from real directory trees (npm's nesting, pnpm's
// store) and reported by a real daemon process at start.
import { afterEach, describe, expect, it } from "@effect/vitest"
import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { pathToFileURL } from "node:url"
import { duplicateMessage, locate, ownerOf } from "../src/internal/effectCopies.js"
import { killAll, spawnNode } from "./helpers/process.js"

afterEach(killAll)

const root = () => realpathSync(mkdtempSync(join(tmpdir(), "duende-copies-")))
const write = (file: string, content: string) => {
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, content)
}
const fakeEffect = (directory: string, version: string) =>
  write(join(directory, "package.json"), JSON.stringify({ name: "effect", version }))

describe("two copies of effect", () => {
  it("names both copies and who each was installed for (npm nesting)", () => {
    const app = root()
    write(join(app, "package.json"), JSON.stringify({ name: "my-api" }))
    fakeEffect(join(app, "node_modules", "effect"), "4.1.0")
    fakeEffect(join(app, "node_modules", "@duende", "core", "node_modules", "effect"), "3.22.4")
    const coreFile = join(app, "node_modules", "@duende", "core", "dist", "index.js")
    write(coreFile, "")
    write(join(app, "src", "main.js"), "")
    const message = duplicateMessage(coreFile, join(app, "src", "main.js"))
    expect(message?.split("\n")).toEqual([
      "two copies of effect are loaded; Effect code from one does not run correctly in the other:",
      `  @duende/core runs on effect 3.22.4 at ${join(app, "node_modules/@duende/core/node_modules/effect")}, installed for @duende/core`,
      `  main.js imports effect 4.1.0 at ${join(app, "node_modules/effect")}, installed for your app (my-api, ${app})`,
      "Keep one copy: install effect@3 in the app (`npm install effect@3`) so that every package shares it; `npm ls effect` shows which package brought each."
    ])
  })

  it("reads the owner out of pnpm's store layout", () => {
    const app = root()
    const store = join(app, "node_modules", ".pnpm")
    fakeEffect(join(store, "effect@3.21.0", "node_modules", "effect"), "3.21.0")
    const jobs = join(store, "@acme+jobs@1.0.0_effect@3.21.0", "node_modules")
    mkdirSync(jobs, { recursive: true })
    symlinkSync(join(store, "effect@3.21.0", "node_modules", "effect"), join(jobs, "effect"))
    const located = locate(join(jobs, "@acme", "jobs", "index.js"))
    expect(located?.real).toBe(join(store, "effect@3.21.0", "node_modules", "effect"))
    expect(ownerOf(located!.directory)).toBe("@acme/jobs")
    expect(ownerOf(join(store, "left-pad@1.3.0", "node_modules", "effect"))).toBe("left-pad")
    expect(ownerOf(join(app, "node_modules", "left-pad", "node_modules", "effect"))).toBe("left-pad")
  })

  it("says nothing when both resolve the same copy, or one finds none (a bundle)", () => {
    const app = root()
    fakeEffect(join(app, "node_modules", "effect"), "3.22.4")
    write(join(app, "node_modules", "@duende", "core", "dist", "index.js"), "")
    write(join(app, "main.js"), "")
    expect(duplicateMessage(join(app, "node_modules", "@duende", "core", "dist", "index.js"), join(app, "main.js")))
      .toBeUndefined()
    const bare = root()
    write(join(bare, "bundle.js"), "")
    expect(duplicateMessage(join(bare, "bundle.js"), join(bare, "bundle.js"))).toBeUndefined()
    expect(duplicateMessage(join(bare, "bundle.js"), undefined)).toBeUndefined()
  })

  it("a daemon warns at start when its app resolves another copy than core's", async () => {
    const app = root()
    write(join(app, "package.json"), JSON.stringify({ name: "two-copies", type: "module" }))
    fakeEffect(join(app, "node_modules", "effect"), "4.1.0")
    // Core (this workspace's build) and the copy of effect it resolves; the app's main resolves the fake one.
    const core = pathToFileURL(join(__dirname, "..", "dist", "index.js")).href
    const coreEffect = dirname(createRequire(join(__dirname, "..", "dist", "index.js")).resolve("effect/package.json"))
    write(
      join(app, "main.js"),
      `import { Daemon } from ${JSON.stringify(core)}\n` +
        `import * as Effect from ${JSON.stringify(pathToFileURL(join(coreEffect, "dist", "esm", "Effect.js")).href)}\n` +
        `Daemon.runMain(Daemon.make({ name: "two-copies", run: () => Effect.void }))\n`
    )
    const daemon = spawnNode(join(app, "main.js"))
    expect((await daemon.exit).code).toBe(0)
    expect(daemon.stderr()).toMatch(/WARN +\[two-copies\] two copies of effect are loaded/)
    expect(daemon.stderr()).toContain(`main.js imports effect 4.1.0 at ${join(app, "node_modules", "effect")}, installed for your app (two-copies, ${app})`)
    expect(daemon.stderr()).toMatch(/@duende\/core runs on effect 3\.\d+\.\d+ at /)

    // The same app with effect linked to core's copy: one copy, no warning.
    const linked = root()
    write(join(linked, "package.json"), JSON.stringify({ name: "one-copy", type: "module" }))
    mkdirSync(join(linked, "node_modules"))
    symlinkSync(coreEffect, join(linked, "node_modules", "effect"))
    write(join(linked, "main.js"), `import { Daemon } from ${JSON.stringify(core)}\nimport * as Effect from "effect/Effect"\n` +
      `Daemon.runMain(Daemon.make({ name: "one-copy", run: () => Effect.void }))\n`)
    const single = spawnNode(join(linked, "main.js"))
    expect((await single.exit).code).toBe(0)
    expect(single.stderr()).not.toContain("two copies")
    expect(single.stderr()).toMatch(/exit 0/)
  })
})
