import type { DaemonConfig } from "@duende/core"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { dirname } from "node:path"
import * as LaunchdJob from "../src/LaunchdJob.js"
import * as Plist from "../src/Plist.js"

const host = { path: `${dirname(process.execPath)}:/usr/bin:/bin`, cwd: "/srv/app", home: "/Users/ada", uid: 501 }
const config = (input: Partial<DaemonConfig.Input> = {}) => decodeSync({ name: "api", command: ["node", "server.js"], ...input })
const job = (c: DaemonConfig.DaemonConfig, options: LaunchdJob.Options = {}) => {
  const result = LaunchdJob.make(c, { host, ...options })
  if (Either.isLeft(result)) throw new Error(result.left.message)
  return result.right
}
const refused = (c: DaemonConfig.DaemonConfig, options: LaunchdJob.Options = {}) => {
  const result = LaunchdJob.make(c, { host, ...options })
  if (Either.isRight(result)) throw new Error("expected a refusal")
  return result.left
}
/** The plist's dict as plain JS (integers as numbers where safe). */
const plain = (v: Plist.Value): unknown => {
  switch (v._tag) {
    case "dict":
      return Object.fromEntries(v.entries.map(([k, x]) => [k, plain(x)]))
    case "array":
      return v.items.map(plain)
    case "integer":
      return v.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v.value) : v.value
    case "date":
    case "data":
      return v.value
    default:
      return v.value
  }
}
const keys = (c: DaemonConfig.DaemonConfig, options: LaunchdJob.Options = {}) => plain(job(c, options).plist) as Record<string, any>
const warned = (j: LaunchdJob.Job) => j.warnings.map((w) => w.field)

describe("LaunchdJob: a DaemonConfig as a launchd job", () => {
  it("an agent: label from the name, absolute node and script, logs under ~/Library/Logs/duende", () => {
    const j = job(config({ env: { PORT: "8080" } }))
    expect(j.scope).toBe("agent")
    expect(j.label).toBe("duende.api")
    expect(j.fileName).toBe("duende.api.plist")
    expect(j.directories).toEqual({ plists: "/Users/ada/Library/LaunchAgents", logs: "/Users/ada/Library/Logs/duende" })
    const p = keys(config({ env: { PORT: "8080" } }))
    expect(p.Label).toBe("duende.api")
    expect(p.ProgramArguments[0]).toMatch(/^\/.*node$/)
    expect(p.ProgramArguments.slice(1)).toEqual(["/srv/app/server.js"])
    expect(p.EnvironmentVariables).toEqual({ PORT: "8080", DUENDE_PLATFORM: "launchd" })
    expect(p.WorkingDirectory).toBe("/srv/app")
    expect(p.StandardOutPath).toBe("/Users/ada/Library/Logs/duende/duende.api.out.log")
    expect(p.StandardErrorPath).toBe("/Users/ada/Library/Logs/duende/duende.api.err.log")
    expect(p.RunAtLoad).toBe(true)
    expect(p.ProcessType).toBe("Standard")
    expect(p.UserName).toBeUndefined()
    expect(LaunchdJob.domain("agent", 501)).toBe("gui/501")
  })

  it("a daemon: /Library paths, UserName and GroupName, the config's own label and domain", () => {
    const c = config({ user: "_www", group: "staff", platform: { launchd: { label: "com.example.api", domain: "system" } } })
    const j = job(c)
    expect(j.scope).toBe("daemon")
    expect(j.directories).toEqual({ plists: "/Library/LaunchDaemons", logs: "/Library/Logs/duende" })
    const p = keys(c)
    expect(p).toMatchObject({ Label: "com.example.api", UserName: "_www", GroupName: "staff" })
    expect(p.StandardOutPath).toBe("/Library/Logs/duende/com.example.api.out.log")
    expect(LaunchdJob.domain("daemon", 501)).toBe("system")
    // The scope asked for wins over the config's domain.
    expect(job(config(), { scope: "daemon" }).scope).toBe("daemon")
  })

  it("refuses user/group on an agent, saying why and what to do", () => {
    const error = refused(config({ user: "ada" }))
    expect(error.field).toBe("user")
    expect(error.message).toMatch(/LaunchAgent runs as the logged-in user.*refuses UserName\/GroupName.*LaunchDaemon/)
    expect(refused(config({ group: "staff" })).field).toBe("group")
  })

  it("restart policy as KeepAlive, backoff as ThrottleInterval, shutdownTimeout as ExitTimeOut", () => {
    expect(keys(config({ restart: { policy: "always" } })).KeepAlive).toBe(true)
    expect(keys(config({ restart: { policy: "unless-stopped" } })).KeepAlive).toBe(true)
    expect(keys(config({ restart: { policy: "never" } })).KeepAlive).toBe(false)
    expect(keys(config({ restart: { policy: "on-failure" } })).KeepAlive).toEqual({ SuccessfulExit: false, Crashed: true })
    expect(keys(config()).ThrottleInterval).toBe(1)
    expect(keys(config({ restart: { backoff: { initial: "10s" } } })).ThrottleInterval).toBe(10)
    expect(keys(config({ restart: { backoff: { initial: "1500ms" } } })).ThrottleInterval).toBe(2)
    expect(keys(config({ restart: { backoff: { initial: 0 } } })).ThrottleInterval).toBe(1)
    expect(keys(config({ shutdownTimeout: "30s" })).ExitTimeOut).toBe(30)
    expect(keys(config({ shutdownTimeout: "1ms" })).ExitTimeOut).toBe(1)
    expect(keys(config({ platform: { launchd: { runAtLoad: false } } })).RunAtLoad).toBe(false)
  })

  it("resources as resource limits, priority and process type", () => {
    const p = keys(config({ resources: { openFilesMax: 4096, pidsMax: 64, memory: "256M", lockMemory: true } }))
    const limits = { NumberOfFiles: 4096, NumberOfProcesses: 64, ResidentSetSize: 256 * 1024 ** 2, MemoryLock: 2n ** 63n - 1n }
    expect(p.SoftResourceLimits).toEqual(limits)
    expect(p.HardResourceLimits).toEqual(limits)
    expect(keys(config()).SoftResourceLimits).toBeUndefined()
    const low = keys(config({ resources: { cpuWeight: 20 } }))
    expect(low).toMatchObject({ ProcessType: "Background", LowPriorityIO: true, Nice: 7 })
    const high = keys(config({ resources: { cpuWeight: 1000 }, platform: { launchd: { domain: "system" } } }))
    expect(high).toMatchObject({ ProcessType: "Interactive", Nice: -10 })
    expect(high.LowPriorityIO).toBeUndefined()
    // An agent cannot raise its priority: Nice 0, and a warning.
    const agent = job(config({ resources: { cpuWeight: 1000 } }))
    expect((plain(agent.plist) as any).Nice).toBe(0)
    expect(warned(agent)).toContain("resources.cpuWeight")
    expect(keys(config({ resources: { cpuWeight: 20 }, platform: { launchd: { processType: "Adaptive" } } })).ProcessType).toBe("Adaptive")
  })

  it("warns about what launchd cannot express, by field, and lists it in the plist", () => {
    const j = job(config({
      resources: { cpuQuota: 50, ioReadBandwidth: "1M", ioWriteBandwidth: "1M", memorySwap: "1G", memory: "1G", pidsMax: 10 },
      watchdogInterval: "10s",
      after: ["db"],
      restart: { policy: "unless-stopped", backoff: { initial: "300ms" } }
    }))
    expect(warned(j).sort()).toEqual([
      "after",
      "initTimeout",
      "resources.cpuQuota",
      "resources.ioReadBandwidth",
      "resources.ioWriteBandwidth",
      "resources.memory",
      "resources.memorySwap",
      "resources.pidsMax",
      "restart.backoff",
      "restart.backoff.initial",
      "restart.crashLoop",
      "restart.policy",
      "watchdogInterval"
    ])
    const text = Either.getOrThrow(LaunchdJob.text(j))
    expect(text).toContain("Not expressible in launchd:")
    expect(text).toContain("resources.cpuQuota: launchd cannot cap CPU time")
    expect(text.indexOf("<!--")).toBeLessThan(text.indexOf("<plist"))
    // Nothing to warn about that launchd does: a never-restarting job has no backoff to lose.
    expect(warned(job(config({ restart: { policy: "never", backoff: { multiplier: 1, jitter: 0 } } })))).toEqual(["initTimeout"])
  })

  it("sockets: one dict per address, by name, and their names for the daemon", () => {
    const c = config({
      platform: {
        launchd: {
          sockets: {
            http: { listen: ["8080", "127.0.0.1:8081", "[::1]:8082"] },
            control: { listen: ["/var/run/api.sock"], pathMode: 0o660, kind: "datagram" }
          }
        }
      }
    })
    const j = job(c)
    expect(j.socketNames).toEqual(["http", "control"])
    const p = keys(c)
    expect(p.EnvironmentVariables.DUENDE_LAUNCHD_SOCKETS).toBe("http,control")
    expect(p.Sockets.http).toEqual([
      { SockType: "stream", SockPassive: true, SockServiceName: "8080" },
      { SockType: "stream", SockPassive: true, SockNodeName: "127.0.0.1", SockServiceName: "8081", SockFamily: "IPv4" },
      { SockType: "stream", SockPassive: true, SockNodeName: "::1", SockServiceName: "8082", SockFamily: "IPv6" }
    ])
    expect(p.Sockets.control).toEqual({ SockType: "dgram", SockPassive: true, SockFamily: "Unix", SockPathName: "/var/run/api.sock", SockPathMode: 432 })
    expect(() => config({ platform: { launchd: { sockets: { x: { listen: ["@abstract"] } } } } })).toThrow(/no abstract sockets/)
  })

  it("refuses a value no plist can hold, naming the field", () => {
    const env = refused(config({ env: { GREETING: "hi\u0001there" } }))
    expect(env.field).toBe("env.GREETING")
    expect(env.message).toBe(
      `cannot render the launchd job of "api": env.GREETING: contains U+0001 (a control character) at index 2, which XML 1.0 cannot carry; remove it`
    )
    expect(refused(config({ command: ["node", "server.js", "--x=\u001b[0m"] })).field).toBe("command.args[1]")
    expect(refused(config({ command: ["/opt/\uffff/bin"] })).field).toBe("command.program")
    expect(refused(config({ workingDirectory: "/srv/\u0007" })).field).toBe("workingDirectory")
    expect(refused(config({ command: ["no-such-program-anywhere"] })).message).toMatch(/not an executable on PATH/)
    // What XML carries is written, and kept: the writer escapes it.
    expect(keys(config({ env: { X: "a & <b> ]]> \r\n \u0085 💥" } })).EnvironmentVariables.X).toBe("a & <b> ]]> \r\n \u0085 💥")
  })

  it("a user's DUENDE_PLATFORM is kept", () => {
    expect(keys(config({ env: { DUENDE_PLATFORM: "native" } })).EnvironmentVariables).toEqual({ DUENDE_PLATFORM: "native" })
  })

  it("render: one artifact, named after the label", () => {
    const artifacts = Either.getOrThrow(LaunchdJob.render(config(), { host }))
    expect(artifacts.map((a) => [a.name, a.kind])).toEqual([["duende.api.plist", "launchd plist"]])
    expect(Plist.equals(Either.getOrThrow(Plist.parse(artifacts[0]!.content)), job(config()).plist)).toBe(true)
  })
})
