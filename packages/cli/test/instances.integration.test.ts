// `instances` through the CLI: a config run as N real processes on the supervisor's one held
// socket, shown together and one by one, scaled with `duende scale`, its logs interleaved, and
// restored as the same processes by the next supervisor after a kill -9.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { runner } from "./helpers/cli.js"

const home = mkdtempSync(join(tmpdir(), "duende-instances-cli-"))
const duende = runner({ DUENDE_HOME: home, DUENDE_METRICS_PORT: "off" }, 60_000)
// The core package's fixture: answers "<DUENDE_INSTANCE> <pid>" on the socket passed as fd 3.
const server = join(__dirname, "..", "..", "core", "test", "fixtures", "instance-server.mjs")
const port = 20_000 + Math.floor(Math.random() * 20_000)

afterAll(async () => {
  await duende("shutdown")
  rmSync(home, { recursive: true, force: true })
}, 60_000)

const get = (): Promise<string> =>
  new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false, timeout: 5_000 }, (res) => {
      let body = ""
      res.on("data", (chunk) => (body += chunk))
      res.on("end", () => resolve(body.trim()))
    })
    req.on("timeout", () => req.destroy(new Error("timeout")))
    req.on("error", (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`))
    req.end()
  })

interface Info {
  readonly name: string
  readonly status: string
  readonly statusTag: string
  readonly pid: number | null
  readonly logFile: string
  readonly instances?: ReadonlyArray<Info>
}
const status = async (name = "web"): Promise<Info> => {
  const result = await duende("status", name, "--json")
  expect(result.stderr).toBe("")
  return JSON.parse(result.stdout)
}
const list = async (): Promise<ReadonlyArray<Info>> => JSON.parse((await duende("ls", "--json")).stdout)
const pids = (info: Info) => info.instances!.map((each) => each.pid)
/** The processes running for this file's daemons (their log file is under its home): each once. */
const ours = (): Array<number> =>
  readdirSync("/proc").filter((name) => /^\d+$/.test(name)).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, "utf8").includes(`DUENDE_LOG_FILE=${join(home, "logs")}/web@`)
    } catch {
      return false
    }
  }).map(Number)

const config = join(home, "web.json")
writeFileSync(config, JSON.stringify({
  name: "web",
  command: ["node", server],
  instances: 3,
  listen: [{ name: "http", port }],
  shutdownTimeout: "3s",
  platform: { native: { ready: "started" } }
}))

describe("instances through the CLI", () => {
  it("start runs every instance on the one socket; status sums them up and lists each; ls shows each", async () => {
    const started = await duende("start", config)
    expect(started.stderr).toBe("")
    expect(started.code).toBe(0)
    expect(started.stdout).toMatch(/^web: running \(3 instances\)\n {2}web@0: running \(pid \d+\)\n {2}web@1: running/)
    const info = await status()
    expect(info).toMatchObject({ name: "web", statusTag: "Running", pid: null })
    expect(info.instances!.map((each) => [each.name, each.statusTag])).toEqual([
      ["web@0", "Running"],
      ["web@1", "Running"],
      ["web@2", "Running"]
    ])
    expect(new Set(pids(info)).size).toBe(3)
    expect((await list()).map((each) => each.name)).toEqual(["web@0", "web@1", "web@2"])
    // Each answers as itself: its number and pid, as the supervisor reports them.
    const answers = await Promise.all(Array.from({ length: 90 }, get))
    const seen = new Map(answers.map((answer) => [answer.split(" ")[1], answer.split(" ")[0]]))
    expect(answers.filter((answer) => !/^[0-2] \d+$/.test(answer))).toEqual([])
    for (const [pid, instance] of seen) expect(info.instances![Number(instance)]!.pid).toBe(Number(pid))
    // The text form names them too.
    const details = await duende("status", "web")
    expect(details.stdout).toMatch(/^web \(/)
    expect(details.stdout).toMatch(/instances\n {4}NAME +STATUS.*\n {4}web@0 +running/)
    // One of them by its own name: a daemon like any other.
    expect(await status("web@2")).toMatchObject({ name: "web@2", pid: info.instances![2]!.pid, logFile: join(home, "logs", "web@2.log") })
    // Health of the config: every instance must be up.
    expect((await duende("health", "web")).code).toBe(0)
  }, 60_000)

  it("logs interleaves the instances' logs, each line naming its instance; without a name, every daemon's", async () => {
    const text = await duende("logs", "web")
    for (const instance of [0, 1, 2]) expect(text.stdout).toContain(`web@${instance} | `)
    expect(text.stdout).toMatch(/web@1 \| \S+ out instance 1 serving/)
    const lines = (await duende("logs", "web", "--json")).stdout.trim().split("\n").map((line) => JSON.parse(line))
    expect(new Set(lines.map((line) => line.daemon))).toEqual(new Set(["web@0", "web@1", "web@2"]))
    // Interleaved by time.
    const times = lines.map((line) => line.at as number)
    expect(times).toEqual([...times].sort((a, b) => a - b))
    // No name: every daemon's log, each line naming its daemon.
    const other = join(home, "other.json")
    writeFileSync(other, JSON.stringify({ name: "other", command: ["node", "-e", "console.log('other here'); setInterval(() => {}, 1e6)"] }))
    expect((await duende("start", other)).code).toBe(0)
    let all: Array<{ daemon: string; text: string }> = []
    for (let i = 0; i < 50 && !all.some((line) => line.daemon === "other"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      all = (await duende("logs", "--json")).stdout.trim().split("\n").map((line) => JSON.parse(line))
    }
    expect(new Set(all.map((line) => line.daemon))).toEqual(new Set(["web@0", "web@1", "web@2", "other"]))
    expect(all.find((line) => line.daemon === "other")?.text).toBe("other here")
    expect((await duende("logs")).stdout).toMatch(/^other \| \S+ out other here$/m)
    expect((await duende("rm", "other")).code).toBe(0)
    // With another platform, a name is needed.
    expect(await duende("logs", "--platform", "systemd")).toMatchObject({ code: 2, stderr: "duende: logs --platform systemd needs the daemon's name\n" })
  }, 30_000)

  it("scale adds instances that start at once and removes the last ones gracefully; the others keep their pids", async () => {
    const before = pids(await status())
    const up = await duende("scale", "web", "5")
    expect(up.stderr).toBe("")
    expect(up.stdout).toMatch(/^web: running \(5 instances\)/)
    const five = await status()
    expect(pids(five).slice(0, 3)).toEqual(before)
    expect(five.instances!.every((each) => each.statusTag === "Running")).toBe(true)
    const down = await duende("scale", "web", "2")
    expect(down.stdout).toMatch(/^web: running \(2 instances\)/)
    expect(pids(await status())).toEqual(before.slice(0, 2))
    expect((await list()).map((each) => each.name)).toEqual(["web@0", "web@1"])
    // The removed ones are gone for real, the socket is still served.
    for (const pid of pids(five).slice(2)) expect(() => process.kill(pid!, 0)).toThrow()
    expect(await get()).toMatch(/^[01] \d+$/)
    // The registry holds one entry per instance, with the count in the config.
    const registry = JSON.parse(readFileSync(join(home, "registry.json"), "utf8"))
    expect(registry.daemons.map((entry: { name: string; instance: number; config: { instances: number } }) => [entry.name, entry.instance, entry.config.instances]))
      .toEqual([["web@0", 0, 2], ["web@1", 1, 2]])
  }, 60_000)

  it("refuses what would not make sense, saying what to do instead", async () => {
    const bad = await duende("scale", "web", "0")
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/not a number of instances: 0 \(1–256, or max\)/)
    const member = await duende("scale", "web@1", "3")
    expect(member.code).not.toBe(0)
    expect(member.stderr).toMatch(/web@1 is one instance; scale its config: `duende scale web N`/)
    const removeOne = await duende("rm", "web@1")
    expect(removeOne.code).not.toBe(0)
    expect((await list()).map((each) => each.name)).toEqual(["web@0", "web@1"])
    // Another platform runs one process per install: refused, never silently one.
    const elsewhere = await duende("install", config, "--platform", "container", "--driver", "runc")
    expect(elsewhere.code).toBe(1)
    expect(elsewhere.stderr).toMatch(/container cannot run 3 instances of web: run them with the native supervisor/)
    const container = await duende("render", "podman", config, "--image", "localhost/web:1")
    expect(container.code).toBe(0)
    expect(container.stderr).toMatch(/instances: 3 is not rendered for podman: a container runs one process/)
    // systemd: a template whose instances share the .socket, wanted by one target.
    const units = await duende("render", "systemd", config, "--systemd-version", "252")
    expect(units.stderr).toBe("")
    expect(units.stdout).toMatch(/^# web@\.service: written by Duende/m)
    expect(units.stdout).toMatch(/^Wants=web@0\.service web@1\.service web@2\.service$/m)
    const unknown = await duende("scale", "nope", "2")
    expect(unknown.code).not.toBe(0)
    expect(unknown.stderr).toMatch(/nope/)
  }, 30_000)

  it("a supervisor killed with -9 comes back with the same instances, same pids, none run twice", async () => {
    const before = pids(await status())
    const supervisor = Number(readFileSync(join(home, "supervisor.pid"), "utf8"))
    process.kill(supervisor, "SIGKILL")
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect((await duende("resurrect")).code).toBe(0)
    const after = await status()
    expect(pids(after)).toEqual(before)
    expect(after.instances!.every((each) => each.statusTag === "Running")).toBe(true)
    expect(ours().sort()).toEqual([...before].sort())
    expect(await get()).toMatch(/^[01] \d+$/)
  }, 60_000)

  it("stop and rm take every instance; the socket closes with the last", async () => {
    expect((await duende("stop", "web")).stdout).toMatch(/^web: stopped \(2 instances\)/)
    expect((await duende("rm", "web")).code).toBe(0)
    expect(await list()).toEqual([])
    expect(await get()).toBe("error ECONNREFUSED")
  }, 60_000)
})
