#!/usr/bin/env node
// Brings a checkout to a runnable state on a machine that has only Node and npm:
// installs the workspace with a pinned pnpm (fetched by npx, no global install,
// no corepack) and builds every package with turbo (cached, so a second run is quick).
//
//   node scripts/bootstrap.mjs            install + build
//   node scripts/bootstrap.mjs --no-build install only
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const { packageManager } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"))
const [major] = process.versions.node.split(".").map(Number)
if (major < 20 || (major === 20 && Number(process.versions.node.split(".")[1]) < 19)) {
  console.error(`duende needs Node >= 20.19; this is ${process.version}`)
  process.exit(1)
}

const env = {
  ...process.env,
  // node-gyp must not download headers (no internet here); Node ships them in /usr/include/node.
  npm_config_nodedir: process.env.npm_config_nodedir ?? (existsSync("/usr/include/node") ? "/usr" : undefined),
  TURBO_TELEMETRY_DISABLED: "1",
  DO_NOT_TRACK: "1"
}
if (env.npm_config_nodedir === undefined) delete env.npm_config_nodedir
// turbo looks for the package manager on PATH; the install puts the pinned pnpm in node_modules/.bin.
env.PATH = [join(root, "node_modules", ".bin"), env.PATH].join(process.platform === "win32" ? ";" : ":")

const step = (title, command, args) => {
  console.error(`\n> ${title}`)
  const result = spawnSync(command, args, { cwd: root, env, stdio: "inherit" })
  if (result.error) throw result.error
  if (result.status !== 0) {
    console.error(`\n${title} failed (exit ${result.status ?? result.signal})`)
    process.exit(result.status ?? 1)
  }
}

const npx = process.platform === "win32" ? "npx.cmd" : "npx"
const frozen = existsSync(join(root, "pnpm-lock.yaml")) && process.env.DUENDE_UPDATE_LOCKFILE !== "1"
step(`install (${packageManager})`, npx, [
  "--yes",
  packageManager,
  "install",
  frozen ? "--frozen-lockfile" : "--no-frozen-lockfile",
  "--prefer-offline",
  "--reporter=append-only"
])
if (!process.argv.includes("--no-build")) {
  step("build", join(root, "node_modules", ".bin", "turbo"), [
    "run",
    "build",
    "--concurrency=2",
    "--output-logs=errors-only"
  ])
}
