// `systemctl start` → active for the example daemon, examples/http-counter, under systemd
// (Type=notify: systemctl returns once the daemon sent READY=1 after its server listens),
// against bare node starting the same script until it logs "ready"; the same unit with
// hardening off shows what the sandbox costs. One systemd 252 booted as PID 1 in
// systemd-nspawn (packages/platform-systemd/test/helpers/nspawn.ts), runs interleaved.
// Needs root and systemd-container; run through ./run.mjs (npm run bench -- --only systemd).
import { DaemonConfig } from "@duende/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { execFile, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as SystemdAdapter from "../../packages/platform-systemd/src/SystemdAdapter.js"
import * as SystemdSection from "../../packages/platform-systemd/src/SystemdSection.js"
import { boot } from "../../packages/platform-systemd/test/helpers/nspawn.js"
import { interleave, option, report } from "../lib.mjs"

const repo = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..")
const rounds: number = option("rounds", 15)
if (!existsSync(join(repo, "examples/http-counter/dist/main.js"))) {
  console.error("systemd benchmark: build the example first (npm run build)")
  process.exit(1)
}

const run = (argv: ReadonlyArray<string>) =>
  new Promise<void>((resolve, reject) =>
    execFile(argv[0]!, argv.slice(1), (error, _stdout, stderr) => (error ? reject(new Error(`${argv.join(" ")}: ${stderr}`)) : resolve()))
  )

const main = async () => {
  const machine = await boot()
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void machine.shutdown().finally(() => process.exit(130)))
  }
  try {
    const adapter = await Effect.runPromise(
      SystemdAdapter.make({
        prefix: machine.prefix,
        root: machine.root,
        systemd: (c) => Either.getOrThrow(SystemdSection.decode(c.name === "bench-open" ? { hardening: false } : {}))
      })
    )
    const example = await Effect.runPromise(DaemonConfig.load(join(repo, "examples/http-counter/duende.json")))
    const config = {
      ...example,
      name: "bench-hardened",
      env: { ...example.env, PORT: "28080" },
      restart: { ...example.restart, crashLoop: { ...example.restart.crashLoop, burst: 10_000 } }
    }
    await Effect.runPromise(adapter.install(config))
    await Effect.runPromise(adapter.install({ ...config, name: "bench-open", env: { ...config.env, PORT: "28082" } }))
    const [node, script] = (await Effect.runPromise(adapter.units(config))).argv

    const viaSystemd = (unit: string) => async () => {
      const began = performance.now()
      await run([...machine.prefix, "systemctl", "start", unit])
      const took = performance.now() - began
      await run([...machine.prefix, "systemctl", "stop", unit])
      return took
    }
    const bare = () =>
      new Promise<number>((resolve, reject) => {
        const began = performance.now()
        // The container's mounts and network, not its pid namespace: nsenter execs node
        // itself, so the signal below reaches node.
        const child = spawn(
          "nsenter",
          ["-t", String(machine.leader), "-m", "-n", "-u", "-i", "env", "PORT=28081", node!, script!],
          { stdio: ["ignore", "ignore", "pipe"] }
        )
        let seen = ""
        child.stderr.on("data", (chunk: Buffer) => {
          seen += chunk.toString()
          if (/\] ready\n/.test(seen)) {
            const took = performance.now() - began
            child.once("exit", () => resolve(took))
            child.kill("SIGTERM")
          }
        })
        child.once("error", reject)
      })

    const samples = await interleave(
      [
        { name: "systemctl start (Type=notify, hardened)", run: viaSystemd("bench-hardened.service") },
        { name: "systemctl start (hardening off)", run: viaSystemd("bench-open.service") },
        { name: "bare node", run: bare }
      ],
      rounds
    )
    report(`systemd ${await Effect.runPromise(adapter.systemctl.version)}: start → ready of examples/http-counter`, samples, "bare node")
  } finally {
    await machine.shutdown()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
