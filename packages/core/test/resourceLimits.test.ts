// The cgroup probe and the limit files, on directories that stand in for a host's /proc and
// /sys/fs/cgroup (a stand-in: plain files, no kernel behind them). The real kernel is in
// packages/cli/test/resources.integration.test.ts (cgroup v1 on these hybrid hosts); this
// suite is where the cgroup v2 layout (memory.max, cpu.max, io.max, subtree_control) is
// checked, since no host here has v2 controllers.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { limitsFor, probeCgroups } from "../src/internal/native/resourceLimits.js"

const roots: Array<string> = []
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
})

const host = (mountinfo: string, cgroup: string, dirs: Record<string, string>) => {
  const root = mkdtempSync(join(tmpdir(), "duende-cgroup-stand-in-"))
  roots.push(root)
  mkdirSync(join(root, "proc/self"), { recursive: true })
  writeFileSync(join(root, "proc/self/mountinfo"), mountinfo)
  writeFileSync(join(root, "proc/self/cgroup"), cgroup)
  for (const [dir, controllers] of Object.entries(dirs)) {
    mkdirSync(join(root, dir), { recursive: true })
    if (controllers !== "") writeFileSync(join(root, dir, "cgroup.controllers"), controllers)
  }
  return root
}

const unifiedHost = () =>
  host(
    "30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
    "0::/user.slice/user-1000.slice/user@1000.service/app.slice/duende.service\n",
    { "sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/duende.service": "cpu io memory pids\n" }
  )

describe("the cgroup probe (stand-in host files)", () => {
  it("on a hybrid host (v1 controllers, an empty v2), uses v1 for each controller under this process's own group", () => {
    const root = host(
      [
        "25 24 0:22 / /sys/fs/cgroup ro,nosuid shared:5 - tmpfs tmpfs ro,mode=755",
        "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:6 - cgroup2 cgroup2 rw",
        "27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid shared:7 - cgroup cgroup rw,memory",
        "28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:8 - cgroup cgroup rw,cpu,cpuacct",
        "29 25 0:26 / /sys/fs/cgroup/pids rw,nosuid shared:9 - cgroup cgroup rw,pids"
      ].join("\n"),
      "4:memory:/process_api/abc\n3:cpu,cpuacct:/\n2:pids:/\n0::/\n",
      { "sys/fs/cgroup/unified": "", "sys/fs/cgroup/memory/process_api/abc": "", "sys/fs/cgroup/cpu,cpuacct": "", "sys/fs/cgroup/pids": "" }
    )
    const support = probeCgroups(root)
    expect(support.controllers.memory).toEqual({ version: 1, parent: join(root, "sys/fs/cgroup/memory/process_api/abc") })
    expect(support.controllers.cpu).toEqual({ version: 1, parent: join(root, "sys/fs/cgroup/cpu,cpuacct") })
    expect(support.controllers.pids?.version).toBe(1)
    expect(support.controllers.io).toBeUndefined()
    expect(support.missing.io).toBe("no io controller is mounted (neither cgroup v2 nor v1)")
  })

  it("on a unified host, uses v2 where its own group offers the controller", () => {
    const root = unifiedHost()
    const support = probeCgroups(root)
    const own = join(root, "sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/duende.service")
    for (const controller of ["memory", "cpu", "pids", "io"] as const) {
      expect(support.controllers[controller]).toEqual({ version: 2, parent: own })
    }
  })

  it("decodes octal escapes in mount points", () => {
    const root = host(
      "30 24 0:26 / /sys/fs/cgroup\\040v2 rw - cgroup2 cgroup2 rw\n",
      "0::/\n",
      { "sys/fs/cgroup v2": "memory\n" }
    )
    expect(probeCgroups(root).controllers.memory?.parent).toBe(join(root, "sys/fs/cgroup v2"))
  })
})

describe("the limit files (stand-in host files)", () => {
  it("v2: delegates the controllers, writes memory.max, memory.swap.max, cpu.max, cpu.weight, pids.max into duende-<id>", () => {
    const root = unifiedHost()
    const support = probeCgroups(root)
    const own = support.controllers.memory!.parent
    const limits = limitsFor("d1", { memory: 150 * 1024 * 1024, memorySwap: 0, cpuQuota: 150, cpuWeight: 50, pidsMax: 64, lockMemory: false }, {
      workingDirectory: root,
      useCgroups: true,
      support,
      root
    })
    const group = join(own, "duende-d1")
    expect(readFileSync(join(own, "cgroup.subtree_control"), "utf8")).toBe("+memory +cpu +pids")
    expect(readFileSync(join(group, "memory.max"), "utf8")).toBe(`${150 * 1024 * 1024}`)
    expect(readFileSync(join(group, "memory.swap.max"), "utf8")).toBe("0")
    expect(readFileSync(join(group, "cpu.max"), "utf8")).toBe("150000 100000")
    expect(readFileSync(join(group, "cpu.weight"), "utf8")).toBe("50")
    expect(readFileSync(join(group, "pids.max"), "utf8")).toBe("64")
    expect(limits.memoryInCgroup).toBe(true)
    expect(limits.enforcement.map((entry) => [entry.limit, entry.how?.split(" (")[0]])).toEqual([
      ["memory", "cgroup v2 memory.max"],
      ["memorySwap", "cgroup v2 memory.swap.max"],
      ["cpuQuota", "cgroup v2 cpu.max"],
      ["cpuWeight", "cgroup v2 cpu.weight"],
      ["pidsMax", "cgroup v2 pids.max"]
    ])
    writeFileSync(join(group, "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n")
    expect(limits.oomKills()).toBe(2)
    limits.attach(4242, () => [4243])
    expect(readFileSync(join(group, "cgroup.procs"), "utf8")).toBe("4243") // each write replaces a plain file
  })

  it("v1: swap only with memory (memsw is memory + swap); quota after its period", () => {
    const root = host(
      "27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n28 25 0:25 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n",
      "4:memory:/\n3:cpu:/\n",
      { "sys/fs/cgroup/memory": "", "sys/fs/cgroup/cpu": "" }
    )
    const alone = limitsFor("s", { memorySwap: 1024, lockMemory: false }, { workingDirectory: root, useCgroups: true, support: probeCgroups(root), root })
    expect(alone.enforcement).toEqual([{ limit: "memorySwap", how: undefined, why: "cgroup v1 limits swap only together with memory: set resources.memory too" }])
    limitsFor("m", { memory: 4096, memorySwap: 1024, cpuQuota: 25, lockMemory: false }, { workingDirectory: root, useCgroups: true, support: probeCgroups(root), root })
    expect(readFileSync(join(root, "sys/fs/cgroup/memory/duende-m/memory.memsw.limit_in_bytes"), "utf8")).toBe("5120")
    expect(readFileSync(join(root, "sys/fs/cgroup/cpu/duende-m/cpu.cfs_period_us"), "utf8")).toBe("100000")
    expect(readFileSync(join(root, "sys/fs/cgroup/cpu/duende-m/cpu.cfs_quota_us"), "utf8")).toBe("25000")
  })

  it("lockMemory keeps memory out of swap: memory.swap.max 0 (v2); swappiness 0 and memsw = memory (v1)", () => {
    const v2 = unifiedHost()
    const support = probeCgroups(v2)
    limitsFor("l2", { memory: 8192, memorySwap: 4096, lockMemory: true }, { workingDirectory: v2, useCgroups: true, support, root: v2 })
    expect(readFileSync(join(support.controllers.memory!.parent, "duende-l2", "memory.swap.max"), "utf8")).toBe("0")
    const v1 = host("27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", "4:memory:/\n", { "sys/fs/cgroup/memory": "" })
    const limits = limitsFor("l1", { memory: 8192, lockMemory: true }, { workingDirectory: v1, useCgroups: true, support: probeCgroups(v1), root: v1 })
    expect(readFileSync(join(v1, "sys/fs/cgroup/memory/duende-l1/memory.swappiness"), "utf8")).toBe("0")
    expect(readFileSync(join(v1, "sys/fs/cgroup/memory/duende-l1/memory.memsw.limit_in_bytes"), "utf8")).toBe("8192")
    expect(limits.enforcement.find((entry) => entry.limit === "lockMemory")?.how).toMatch(/^cgroup v1 memory\.swappiness /)
  })

  it("without cgroups, memory falls back to RSS sampling and every other limit says it is not enforced", () => {
    const limits = limitsFor("x", { memory: 1024 * 1024, pidsMax: 5, lockMemory: false }, { workingDirectory: "/", useCgroups: false })
    expect(limits.memoryInCgroup).toBe(false)
    expect(limits.enforcement[0]).toEqual({
      limit: "memory",
      how: "RSS sampling of the process tree, restart past 1M (no memory cgroup: cgroups are turned off for this daemon (platform.native.cgroups: false))"
    })
    expect(limits.enforcement[1]).toEqual({ limit: "pidsMax", how: undefined, why: "cgroups are turned off for this daemon (platform.native.cgroups: false)" })
  })

  it("I/O bandwidth needs a block device: a directory on a virtual file system is said to be unenforceable", () => {
    const limits = limitsFor("io", { ioReadBandwidth: 1_000_000, lockMemory: false }, { workingDirectory: "/proc", useCgroups: false })
    expect(limits.enforcement).toEqual([
      { limit: "ioReadBandwidth", how: undefined, why: expect.stringMatching(/^the working directory \/proc is not on a block device/) }
    ])
  })
})
