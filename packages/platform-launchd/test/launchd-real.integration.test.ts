// Only on macOS, with DUENDE_LAUNCHD_REAL=1 (the macOS workflow, .github/workflows/macos.yml):
// what no stand-in can show. Apple's plutil accepts every rendered plist; launchd itself runs a
// job, `launchctl print`'s real output reads as the adapter expects; socket activation hands
// the daemon a socket launchd listens on, through launch_activate_socket.
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { Integration } from "@duende/testing"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createConnection, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Launchctl from "../src/Launchctl.js"
import * as LaunchdAdapter from "../src/LaunchdAdapter.js"
import * as LaunchdJob from "../src/LaunchdJob.js"

const wanted = process.env.DUENDE_LAUNCHD_REAL === "1"
const gate = wanted
  ? Integration.check(
    () => (process.platform === "darwin" ? undefined : "DUENDE_LAUNCHD_REAL=1 needs macOS"),
    Integration.tool("launchctl", "launchctl ships with macOS"),
    Integration.tool("plutil", "plutil ships with macOS")
  )
  : { ok: false, label: " [skipped: macOS only; set DUENDE_LAUNCHD_REAL=1 there]" }

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer()
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

describe.skipIf(!gate.ok)(`real launchd${gate.label}`, () => {
  const root = gate.ok ? mkdtempSync(join(tmpdir(), "duende-launchd-real-")) : ""
  afterAll(() => (root === "" ? undefined : rmSync(root, { recursive: true, force: true })))
  const directories = { plists: join(root, "LaunchAgents"), logs: join(root, "Logs"), state: join(root, "records") }
  const agentDomain = process.env.DUENDE_LAUNCHD_DOMAIN === "user" ? "user" : "gui"

  it("plutil -lint accepts rendered plists, agent and daemon, with hostile but writable values", () => {
    const configs = [
      decodeSync({ name: "lint-a", command: ["node", "x.js"], env: { A: "a & <b> ]]> \r\n \u0085 \u2028 💥" } }),
      decodeSync({
        name: "lint-b",
        command: ["/bin/sh", "-c", "exit 0"],
        user: "nobody",
        restart: { policy: "always" },
        resources: { openFilesMax: 1024, lockMemory: true, cpuWeight: 10 },
        platform: { launchd: { domain: "system", sockets: { http: { listen: ["8080", "[::1]:8081"] } } } }
      })
    ]
    for (const config of configs) {
      const [artifact] = Either.getOrThrow(LaunchdJob.render(config))
      const file = join(root, artifact!.name)
      writeFileSync(file, artifact!.content)
      expect(execFileSync("plutil", ["-lint", file], { encoding: "utf8" })).toMatch(/: OK/)
    }
  })

  it.live("socket activation: launchd listens, the daemon gets the socket by name and serves on it", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const adapter = yield* LaunchdAdapter.make({ scope: "agent", agentDomain, directories })
      const handle = yield* adapter.install(
        decodeSync({
          name: "real-sockets",
          command: ["node", join(__dirname, "fixtures", "socket-daemon.mjs")],
          platform: { launchd: { sockets: { http: { listen: [`127.0.0.1:${port}`] } } } }
        })
      )
      yield* adapter.start(handle)
      const reply = yield* Effect.async<string>((resume) => {
        const client = createConnection(port, "127.0.0.1")
        let text = ""
        client.on("data", (chunk) => (text += chunk))
        client.on("end", () => resume(Effect.succeed(text)))
        client.on("error", (error) => resume(Effect.succeed(`error: ${error.message}`)))
      })
      expect(reply).toBe("served by http\n")
      // launchd's own words about the job, read the way the adapter reads them.
      const printed = execFileSync("launchctl", ["print", `${adapter.domain}/${handle.ref}`], { encoding: "utf8" })
      const info = Launchctl.parsePrint(printed)
      expect(info).toMatchObject({ source: "print", running: true, pid: (yield* adapter.status(handle)).pid })
      yield* adapter.stop(handle, Duration.seconds(10))
      expect((yield* adapter.status(handle)).lastExit).toMatchObject({ code: 143 })
      yield* adapter.uninstall(handle)
    }), 120_000)
})
