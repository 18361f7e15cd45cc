// Start → ready of the example daemon (examples/http-counter) in containers, interleaved:
//   duende + runc     ContainerAdapter (runc driver): bundle, `runc run`, READY through the state file
//   runc run          the same bundle and command under plain `runc run`, ready = the daemon's "ready" log line
//   duende + podman   ContainerAdapter (podman driver): `podman run --detach`, READY through the state file
//   podman run        plain attached `podman run` of the same image and command, ready = the "ready" log line
// Ratios are against plain `runc run`. Needs root, runc and podman (recipes/oci.md).
//   node bench/container/run.mjs [--rounds 10] [--json]
//
// Everything it makes lives under one temporary directory (runc's --root, podman's storage, the
// adapters' state) and is removed on the way out: after the runs, when a setup step fails, and on
// SIGINT/SIGTERM/SIGHUP.
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { spawn, spawnSync } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import {
  ContainerAdapter,
  ContainerSection,
  ContainerSpec,
  OciSpec
} from "../../packages/platform-container/dist/adapter.js"
import { interleave, option, report } from "../lib.mjs"

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
const main = join(repo, "examples/http-counter/dist/main.js")
for (const tool of ["runc", "podman"]) {
  if (spawnSync("which", [tool]).status !== 0) {
    console.error(`container benchmark: ${tool} is not installed`)
    process.exit(1)
  }
}
if (!existsSync(main)) {
  console.error("container benchmark: build the example first (npm run build)")
  process.exit(1)
}

const base = mkdtempSync(join(tmpdir(), "duende-bench-container-"))
const runtimeRoot = join(base, "runc")
const podmanArgs = ["--root", join(base, "storage"), "--runroot", join(base, "runroot"), "--tmpdir", join(base, "tmp")]
const env = { ...process.env, CONTAINERS_CONF: join(base, "containers.conf") }
const run = (file, args) => spawnSync(file, args, { env, encoding: "utf8" })
const podman = (...args) => run("podman", [...podmanArgs, ...args])

// --- cleanup ----------------------------------------------------------------------------------
// The adapters' scope (their watchers, podman's `podman events`); containers outlive it.
const scope = Effect.runSync(Scope.make())
/** Plain `runc run` / `podman run` children, still attached to us. */
const children = new Set()

/** Runs every step even when one throws: a failed step must not leave the rest behind. */
const attempt = (what, step) => {
  try {
    step()
  } catch (error) {
    console.error(`container benchmark: cleanup: ${what}: ${error instanceof Error ? error.message : error}`)
  }
}
const cleanUp = async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void)).catch((error) => console.error("container benchmark: cleanup: scope:", error))
  attempt("runc containers", () => {
    if (!existsSync(runtimeRoot)) return
    for (const id of (run("runc", ["--root", runtimeRoot, "list", "--quiet"]).stdout ?? "").split("\n").filter(Boolean)) {
      run("runc", ["--root", runtimeRoot, "delete", "--force", id])
    }
  })
  attempt("podman containers", () => {
    if (!existsSync(join(base, "storage"))) return
    podman("rm", "--all", "--force", "--time=0")
    podman("rmi", "--all", "--force")
  })
  // Their containers are gone, so these exit by themselves; this is for a runtime that hung.
  attempt("children", () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  })
  // podman's overlay and shm mounts under its storage, innermost first.
  attempt("mounts", () => {
    const mounts = readFileSync("/proc/self/mounts", "utf8").split("\n").map((l) => l.split(" ")[1])
      .filter((p) => p !== undefined && (p === base || p.startsWith(`${base}/`))).reverse()
    for (const point of mounts) run("umount", ["-l", point])
  })
  attempt("temporary directory", () => rmSync(base, { recursive: true, force: true }))
}
let cleaning
const cleanUpOnce = () => (cleaning ??= cleanUp())
let interrupted = false
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  // Not `once`: a second Ctrl-C while cleaning up must not kill us half-way through it.
  process.on(signal, () => {
    if (interrupted) return
    interrupted = true
    console.error(`\ncontainer benchmark: ${signal}, cleaning up …`)
    void cleanUpOnce().finally(() => process.exit(130))
  })
}

// --- the benchmark ----------------------------------------------------------------------------
const bench = async () => {
  writeFileSync(
    join(base, "containers.conf"),
    `[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\n`
  )
  const daemonEnv = { PORT: "8080", HOST: "127.0.0.1" }
  const config = (name) => decodeSync({ name, command: [process.execPath, main], env: daemonEnv, shutdownTimeout: "5s" })
  const repoMount = { source: repo, target: repo, readOnly: true }
  const usrMount = { source: "/usr", target: "/usr", readOnly: true }

  // The podman image: an empty root with the merged-/usr links and the loader's cache; /usr comes from the host.
  const rootfs = join(base, "rootfs")
  for (const dir of ["etc", "usr", "tmp", "run", "proc", "sys", "dev"]) mkdirSync(join(rootfs, dir), { recursive: true })
  for (const [name, target] of [["bin", "usr/bin"], ["sbin", "usr/sbin"], ["lib", "usr/lib"], ["lib64", "usr/lib64"]]) {
    symlinkSync(target, join(rootfs, name))
  }
  for (const file of ["ld.so.cache", "passwd", "group", "nsswitch.conf"]) copyFileSync(join("/etc", file), join(rootfs, "etc", file))
  const tar = run("tar", ["-C", rootfs, "-cf", join(base, "rootfs.tar"), "."])
  if (tar.status !== 0) throw new Error(`tar of the image root failed: ${tar.stderr}`)
  const image = "localhost/duende-bench:1"
  const imported = podman("import", join(base, "rootfs.tar"), image)
  if (imported.status !== 0) throw new Error(`podman import failed: ${imported.stderr}`)

  // The plain runc bundle: the same config.json the adapter writes for the same daemon.
  const plainBundle = join(base, "plain")
  {
    const section = Either.getOrThrow(ContainerSection.decode({ mounts: [repoMount] }))
    const spec = Either.getOrThrow(ContainerSpec.make(config("plain"), { id: "00000000-0000-4000-8000-000000000000", section }))
    const context = Either.getOrThrow(OciSpec.context(spec))
    mkdirSync(join(plainBundle, "rootfs"), { recursive: true })
    for (const [name, target] of context.host.links) symlinkSync(target, join(plainBundle, "rootfs", name))
    writeFileSync(join(plainBundle, "config.json"), JSON.stringify(OciSpec.render(spec, context)))
  }

  /** ms from spawn until the daemon logs "ready" (on stderr), then the container is killed. */
  const untilReadyLine = (command, args, kill) =>
    new Promise((resolvePromise, reject) => {
      const started = process.hrtime.bigint()
      const child = spawn(command, args, { env, stdio: ["ignore", "ignore", "pipe"] })
      children.add(child)
      let err = ""
      let done = false
      const fail = (error) => {
        if (done) return
        done = true
        clearTimeout(timer)
        kill()
        reject(error)
      }
      const timer = setTimeout(() => fail(new Error(`${command}: no ready line within 30s:\n${err}`)), 30_000)
      child.stderr.on("data", (chunk) => {
        err += chunk
        if (!done && /\[http-counter\] ready\n/.test(err)) {
          done = true
          clearTimeout(timer)
          const ms = Number(process.hrtime.bigint() - started) / 1e6
          kill()
          if (child.exitCode !== null || child.signalCode !== null) resolvePromise(ms)
          else child.once("exit", () => resolvePromise(ms))
        }
      })
      // A runtime that fails (bad bundle, name in use) exits without the line: fail now, not in 30s.
      child.once("exit", (code, signal) => {
        children.delete(child)
        fail(new Error(`${command} exited (${code ?? signal}) before the ready line:\n${err}`))
      })
      child.once("error", fail)
    })

  const adapters = await Effect.runPromise(Effect.all({
    runc: ContainerAdapter.make({
      stateDirectory: join(base, "state-runc"),
      driver: "runc",
      runtimeRoot,
      section: { mounts: [repoMount] }
    }),
    podman: ContainerAdapter.make({
      stateDirectory: join(base, "state-podman"),
      driver: "podman",
      runtimeArgs: podmanArgs,
      env,
      healthchecks: "engine",
      section: { image, network: "none", mounts: [usrMount, repoMount] }
    })
  }).pipe(Scope.extend(scope)))

  const viaAdapter = (adapter, name) => async () => {
    const handle = await Effect.runPromise(adapter.install(config(name)))
    const started = process.hrtime.bigint()
    await Effect.runPromise(adapter.start(handle))
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    await Effect.runPromise(adapter.stop(handle, Duration.seconds(5)))
    return ms
  }

  let plain = 0
  const samples = await interleave([
    { name: "runc run (plain)", run: () => {
      const id = `bench-plain-${++plain}`
      return untilReadyLine("runc", ["--root", runtimeRoot, "run", "--bundle", plainBundle, id], () =>
        run("runc", ["--root", runtimeRoot, "kill", id, "KILL"]))
    } },
    { name: "duende + runc", run: viaAdapter(adapters.runc, "bench-runc") },
    { name: "duende + podman", run: viaAdapter(adapters.podman, "bench-podman") },
    { name: "podman run (plain)", run: () => {
      const name = `bench-podman-plain-${++plain}`
      return untilReadyLine("podman", [
        ...podmanArgs, "run", "--rm", `--name=${name}`, "--network=none",
        ...Object.entries(daemonEnv).map(([k, v]) => `--env=${k}=${v}`), "--env=DUENDE_PLATFORM=container",
        `--mount=type=bind,source=/usr,target=/usr,readonly`, `--mount=type=bind,source=${repo},target=${repo},readonly`,
        `--entrypoint=["${process.execPath}"]`, image, main
      ], () => podman("kill", name))
    } }
  ], option("rounds", 10))
  report("container start → ready, http-counter", samples, "runc run (plain)")
}

try {
  await bench()
} catch (error) {
  // After a signal, the failure is the cleanup pulling containers from under a run: not news.
  if (!interrupted) {
    console.error(error)
    process.exitCode = 1
  }
} finally {
  await cleanUpOnce()
}
if (interrupted) process.exit(130)
