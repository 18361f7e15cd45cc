// The launchd plist generator beside the systemd unit generator: both render the same config
// (a Node daemon with environment, limits, a restart policy). Two measures, interleaved:
//   in process — one render, after warm-up (the generator itself), in microseconds;
//   cold — a fresh `node` that loads the platform's manager entry and renders once, as
//          `duende render launchd|systemd` does, in milliseconds.
// No launchctl or systemctl is run: systemd's version is given (252), launchd needs none.
//   node bench/launchd-render.mjs [--rounds 15] [--renders 2000] [--json]
import { execFileSync } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { interleave, option, report } from "./lib.mjs"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const entry = (pkg, file) => pathToFileURL(join(root, "packages", pkg, "dist", file)).href
const { decodeSync } = await import(entry("core", "DaemonConfigSchema.js"))
const launchd = await import(entry("platform-launchd", "adapter.js"))
const systemd = await import(entry("platform-systemd", "adapter.js"))
/** The artifacts of an Either from a generator (a refusal would be a bug in this config). */
const artifacts = (either) => {
  if (either._tag !== "Right") throw new Error(either.left.message)
  return either.right
}

const input = {
  name: "api",
  command: ["node", "server.js", "--port", "8080"],
  env: { NODE_ENV: "production", GREETING: "a & b <c> ]]> d" },
  workingDirectory: "/srv/api",
  restart: { policy: "on-failure", backoff: { initial: "2s" } },
  shutdownTimeout: "20s",
  resources: { openFilesMax: 4096, memory: "512M", cpuWeight: 200 }
}
const config = decodeSync(input)
const host = { path: `${dirname(process.execPath)}:/usr/bin:/bin`, cwd: "/srv/api" }

const renderLaunchd = () => artifacts(launchd.LaunchdJob.render(config, { scope: "daemon", host: { ...host, home: "/var/root", uid: 0 } }))
const renderSystemd = () => artifacts(systemd.SystemdUnit.render(config, { scope: "system", version: 252, host }))

const renders = option("renders", 2000)
const perRender = (render) => async () => {
  const started = process.hrtime.bigint()
  for (let i = 0; i < renders; i++) render()
  return Number(process.hrtime.bigint() - started) / 1e3 / renders
}

const cold = (pkg, code) => async () => {
  const script = `
    const t0 = process.hrtime.bigint()
    const { decodeSync } = await import(${JSON.stringify(entry("core", "DaemonConfigSchema.js"))})
    const m = await import(${JSON.stringify(entry(pkg, "adapter.js"))})
    const config = decodeSync(${JSON.stringify(input)})
    const host = ${JSON.stringify(host)}
    const out = ${code}
    if (out._tag !== "Right" || out.right[0].content.length < 100) throw new Error("no artifact")
    process.stdout.write(String(Number(process.hrtime.bigint() - t0) / 1e6))`
  return Number(execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }))
}

const rounds = option("rounds", 15)
report(
  `render, in process (µs per render, ${renders} renders a run)`,
  await interleave([
    { name: "systemd unit", run: perRender(renderSystemd) },
    { name: "launchd plist", run: perRender(renderLaunchd) }
  ], rounds),
  "systemd unit",
  "µs"
)
report(
  "render, cold process (load the manager entry, decode, render once)",
  await interleave([
    { name: "systemd unit", run: cold("platform-systemd", `m.SystemdUnit.render(config, { scope: "system", version: 252, host })`) },
    { name: "launchd plist", run: cold("platform-launchd", `m.LaunchdJob.render(config, { scope: "daemon", host: { ...host, home: "/var/root", uid: 0 } })`) }
  ], rounds, 1),
  "systemd unit"
)
