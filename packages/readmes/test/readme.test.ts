// Every ts block of README.md and packages/*/README.md, as a user would paste it:
// type-checked with --strict under node16 and under bundler resolution against
// the built packages (their published entry points and declarations), and the
// runnable ones run (scripts with tsx, tests inside this suite). Markers before a
// block (see scripts/readme-blocks.mjs) declare fragments and the rare skip.
import { describe, expect, it } from "vitest"
import { spawnSync } from "node:child_process"
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { allBlocks, type Block, moduleSource } from "../../../scripts/readme-blocks.mjs"

const root = resolve(__dirname, "..", "..", "..")
const here = resolve(__dirname, "..")
const out = join(here, ".blocks")
const require = createRequire(join(here, "package.json"))
const tsc = require.resolve("typescript/bin/tsc")
const tsx = require.resolve("tsx/cli")

const blocks = allBlocks(root)
const slug = (block: Block) => `${block.file.replace(/\/README\.md$|\.md$/, "").replace(/\W+/g, "-")}-${block.line}`
const fileOf = (block: Block) => join(out, block.name ?? `${slug(block)}${block.mode === "test" ? ".test.ts" : ".ts"}`)

// A CommonJS consumer of every entry, as a `.cts` file: under node16 its imports are
// `require`s, so they must reach the `.d.cts` declarations (TS1479 otherwise).
const cjsConsumer = `// A CommonJS consumer of every entry.
import { Daemon, PromiseDaemon } from "@duende/core"
import { DaemonManager } from "@duende/core/manager"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { RedMetrics } from "@duende/observe"
import { MetricsRegistry } from "@duende/observe/manager"
import { OtelSdk } from "@duende/observe/otel"
import { TestHarness } from "@duende/testing"
import { toEnv } from "@duende/testing/Behavior"
import { platformRuntime as systemd } from "@duende/platform-systemd"
import { SystemdUnit } from "@duende/platform-systemd/adapter"
import { platformRuntime as container } from "@duende/platform-container"
import { ContainerArtifacts } from "@duende/platform-container/adapter"
import { Paths } from "@duende/cli"

class Worker implements PromiseDaemon.PromiseDaemon {
  readonly name = "worker"
  async run(ctx: PromiseDaemon.RunContext): Promise<void> {
    await ctx.untilShutdown()
  }
}
export const daemon: Daemon.Daemon<PromiseDaemon.PromiseDaemonError> = Daemon.fromPromise(new Worker())
export const used = [DaemonManager.make, decodeSync, RedMetrics.make, MetricsRegistry.make, OtelSdk.layer, TestHarness.start,
  toEnv, systemd, SystemdUnit.render, container, ContainerArtifacts.render, Paths.resolve]
`

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
for (const block of blocks) if (block.mode !== "skip") writeFileSync(fileOf(block), moduleSource(block))
writeFileSync(join(out, "cjs-consumer.cts"), cjsConsumer)
const compilerOptions = { strict: true, noEmit: true, target: "ES2022", lib: ["ES2022"], types: ["node"], skipLibCheck: true }
writeFileSync(join(out, "tsconfig.node16.json"), JSON.stringify({
  compilerOptions: { ...compilerOptions, module: "node16", moduleResolution: "node16" },
  include: ["*.ts", "*.cts"]
}))
writeFileSync(join(out, "tsconfig.bundler.json"), JSON.stringify({
  compilerOptions: { ...compilerOptions, module: "esnext", moduleResolution: "bundler" },
  include: ["*.ts"]
}))

const typecheck = (config: string) => {
  const result = spawnSync(process.execPath, [tsc, "-p", join(out, config), "--pretty", "false"], { cwd: out, encoding: "utf8" })
  // Name each error by its README line, not by the generated file.
  return `${result.stdout}${result.stderr}`.replace(/^([\w.-]+\.ts)\((\d+),(\d+)\)/gm, (whole, name: string, line: string) => {
    const block = blocks.find((b) => fileOf(b) === join(out, name))
    if (block === undefined) return whole
    const codeLines = block.code.split("\n").length
    return Number(line) <= codeLines
      ? `${block.file}:${block.line + Number(line)}`
      : `${block.file}:${block.line} (in the fragment's declarations)`
  }).trim()
}

describe("README blocks", () => {
  it("are found, and every one is checked or says why not", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(15)
    const skipped = blocks.filter((b) => b.mode === "skip").map((b) => `${b.file}:${b.line}: ${b.reason}`)
    expect(skipped).toEqual([])
    const names = blocks.flatMap((b) => (b.name === undefined ? [] : [b.name]))
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([])
  })

  it("type-check with --strict under node16 resolution (and a .cts consumer of every entry)", () => {
    expect(typecheck("tsconfig.node16.json")).toBe("")
  }, 180_000)

  it("type-check with --strict under bundler resolution", () => {
    expect(typecheck("tsconfig.bundler.json")).toBe("")
  }, 180_000)

  for (const block of blocks.filter((b) => b.mode === "run")) {
    it(`run: ${block.file}:${block.line}`, () => {
      const result = spawnSync(process.execPath, [tsx, fileOf(block)], {
        cwd: out,
        encoding: "utf8",
        env: { ...process.env, DUENDE_LOG_LEVEL: "error" },
        timeout: 120_000
      })
      expect({ code: result.status, stderr: result.stderr }).toEqual({ code: 0, stderr: "" })
      if (block.prints !== undefined) expect(result.stdout.trim()).toBe(block.prints)
    }, 180_000)
  }
})

// The README's test blocks register their tests here, in this file's suite.
for (const block of blocks.filter((b) => b.mode === "test")) {
  describe(`test: ${block.file}:${block.line}`, async () => {
    await import(pathToFileURL(fileOf(block)).href)
  })
}
