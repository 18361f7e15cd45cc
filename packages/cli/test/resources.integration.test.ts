// `resources` enforced for real by the native supervisor: a daemon that grows past
// resources.memory is killed by the kernel in its memory cgroup (or, with cgroups off, stopped
// by the supervisor's RSS sampling) and restarted, the reason in `duende status`; pids.max
// stops a fork bomb; cpuQuota, cpuWeight and openFilesMax reach the kernel; `duende doctor`
// says what this host can enforce. Needs a writable cgroup (root here; a delegated v2 subtree
// elsewhere): without one the suite is skipped, a failure under DUENDE_REQUIRE_INTEGRATION.
import { NativeAdapter } from "@duende/core/manager"
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { runner } from "./helpers/cli.js"

const support = NativeAdapter.resourceSupport()
const usable = (controller: string) => support.find((entry) => entry.controller === controller)?.how?.startsWith("cgroup") === true
const ready = usable("memory") && usable("pids") && usable("cpu")
if (!ready && process.env.DUENDE_REQUIRE_INTEGRATION === "1") {
  throw new Error(`resources suite: no writable memory/pids/cpu cgroup here: ${JSON.stringify(support)}`)
}

const home = mkdtempSync(join(tmpdir(), "duende-resources-"))
const duende = runner({ DUENDE_HOME: home }, 90_000)
const hog = join(__dirname, "fixtures", "memory-hog.mjs")

afterAll(async () => {
  await duende("shutdown")
  rmSync(home, { recursive: true, force: true })
}, 60_000)

const writeConfig = (name: string, config: object) => {
  const path = join(home, `${name}.json`)
  writeFileSync(path, JSON.stringify({ name, shutdownTimeout: "2s", ...config }))
  return path
}

interface Info {
  readonly status: string
  readonly pid: number | null
  readonly restarts: number
  readonly lastExit: string | null
  readonly limits: ReadonlyArray<{ readonly limit: string; readonly how: string | null; readonly why: string | null }>
}
const status = async (name: string): Promise<Info> => JSON.parse((await duende("status", name, "--json")).stdout)

const until = async <A>(what: string, look: () => Promise<A | undefined>, timeoutMs = 45_000): Promise<A> => {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    const found = await look()
    if (found !== undefined) return found
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`timed out waiting for ${what}`)
}

const restart = { policy: "on-failure", backoff: { initial: "300ms", max: "1s" }, crashLoop: { burst: 50, interval: "1m" } }

describe.skipIf(!ready)("resources under the native supervisor", () => {
  it("a daemon past resources.memory is killed in its memory cgroup, restarted, the OOM kill named in status", async () => {
    const config = writeConfig("leaky", {
      command: ["node", hog],
      resources: { memory: "96M" },
      restart,
      platform: { native: { ready: "started" } }
    })
    expect((await duende("start", config)).code).toBe(0)
    const failed = await until("an OOM kill", async () => {
      const info = await status("leaky")
      return info.lastExit?.includes("OOM killer") && info.restarts >= 1 ? info : undefined
    })
    expect(failed.lastExit).toMatch(/killed by SIGKILL \(the kernel's OOM killer: memory limit 96M reached\)/)
    expect(failed.limits).toContainEqual(expect.objectContaining({ limit: "memory", how: expect.stringMatching(/^cgroup v[12] memory\.(limit_in_bytes|max) /) }))
    const details = (await duende("status", "leaky")).stdout
    expect(details).toMatch(/limits +memory: cgroup v[12] memory\./)
    expect((await duende("logs", "leaky", "-n", "200")).stdout).toContain("[duende] ended by the kernel's OOM killer: memory limit 96M reached")
    expect((await duende("rm", "leaky")).code).toBe(0)
  }, 120_000)

  it("with cgroups off, the supervisor samples the tree's RSS and restarts it after memoryGrace, saying why", async () => {
    const config = writeConfig("sampled", {
      command: ["node", hog],
      env: { HOG_MAX_MIB: "256" },
      resources: { memory: "96M", cpuQuota: 50 },
      restart,
      platform: { native: { ready: "started", cgroups: false, memoryGrace: "1s" } }
    })
    expect((await duende("start", config)).code).toBe(0)
    const failed = await until("an RSS restart", async () => {
      const info = await status("sampled")
      return info.lastExit?.includes("RSS sampling") && info.restarts >= 1 ? info : undefined
    })
    expect(failed.lastExit).toMatch(/\(memory limit 96M exceeded: the process tree used \d+\.\d MiB for \d/)
    expect(failed.limits).toContainEqual(expect.objectContaining({ limit: "memory", how: expect.stringMatching(/^RSS sampling/) }))
    expect(failed.limits).toContainEqual({ limit: "cpuQuota", how: null, why: expect.stringMatching(/cgroups are turned off/) })
    const logs = (await duende("logs", "sampled", "-n", "200")).stdout
    expect(logs).toContain("resources.cpuQuota is not enforced: cgroups are turned off")
    expect(logs).toMatch(/memory limit 96M exceeded: .*; stopping it to restart/)
    expect((await duende("rm", "sampled")).code).toBe(0)
  }, 120_000)

  it("pids.max stops a fork bomb at the limit: the kernel refuses the forks past it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "duende-bomb-"))
    chmodSync(dir, 0o755)
    const bomb = join(dir, "bomb.sh")
    writeFileSync(bomb, "#!/bin/sh\ni=0\nwhile [ $i -lt 200 ]; do sleep 300 & i=$((i+1)); done\necho forked all\nwait\n", { mode: 0o755 })
    const config = writeConfig("bomb", {
      command: [bomb],
      resources: { pidsMax: 16 },
      restart: { policy: "never" },
      platform: { native: { ready: "started" } }
    })
    await duende("start", config)
    const logs = await until("the bomb to hit its limit", async () => {
      const text = (await duende("logs", "bomb", "-n", "400")).stdout
      return /Cannot fork/.test(text) ? text : undefined
    })
    expect(logs).not.toContain("forked all")
    const info = await status("bomb")
    const group = info.limits.find((entry) => entry.limit === "pidsMax")!.how!.match(/\((.*)\)$/)![1]!
    expect(Number(readFileSync(join(group, "pids.events"), "utf8").match(/^max (\d+)$/m)![1])).toBeGreaterThan(0)
    expect(readFileSync(join(group, "pids.max"), "utf8").trim()).toBe("16")
    // Its tree went with it: nothing is left in the group.
    await until("the group to empty", async () => readFileSync(join(group, "cgroup.procs"), "utf8").trim() === "" || undefined)
    expect((await duende("rm", "bomb")).code).toBe(0)
    rmSync(dir, { recursive: true, force: true })
  }, 120_000)

  it("cpuQuota, cpuWeight, openFilesMax and lockMemory (no swap) reach the kernel", async () => {
    const config = writeConfig("capped", {
      command: ["node", join(__dirname, "fixtures", "ticker.mjs")],
      resources: { cpuQuota: 50, cpuWeight: 200, openFilesMax: 321, lockMemory: true },
      platform: { native: { ready: "started" } }
    })
    expect((await duende("start", config)).code).toBe(0)
    const info = await status("capped")
    const how = (limit: string) => info.limits.find((entry) => entry.limit === limit)!.how!
    const group = how("cpuQuota").match(/\((.*)\)$/)![1]!
    if (how("cpuQuota").startsWith("cgroup v2")) {
      expect(readFileSync(join(group, "cpu.max"), "utf8").trim()).toBe("50000 100000")
      expect(readFileSync(join(group, "cpu.weight"), "utf8").trim()).toBe("200")
    } else {
      expect(readFileSync(join(group, "cpu.cfs_quota_us"), "utf8").trim()).toBe("50000")
      expect(readFileSync(join(group, "cpu.shares"), "utf8").trim()).toBe("2048")
    }
    expect(readFileSync(join(group, "cgroup.procs"), "utf8").trim().split("\n")).toContain(String(info.pid))
    expect(how("openFilesMax")).toBe("prlimit RLIMIT_NOFILE")
    // lockMemory: out of swap (not mlockall, which V8 does not survive).
    const memoryGroup = how("lockMemory").match(/\((.*)\)$/)![1]!
    expect(readFileSync(join(memoryGroup, how("lockMemory").startsWith("cgroup v2") ? "memory.swap.max" : "memory.swappiness"), "utf8").trim()).toBe("0")
    expect(readFileSync(join(memoryGroup, "cgroup.procs"), "utf8").trim().split("\n")).toContain(String(info.pid))
    expect(readFileSync(`/proc/${info.pid}/limits`, "utf8")).toMatch(/^Max open files +321 +321 +files/m)
    expect((await duende("rm", "capped")).code).toBe(0)
  }, 120_000)

  it("doctor says, per controller, how limits are enforced here", async () => {
    const doctor = await duende("doctor")
    expect(doctor.stdout).toMatch(/^limits +memory +cgroup v[12] under \//m)
    expect(doctor.stdout).toMatch(/^ +pids +cgroup v[12] under \//m)
    const json = JSON.parse((await duende("doctor", "--json")).stdout)
    expect(json.resources.map((entry: { controller: string }) => entry.controller)).toEqual(["memory", "cpu", "pids", "io"])
  })
})
