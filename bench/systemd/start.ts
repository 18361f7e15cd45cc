// `systemctl start` → active for the example HTTP daemon (Type=notify: systemctl returns
// once the daemon sent READY=1 after its server listens) against bare node starting the
// same script until it is ready, both inside one systemd booted in systemd-nspawn,
// interleaved. Prints medians and their ratio.
//
//   node --import tsx bench/systemd/start.ts [runs]      (as root; needs systemd-container)
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import * as Effect from "effect/Effect"
import { execFile, spawn } from "node:child_process"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as SystemdAdapter from "../../packages/platform-systemd/src/SystemdAdapter.js"
import { boot } from "../../packages/platform-systemd/test/helpers/nspawn.js"

const runs = Number(process.argv[2] ?? "15")
const script = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "packages", "platform-systemd", "test", "fixtures", "http-daemon.mjs")

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const run = (argv: ReadonlyArray<string>) =>
  new Promise<void>((resolve, reject) =>
    execFile(argv[0]!, argv.slice(1), (error, _stdout, stderr) => (error ? reject(new Error(`${argv.join(" ")}: ${stderr}`)) : resolve()))
  )

const main = async () => {
  const machine = await boot()
  try {
    const adapter = await Effect.runPromise(SystemdAdapter.make({ prefix: machine.prefix, root: machine.root }))
    const config = decodeSync({
      name: "bench-http",
      command: ["node", script],
      env: { PORT: "28080" },
      restart: { crashLoop: { burst: 10_000 } }
    })
    await Effect.runPromise(adapter.install(config))
    const node = (await Effect.runPromise(adapter.units(config))).argv[0]!

    const viaSystemd = async () => {
      const began = performance.now()
      await run([...machine.prefix, "systemctl", "start", "bench-http.service"])
      const took = performance.now() - began
      await run([...machine.prefix, "systemctl", "stop", "bench-http.service"])
      return took
    }
    const bare = () =>
      new Promise<number>((resolve, reject) => {
        const began = performance.now()
        const child = spawn(machine.prefix[0]!, [...machine.prefix.slice(1), "env", "PORT=28081", node, script], {
          stdio: ["ignore", "ignore", "pipe"]
        })
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

    // Warm the page cache and both paths once before measuring.
    await viaSystemd()
    await bare()
    const systemd: Array<number> = []
    const plain: Array<number> = []
    for (let i = 0; i < runs; i++) {
      systemd.push(await viaSystemd())
      plain.push(await bare())
    }
    const a = median(systemd)
    const b = median(plain)
    console.log(`runs: ${runs} each, interleaved, systemd ${(await Effect.runPromise(adapter.systemctl.version))} in nspawn`)
    console.log(`systemctl start → active (Type=notify, hardened unit): median ${a.toFixed(1)} ms`)
    console.log(`bare node, same script → ready:                      median ${b.toFixed(1)} ms`)
    console.log(`ratio systemd / bare: ${(a / b).toFixed(2)}`)
  } finally {
    await machine.shutdown()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
