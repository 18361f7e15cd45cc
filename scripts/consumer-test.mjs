#!/usr/bin/env node
// The packages as a new user gets them: every publishable package packed with
// `pnpm pack` (the built dist/, so run it after a build), installed with plain npm
// from the registry into fresh apps outside the workspace, and used there.
//
//   core + testing     one copy of effect (`npm ls`, `npm query`); the README blocks that
//                      need only these, type-checked (strict; node16 and bundler) and
//                      their tests run; an Effect daemon and a CommonJS PromiseDaemon
//                      (a .cts file compiled under node16) stopped by SIGTERM: exit 143;
//                      a vitest file with TestHarness and a layer
//   core + systemd     one copy of effect; the systemd README blocks type-checked; a
//                      daemon whose runtime core loads from @duende/platform-systemd
//   cli                `npx duende --version` and a render; nothing of effect,
//                      @effect/* or OpenTelemetry installed
//
// It prints packed and installed sizes (the README's table) and its wall time.
//
//   node scripts/consumer-test.mjs [--keep]     --keep leaves the apps in the temporary directory
import { spawn, spawnSync } from "node:child_process"
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { allBlocks, importedPackages, moduleSource } from "./readme-blocks.mjs"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const started = performance.now()
const work = mkdtempSync(join(tmpdir(), "duende-consumer-"))
const keep = process.argv.includes("--keep")
const failures = []
const log = (line) => console.log(line)
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`
const mb = (bytes) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`

const stripAnsi = (text) => text.replace(/\u001b\[[0-9;]*m/g, "")
/** A check's line; `lines` collects a section's lines, printed together when it ends. */
const checker = (lines) => (what, ok, detail = "") => {
  lines.push(`  ${ok ? "ok  " : "FAIL"} ${what}${!ok && detail ? `\n${stripAnsi(detail).replace(/^/gm, "       ")}` : ""}`)
  if (!ok) failures.push(what)
}
const check = (what, ok, detail) => {
  const lines = []
  checker(lines)(what, ok, detail)
  log(lines.join("\n"))
}
/** Runs sections at once (they use different apps); prints each one's lines in order. */
const sections = async (list) => {
  const results = await Promise.all(list.map(async ([title, body]) => {
    const lines = [`\n${title}`]
    const t = performance.now()
    try {
      await body(checker(lines))
    } catch (error) {
      checker(lines)(`${title}: ${error instanceof Error ? error.message : String(error)}`, false, error instanceof Error ? error.stack : "")
    }
    lines[0] += ` (${seconds(performance.now() - t)})`
    return lines
  }))
  for (const lines of results) log(lines.join("\n"))
}

/** Runs a command to its end; never throws. */
const run = (command, args, options = {}) =>
  new Promise((resolve) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.on("error", (error) => resolve({ code: -1, stdout, stderr: `${stderr}${error.message}` }))
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

/** Apparent size of a directory's files, not counting nested node_modules. */
const sizeOf = (path, { nested = false } = {}) => {
  const stat = lstatSync(path)
  if (!stat.isDirectory()) return stat.isFile() ? stat.size : 0
  let total = 0
  for (const entry of readdirSync(path)) {
    if (entry === "node_modules" && !nested) continue
    total += sizeOf(join(path, entry), { nested })
  }
  return total
}

// ---- pack ---------------------------------------------------------------------------
const tarballs = join(work, "tarballs")
mkdirSync(tarballs)
const pnpm = join(root, "node_modules", ".bin", "pnpm")
const packages = readdirSync(join(root, "packages"))
  .map((dir) => ({ dir: join(root, "packages", dir), manifest: JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8")) }))
  .filter((p) => p.manifest.private !== true)
log(`packing ${packages.length} packages into ${tarballs}`)
const packed = {}
for (const { dir, manifest } of packages) {
  if (!existsSync(join(dir, "dist"))) {
    console.error(`${manifest.name} has no dist/: build first (node scripts/bootstrap.mjs)`)
    process.exit(1)
  }
  const result = spawnSync(pnpm, ["pack", "--pack-destination", tarballs], { cwd: dir, encoding: "utf8" })
  if (result.status !== 0) {
    console.error(`pnpm pack failed for ${manifest.name}:\n${result.stdout}${result.stderr}`)
    process.exit(1)
  }
  const file = join(tarballs, `${manifest.name.replace("@", "").replace("/", "-")}-${manifest.version}.tgz`)
  const listing = spawnSync("tar", ["-tzvf", file], { encoding: "utf8" }).stdout.trim().split("\n")
  const unpacked = listing.reduce((sum, line) => sum + Number(line.split(/\s+/)[2] ?? 0), 0)
  const maps = listing.filter((line) => line.endsWith(".map")).length
  packed[manifest.name] = { file, packed: statSync(file).size, unpacked, files: listing.length, maps }
}
for (const [name, p] of Object.entries(packed)) {
  check(`${name}: ${mb(p.packed)} packed, ${mb(p.unpacked)} unpacked, ${p.files} files, no source maps`, p.maps === 0, `${p.maps} .map files`)
}

// ---- apps ---------------------------------------------------------------------------
const makeApp = (name, dependencies, devDependencies = {}) => {
  const dir = join(work, name)
  mkdirSync(dir)
  const spec = (n, v) => (v === "tgz" ? `file:${packed[n].file}` : v)
  writeFileSync(join(dir, "package.json"), `${JSON.stringify({
    name: `consumer-${name}`,
    private: true,
    type: "module",
    dependencies: Object.fromEntries(Object.entries(dependencies).map(([n, v]) => [n, spec(n, v)])),
    devDependencies: Object.fromEntries(Object.entries(devDependencies).map(([n, v]) => [n, spec(n, v)]))
  }, null, 2)}\n`)
  return dir
}
const tools = { typescript: "~5.9.3", "@types/node": "^20.19.0" }
const apps = {
  "core-testing": makeApp("core-testing", { "@duende/core": "tgz", effect: "3" }, {
    "@duende/testing": "tgz",
    vitest: "3",
    "@effect/vitest": "0.30",
    ...tools
  }),
  "core-systemd": makeApp("core-systemd", { "@duende/core": "tgz", "@duende/platform-systemd": "tgz", effect: "3" }, tools),
  cli: makeApp("cli", { "@duende/cli": "tgz" })
}
const npmEnv = { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false" }
log(`installing ${Object.keys(apps).join(", ")} with npm (in parallel)`)
const installStarted = performance.now()
const installs = await Promise.all(
  Object.entries(apps).map(async ([name, dir]) => {
    const t = performance.now()
    const result = await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], { cwd: dir, env: npmEnv })
    return { name, ms: performance.now() - t, ...result }
  })
)
log(`  installs took ${seconds(performance.now() - installStarted)}`)
for (const install of installs) {
  check(`npm install (${install.name}, ${seconds(install.ms)})`, install.code === 0, `${install.stdout}${install.stderr}`)
}
if (failures.length > 0) finish()

/** Paths of the packages npm would install for production (no devDependencies). */
const prodClosure = (dir) =>
  spawnSync("npm", ["ls", "--omit=dev", "--all", "--parseable"], { cwd: dir, encoding: "utf8", env: npmEnv }).stdout
    .trim().split("\n").filter((path) => path !== dir && path !== "")

const oneEffect = async (check, dir) => {
  const ls = await run("npm", ["ls", "effect", "--all"], { cwd: dir, env: npmEnv })
  const query = await run("npm", ["query", "#effect"], { cwd: dir, env: npmEnv })
  let copies = []
  try {
    copies = [...new Map(JSON.parse(query.stdout).map((node) => [node.realpath ?? node.path, node.version])).entries()]
  } catch {}
  check(
    `one copy of effect (${copies.map(([path, version]) => `${version} at ${relative(dir, path)}`).join("; ") || "none"})`,
    ls.code === 0 && copies.length === 1,
    `${ls.stdout}${ls.stderr}`
  )
}

/** The README blocks whose packages are all installed in `dir`, type-checked there. */
const readmeBlocks = async (check, dir, label) => {
  const installed = (name) => existsSync(join(dir, "node_modules", name, "package.json"))
  const blocks = allBlocks(root).filter((b) =>
    b.mode !== "skip" && importedPackages(`${b.code}\n${b.prelude}`).every(installed) &&
    (b.file === "README.md" || importedPackages(b.code).some((name) => name.startsWith("@duende/")))
  )
  const out = join(dir, "readme")
  mkdirSync(out)
  for (const block of blocks) {
    const name = block.name ?? `${block.file.replace(/\W+/g, "-")}-${block.line}${block.mode === "test" ? ".test.ts" : ".ts"}`
    writeFileSync(join(out, name), moduleSource(block))
  }
  const base = { strict: true, noEmit: true, target: "ES2022", lib: ["ES2022"], types: ["node"], skipLibCheck: true }
  for (const [resolution, module] of [["node16", "node16"], ["bundler", "esnext"]]) {
    writeFileSync(join(out, `tsconfig.${resolution}.json`), JSON.stringify({
      compilerOptions: { ...base, module, moduleResolution: resolution },
      include: ["*.ts"]
    }))
    const result = await run(process.execPath, [join(dir, "node_modules", "typescript", "bin", "tsc"), "-p", join(out, `tsconfig.${resolution}.json`)], { cwd: out })
    check(
      `${label}: ${blocks.length} README blocks (${[...new Set(blocks.map((b) => b.file))].join(", ")}) type-check, strict, ${resolution}`,
      result.code === 0,
      `${result.stdout}${result.stderr}`
    )
  }
  return blocks
}

/** Starts a daemon, waits for its ready line, sends SIGTERM, and checks the exit code. */
const daemonStopsOnSigterm = (check, dir, label, args, env = {}) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, DUENDE_PLATFORM: "native", ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    let signalled = false
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    const onData = (chunk) => {
      output += chunk
      if (!signalled && / ready\b/.test(output)) {
        signalled = true
        child.kill("SIGTERM")
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      check(`${label}: exit ${code ?? signal} on SIGTERM`, code === 143 && signalled && !output.includes("two copies of effect"), output)
      resolve(output)
    })
  })

// ---- the three apps, at once ---------------------------------------------------------
await sections([["core + testing", async (check) => {
  const dir = apps["core-testing"]
  await oneEffect(check, dir)
  const blocks = await readmeBlocks(check, dir, "core + testing")
  writeFileSync(join(dir, "daemon.mjs"), `import { Daemon } from "@duende/core"
import * as Effect from "effect/Effect"

Daemon.runMain(Daemon.make({
  name: "consumer",
  init: (ctx) => ctx.status("up"),
  run: () => Effect.never,
  shutdown: () => Effect.log("shutdown ran")
}))
`)
  const effectDaemon = await daemonStopsOnSigterm(check, dir, "an Effect daemon (ESM)", ["daemon.mjs"])
  check("its shutdown ran", effectDaemon.includes("shutdown ran"), effectDaemon)

  // CommonJS with types: a .cts file compiled under node16 resolves the require conditions' .d.cts.
  writeFileSync(join(dir, "worker.cts"), `import { type DaemonConfig, PromiseDaemon } from "@duende/core"

class Worker implements PromiseDaemon.PromiseDaemon {
  readonly name = "worker"
  async init(config: DaemonConfig.DaemonConfig): Promise<void> {
    console.log(\`init \${config.name}\`)
  }
  async run(ctx: PromiseDaemon.RunContext): Promise<void> {
    await ctx.untilShutdown()
  }
  async shutdown(timeoutMs: number): Promise<void> {
    console.log(\`shutdown with \${timeoutMs} ms left\`)
  }
}

PromiseDaemon.runMain(new Worker())
`)
  const compiled = await run(process.execPath, [
    join(dir, "node_modules", "typescript", "bin", "tsc"),
    "--strict", "--module", "node16", "--moduleResolution", "node16", "--target", "es2022", "--types", "node", "--outDir", "out", "worker.cts"
  ], { cwd: dir })
  check("a .cts PromiseDaemon type-checks and compiles under node16", compiled.code === 0, `${compiled.stdout}${compiled.stderr}`)
  if (compiled.code === 0) {
    const worker = await daemonStopsOnSigterm(check, dir, "a CommonJS PromiseDaemon (require)", ["out/worker.cjs"])
    check("its shutdown ran", /shutdown with \d+ ms left/.test(worker), worker)
  }

  mkdirSync(join(dir, "test"))
  writeFileSync(join(dir, "test", "harness.test.ts"), `import { Daemon, HealthStatus } from "@duende/core"
import { TestHarness } from "@duende/testing"
import { expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

class Db extends Context.Tag("Db")<Db, { readonly ping: Effect.Effect<boolean> }>() {}

const api = Daemon.make({
  name: "api",
  run: () => Effect.never,
  health: () => Effect.map(Effect.flatMap(Db, (db) => db.ping), (up) => (up ? HealthStatus.healthy() : HealthStatus.unhealthy("db")))
})

it.scoped("a daemon with a Db service, tested with a fake one", () =>
  Effect.gen(function*() {
    let up = true
    const harness = yield* TestHarness.start(api, {
      layer: Layer.succeed(Db, { ping: Effect.sync(() => up) }),
      config: { health: { interval: "1s", retries: 1 } }
    })
    yield* harness.waitFor("READY")
    yield* harness.advance("1 second")
    expect(yield* harness.health).toBe("healthy")
    up = false
    yield* harness.advance("1 second")
    expect(yield* harness.health).toBe("unhealthy")
    expect((yield* harness.stop()).code).toBe(143)
  }))
`)
  const tests = blocks.filter((b) => b.mode === "test").length
  const vitest = await run(process.execPath, [join(dir, "node_modules", "vitest", "vitest.mjs"), "run"], { cwd: dir, env: { ...process.env, CI: "1" } })
  const passed = /Tests\s+(\d+) passed/.exec(stripAnsi(vitest.stdout))?.[1]
  check(`vitest: TestHarness with a layer, and the README's ${tests} test blocks (${passed ?? 0} tests passed)`, vitest.code === 0 && Number(passed) >= 1 + tests, `${vitest.stdout}${vitest.stderr}`)
}], ["core + platform-systemd", async (check) => {
  const dir = apps["core-systemd"]
  await oneEffect(check, dir)
  await readmeBlocks(check, dir, "core + platform-systemd")
  writeFileSync(join(dir, "daemon.mjs"), `import { Daemon } from "@duende/core"
import * as Effect from "effect/Effect"

Daemon.runMain(Daemon.make({ name: "unit", run: () => Effect.never }))
`)
  // DUENDE_PLATFORM=systemd: core's platform table imports @duende/platform-systemd from the app.
  const output = await daemonStopsOnSigterm(check, dir, "a daemon on platform-systemd's runtime", ["daemon.mjs"], {
    DUENDE_PLATFORM: "systemd",
    DUENDE_LOG_LEVEL: "debug"
  })
  check("core loaded the systemd runtime", /platform: systemd/.test(output), output)
}], ["cli", async (check) => {
  const dir = apps.cli
  const version = await run("npx", ["--no-install", "duende", "--version"], { cwd: dir, env: npmEnv })
  const expected = packages.find((p) => p.manifest.name === "@duende/cli").manifest.version
  check(`npx duende --version: ${version.stdout.trim()}`, version.code === 0 && version.stdout.includes(expected), `${version.stdout}${version.stderr}`)
  writeFileSync(join(dir, "duende.json"), JSON.stringify({ name: "api", command: ["node", "server.js"] }))
  const render = await run("npx", ["--no-install", "duende", "render", "compose", "duende.json", "--image", "localhost/api:1"], { cwd: dir, env: npmEnv })
  check("npx duende render compose", render.code === 0 && render.stdout.includes("localhost/api:1"), `${render.stdout}${render.stderr}`)
  const heavy = ["effect", "@effect", "@opentelemetry", "@duende/core"].filter((name) => existsSync(join(dir, "node_modules", name)))
  check(`installs none of effect, @effect/*, @opentelemetry/*, @duende/core (${readdirSync(join(dir, "node_modules")).filter((n) => !n.startsWith(".")).join(", ")})`, heavy.length === 0, heavy.join(", "))
}]])

// ---- sizes --------------------------------------------------------------------------
log("\ninstalled sizes (apparent size of the files npm put in node_modules)")
const closureSize = (dir, filter = () => true) => prodClosure(dir).filter(filter).reduce((sum, path) => sum + sizeOf(path), 0)
const coreTesting = apps["core-testing"]
const sizes = {
  "@duende/core + effect@3": closureSize(coreTesting),
  "effect@3 alone": sizeOf(join(coreTesting, "node_modules", "effect")),
  "@duende/testing (beside core, vitest, @effect/vitest)": sizeOf(join(coreTesting, "node_modules", "@duende", "testing")),
  "@duende/core + @duende/platform-systemd + effect@3": closureSize(apps["core-systemd"]),
  "@duende/cli": sizeOf(join(apps.cli, "node_modules"), { nested: true })
}
for (const [what, bytes] of Object.entries(sizes)) log(`  ${what.padEnd(54)} ${mb(bytes)}`)
finish()

function finish() {
  log(`\nconsumer test: ${failures.length === 0 ? "passed" : `${failures.length} failed`} in ${seconds(performance.now() - started)}${keep ? ` (apps kept in ${work})` : ""}`)
  if (!keep) rmSync(work, { recursive: true, force: true })
  process.exit(failures.length === 0 ? 0 : 1)
}
