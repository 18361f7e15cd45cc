// The example daemon, examples/http-counter, under systemd against bare node running the same
// script, in one systemd 252 booted as PID 1 in systemd-nspawn
// (packages/platform-systemd/test/helpers/nspawn.ts), all cases interleaved in the same rounds:
//   1. start → ready: `systemctl start` returns (Type=notify: once the daemon sent READY=1 after
//      its server listens) against bare node until it logs "ready"; the same unit with hardening
//      off shows what the sandbox costs.
//   2. crash → ready again: SIGKILL to the hardened unit's main process (Restart=always), until
//      systemd restarted it and it is active again (new MainPID, NRestarts + 1, READY=1 sent),
//      against bare node's start; once with the RestartSec= the example's restart backoff renders
//      to, once with backoff.initial 0 (RestartSec=0) to show systemd's own mechanics.
//   3. graceful stop: `systemctl stop` → inactive (the daemon's shutdown runs on SIGTERM) against
//      bare node: SIGTERM → process gone.
// Crash and stop also print their phases, read off systemd's own timestamps.
// Needs root and systemd-container; run through ./run.mjs (npm run bench -- --only systemd).
import { DaemonConfig } from "@duende/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as SystemdAdapter from "../../packages/platform-systemd/src/SystemdAdapter.js"
import * as SystemdSection from "../../packages/platform-systemd/src/SystemdSection.js"
import * as SystemdUnit from "../../packages/platform-systemd/src/SystemdUnit.js"
import { boot } from "../../packages/platform-systemd/test/helpers/nspawn.js"
import { breakdown, interleave, median, option, report } from "../lib.mjs"

const repo = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..")
const rounds: number = option("rounds", 15)
const warmup = 2
const json = process.argv.includes("--json")
if (!existsSync(join(repo, "examples/http-counter/dist/main.js"))) {
  console.error("systemd benchmark: build the example first (npm run build)")
  process.exit(1)
}

const run = (argv: ReadonlyArray<string>) =>
  new Promise<string>((resolve, reject) =>
    execFile(argv[0]!, argv.slice(1), (error, stdout, stderr) =>
      error ? reject(new Error(`${argv.join(" ")}: ${stderr}`)) : resolve(stdout)
    )
  )
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const msSince = (began: bigint, until: bigint = process.hrtime.bigint()) => Number(until - began) / 1e6

// Phases are measured by each case on every run, warm-up runs included; interleave runs every case
// exactly once per round, so dropping the first `warmup` values keeps the same runs as its samples.
const phases = <K extends string>(names: ReadonlyArray<K>) => {
  const values = Object.fromEntries(names.map((name) => [name, [] as Array<number>])) as Record<K, Array<number>>
  return {
    add: (name: K, ms: number) => void values[name].push(ms),
    measured: () =>
      Object.fromEntries(Object.entries<Array<number>>(values).map(([name, xs]) => [name, xs.slice(warmup)]))
  }
}

// Ctrl-C must not leave a booted machine behind (nspawn runs in its own session, so the signal
// does not reach it). Handlers go in before boot(): a signal during boot is acted on once the
// machine is up. Not `once`: a second Ctrl-C must not kill us half-way through the teardown.
let interrupted = false
let shutdown: (() => Promise<void>) | undefined
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (interrupted) return
    interrupted = true
    console.error(`\nsystemd benchmark: ${signal}, shutting the machine down …`)
    if (shutdown !== undefined) void shutdown().finally(() => process.exit(130))
  })
}

const main = async () => {
  const machine = await boot()
  // The helper's shutdown() returns at once when one is under way; keep the first one's promise,
  // so whoever comes second (the `finally` after Ctrl-C broke a run) still waits for the machine
  // to be gone and its cgroups removed.
  let poweringOff: Promise<void> | undefined
  const powerOff = () => (poweringOff ??= machine.shutdown())
  shutdown = powerOff
  if (interrupted) {
    await powerOff()
    return
  }
  try {
    const systemctl = (...args: ReadonlyArray<string>) => run([...machine.prefix, "systemctl", ...args])
    /** Unit properties from `systemctl show`. */
    const show = async (unit: string, properties: ReadonlyArray<string>) => {
      const out = await systemctl("show", "-p", properties.join(","), unit)
      const values = new Map<string, string>()
      for (const line of out.split("\n")) {
        const eq = line.indexOf("=")
        if (eq > 0) values.set(line.slice(0, eq), line.slice(eq + 1))
      }
      return (property: string) => values.get(property) ?? ""
    }
    // systemd's *TimestampMonotonic properties are CLOCK_MONOTONIC µs of the kernel this process
    // shares with the container (nspawn makes no time namespace); hrtime is CLOCK_MONOTONIC ns. So
    // a phase is read off systemd's own clock, not off when a poll happened to see it. A timestamp
    // outside [began, seen] means the clocks differ after all: fail rather than report nonsense.
    const monotonic = (value: string, began: bigint, seen: bigint, what: string) => {
      const ns = BigInt(value || "0") * 1000n
      if (ns < began || ns > seen) {
        throw new Error(`${what}=${value}µs is outside the measured window [${began / 1000n}, ${seen / 1000n}]µs`)
      }
      return ns
    }

    const adapter = await Effect.runPromise(
      SystemdAdapter.make({
        prefix: machine.prefix,
        root: machine.root,
        systemd: (c) => Either.getOrThrow(SystemdSection.decode(c.name === "bench-open" ? { hardening: false } : {}))
      })
    )
    const version = await Effect.runPromise(adapter.systemctl.version)
    const example = await Effect.runPromise(DaemonConfig.load(join(repo, "examples/http-counter/duende.json")))
    // The example restarts on-failure; Restart=always as asked of the benchmark (a SIGKILL is a
    // failure, so on-failure would restart it just the same). No crash-loop limit in the way.
    const config: DaemonConfig.DaemonConfig = {
      ...example,
      name: "bench-hardened",
      env: { ...example.env, PORT: "28080" },
      restart: { ...example.restart, policy: "always", crashLoop: { ...example.restart.crashLoop, burst: 10_000 } }
    }
    const at = (name: string, port: number): DaemonConfig.DaemonConfig => ({ ...config, name, env: { ...config.env, PORT: String(port) } })
    const bareStartPort = "28081"
    const bareStopPort = "28085"
    await Effect.runPromise(adapter.install(config))
    await Effect.runPromise(adapter.install(at("bench-open", 28082)))
    // Crashed over and over, so they run all along: the hardened unit as configured, and again
    // with the restart backoff's initial delay at 0.
    await Effect.runPromise(adapter.install(at("bench-crash", 28083)))
    const fast = at("bench-crash-fast", 28084)
    await Effect.runPromise(adapter.install({ ...fast, restart: { ...fast.restart, backoff: { ...fast.restart.backoff, initial: Duration.zero } } }))
    await systemctl("start", "bench-crash.service", "bench-crash-fast.service")
    const restartSec = {
      configured: (await show("bench-crash.service", ["RestartUSec"]))("RestartUSec"),
      fast: (await show("bench-crash-fast.service", ["RestartUSec"]))("RestartUSec")
    }
    const [node, script] = (await Effect.runPromise(adapter.units(config))).argv

    // --- 1. start → ready -----------------------------------------------------------------------
    const viaSystemd = (unit: string) => async () => {
      const began = performance.now()
      await systemctl("start", unit)
      const took = performance.now() - began
      await systemctl("stop", unit)
      return took
    }
    /** Bare node in the container's mounts and network until it logs "ready"; ms from spawn. */
    const bareUntilReady = (port: string) =>
      new Promise<{ readonly child: ChildProcess; readonly took: number }>((resolve, reject) => {
        const began = performance.now()
        // Not its pid namespace: nsenter execs env, env execs node, so signals reach node itself.
        const child = spawn(
          "nsenter",
          ["-t", String(machine.leader), "-m", "-n", "-u", "-i", "env", `PORT=${port}`, node!, script!],
          { stdio: ["ignore", "ignore", "pipe"] }
        )
        let seen = ""
        const early = (code: number | null) => reject(new Error(`bare node exited (${code}) before ready:\n${seen}`))
        child.once("exit", early)
        child.stderr!.on("data", (chunk: Buffer) => {
          seen += chunk.toString()
          if (/\] ready\n/.test(seen)) {
            const took = performance.now() - began
            child.off("exit", early)
            child.stderr!.removeAllListeners("data").resume()
            resolve({ child, took })
          }
        })
        child.once("error", reject)
      })
    /** SIGTERM, and ms until the process is gone. */
    const terminate = (child: ChildProcess) =>
      new Promise<number>((resolve) => {
        const began = performance.now()
        child.once("exit", () => resolve(performance.now() - began))
        child.kill("SIGTERM")
      })
    const bareStart = async () => {
      const { child, took } = await bareUntilReady(bareStartPort)
      await terminate(child)
      return took
    }

    // --- 2. crash → ready again -----------------------------------------------------------------
    const crashPhases = {
      configured: phases(["systemctl kill → main process gone (ActiveExit)", "→ new main process (ExecMainStart)", "→ READY=1 (ActiveEnter)"]),
      fast: phases(["systemctl kill → main process gone (ActiveExit)", "→ new main process (ExecMainStart)", "→ READY=1 (ActiveEnter)"])
    }
    const crashThenReady = (unit: string, record: (typeof crashPhases)["fast"]) => async () => {
      const before = await show(unit, ["ActiveState", "MainPID", "NRestarts"])
      if (before("ActiveState") !== "active") throw new Error(`${unit} is ${before("ActiveState")} before the crash`)
      const began = process.hrtime.bigint()
      await systemctl("kill", "-s", "KILL", "--kill-whom=main", unit)
      const deadline = Date.now() + 30_000
      while (Date.now() < deadline) {
        // The exact times come from systemd's timestamps, so polling only decides when we look:
        // every 50 ms keeps the spawned systemctls from competing with the restarting daemon.
        await sleep(50)
        const now = await show(unit, [
          "ActiveState",
          "MainPID",
          "NRestarts",
          "ActiveExitTimestampMonotonic",
          "ExecMainStartTimestampMonotonic",
          "ActiveEnterTimestampMonotonic"
        ])
        const seen = process.hrtime.bigint()
        const restarted = now("MainPID") !== "0" && now("MainPID") !== before("MainPID") &&
          Number(now("NRestarts")) > Number(before("NRestarts"))
        if (now("ActiveState") !== "active" || !restarted) continue
        const gone = monotonic(now("ActiveExitTimestampMonotonic"), began, seen, "ActiveExitTimestampMonotonic")
        const forked = monotonic(now("ExecMainStartTimestampMonotonic"), began, seen, "ExecMainStartTimestampMonotonic")
        const ready = monotonic(now("ActiveEnterTimestampMonotonic"), began, seen, "ActiveEnterTimestampMonotonic")
        record.add("systemctl kill → main process gone (ActiveExit)", msSince(began, gone))
        record.add("→ new main process (ExecMainStart)", msSince(gone, forked))
        record.add("→ READY=1 (ActiveEnter)", msSince(forked, ready))
        return msSince(began, ready)
      }
      throw new Error(`${unit} was not active again with a new main process within 30s`)
    }

    // --- 3. graceful stop -----------------------------------------------------------------------
    const stopPhases = phases([
      "systemctl stop → stopping (ActiveExit)",
      "→ main process exited (ExecMainExit)",
      "→ inactive (InactiveEnter)",
      "→ systemctl returned"
    ])
    const stopViaSystemd = (unit: string) => async () => {
      await systemctl("start", unit)
      const began = process.hrtime.bigint()
      await systemctl("stop", unit)
      const returned = process.hrtime.bigint()
      const now = await show(unit, [
        "ActiveState",
        "ActiveExitTimestampMonotonic",
        "ExecMainExitTimestampMonotonic",
        "InactiveEnterTimestampMonotonic"
      ])
      // Duende exits 143 after SIGTERM, SuccessExitStatus= makes that "inactive", not "failed".
      if (now("ActiveState") !== "inactive") throw new Error(`${unit} is ${now("ActiveState")} after systemctl stop`)
      const stopping = monotonic(now("ActiveExitTimestampMonotonic"), began, returned, "ActiveExitTimestampMonotonic")
      const exited = monotonic(now("ExecMainExitTimestampMonotonic"), began, returned, "ExecMainExitTimestampMonotonic")
      const inactive = monotonic(now("InactiveEnterTimestampMonotonic"), began, returned, "InactiveEnterTimestampMonotonic")
      stopPhases.add("systemctl stop → stopping (ActiveExit)", msSince(began, stopping))
      stopPhases.add("→ main process exited (ExecMainExit)", msSince(stopping, exited))
      stopPhases.add("→ inactive (InactiveEnter)", msSince(exited, inactive))
      stopPhases.add("→ systemctl returned", msSince(inactive, returned))
      return msSince(began, returned)
    }
    const bareStop = async () => terminate((await bareUntilReady(bareStopPort)).child)

    const names = {
      hardened: "systemctl start (Type=notify, hardened)",
      open: "systemctl start (hardening off)",
      bare: "bare node",
      crash: `systemd, RestartSec=${restartSec.configured} (as the example configures)`,
      crashFast: `systemd, RestartSec=${restartSec.fast} (backoff.initial 0)`,
      stop: "systemctl stop (hardened)",
      bareStop: "bare node (SIGTERM → exit)"
    }
    const samples = await interleave(
      [
        { name: names.hardened, run: viaSystemd("bench-hardened.service") },
        { name: names.open, run: viaSystemd("bench-open.service") },
        { name: names.bare, run: bareStart },
        { name: names.crash, run: crashThenReady("bench-crash.service", crashPhases.configured) },
        { name: names.crashFast, run: crashThenReady("bench-crash-fast.service", crashPhases.fast) },
        { name: names.stop, run: stopViaSystemd("bench-hardened.service") },
        { name: names.bareStop, run: bareStop }
      ],
      rounds,
      warmup
    )
    const pick = (entries: ReadonlyArray<readonly [string, string]>) =>
      Object.fromEntries(entries.map(([as, name]) => [as, samples[name]!]))

    report(
      `systemd ${version}: start → ready of examples/http-counter`,
      pick([[names.hardened, names.hardened], [names.open, names.open], [names.bare, names.bare]]),
      names.bare
    )
    const reference = "bare node start (reference)"
    report(
      `systemd ${version}: crash → ready again (SIGKILL to the main process, Restart=always, hardened; until active with a new MainPID)`,
      pick([[reference, names.bare], [names.crash, names.crash], [names.crashFast, names.crashFast]]),
      reference
    )
    const configured = crashPhases.configured.measured()
    breakdown(`systemd ${version}: crash → ready again, phases (RestartSec=${restartSec.configured})`, configured)
    breakdown(`systemd ${version}: crash → ready again, phases (RestartSec=${restartSec.fast})`, crashPhases.fast.measured())
    if (!json) {
      const waited = median(configured["→ new main process (ExecMainStart)"]!)
      console.log(
        `  RestartSec=${restartSec.configured} is what SystemdUnit renders from the example's restart.backoff.initial` +
          ` (${Duration.format(example.restart.backoff.initial)}): between the old process's death and the new one` +
          ` systemd waited a median ${waited.toFixed(0)} ms of the ${median(samples[names.crash]!).toFixed(0)} ms.` +
          (version < SystemdUnit.restartStepsSince
            ? ` systemd ${version} < ${SystemdUnit.restartStepsSince} has no RestartSteps=, so every restart waits the same` +
              " (no exponential backoff)."
            : "") +
          ` The RestartSec=${restartSec.fast} row is the same hardened unit with backoff.initial 0: systemd's own mechanics.`
      )
    }
    report(
      `systemd ${version}: graceful stop → process gone`,
      pick([[names.bareStop, names.bareStop], [names.stop, names.stop]]),
      names.bareStop
    )
    breakdown(`systemd ${version}: systemctl stop, phases`, stopPhases.measured())
  } finally {
    await powerOff()
  }
}

main().then(
  () => process.exit(interrupted ? 130 : 0),
  (error) => {
    // After a signal the failure is a systemctl that got the same Ctrl-C: not news.
    if (!interrupted) console.error(error)
    process.exit(interrupted ? 130 : 1)
  }
)
