/**
 * The `resources` of a daemon under the native adapter, enforced for real:
 * each daemon gets a control group of its own (`duende-<id>`, below the
 * supervisor's own group) for every controller this process may write —
 * cgroup v2 (`memory.max`, `memory.swap.max`, `cpu.max`, `cpu.weight`,
 * `pids.max`, `io.max`) where the controller is on the unified hierarchy,
 * cgroup v1 (`memory.limit_in_bytes`, `memory.memsw.limit_in_bytes`,
 * `cpu.cfs_quota_us`, `cpu.shares`, `pids.max`, `blkio.throttle.*`) where it
 * is on a v1 hierarchy (hybrid hosts, such as these machines: v1 controllers
 * with an empty v2 at `/sys/fs/cgroup/unified`). `openFilesMax` is an rlimit
 * set on the process with prlimit(2) (through koffi). `lockMemory` keeps the
 * daemon's memory out of swap: `memory.swap.max` 0 (v2), `memory.swappiness`
 * 0 and memory+swap equal to memory (v1). It is not mlockall(2): V8 aborts
 * the process when it returns a locked page (the kernel refuses
 * `madvise(MADV_DONTNEED)` on locked memory; measured with Node 20).
 *
 * The process is moved into its groups as soon as it is spawned, and so are
 * the children it may already have forked (Node's spawn cannot place a child
 * in a group before exec, as systemd does); everything it forks later is born
 * inside. A memory limit without a writable memory controller is enforced by
 * sampling the RSS of the whole process tree instead (see nativeDaemon);
 * every other limit that cannot be enforced is reported, never silently
 * dropped (`enforcement`).
 *
 * @internal
 */
import { accessSync, constants, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { Resources } from "../../DaemonConfig.js"
import { formatByteSize } from "../units.js"
import { libc } from "./libc.js"

/** The fields of `resources` that the native adapter enforces. */
export type Limit = keyof Resources

/** How one configured limit is enforced, or why it is not. */
export interface Enforcement {
  readonly limit: Limit
  /** "cgroup v1 memory.limit_in_bytes", "RSS sampling", "prlimit RLIMIT_NOFILE"…; undefined when not enforced. */
  readonly how: string | undefined
  /** Why it is not enforced (with the fix), when `how` is undefined. */
  readonly why?: string | undefined
}

type Controller = "memory" | "cpu" | "pids" | "io"

/** Where a controller can be used: the directory under which this process may create groups. */
interface Hierarchy {
  readonly version: 1 | 2
  readonly parent: string
}

export interface CgroupSupport {
  readonly controllers: Partial<Record<Controller, Hierarchy>>
  /** Per controller that cannot be used: why. */
  readonly missing: Partial<Record<Controller, string>>
}

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

const writable = (dir: string): boolean => {
  try {
    accessSync(dir, constants.W_OK)
    return true
  } catch {
    return false
  }
}

/** A directory's path without the trailing slash join leaves for a group at "/". */
const dirOf = (...parts: ReadonlyArray<string>): string => join(...parts).replace(/(.)\/$/, "$1")

const v1Name: Record<Controller, string> = { memory: "memory", cpu: "cpu", pids: "pids", io: "blkio" }

const fix = "run the supervisor as root, or in a cgroup v2 subtree delegated to its user (systemd: Delegate=yes)"

/**
 * Which controllers this process can use, from /proc/self/mountinfo and
 * /proc/self/cgroup. `root` replaces "/" for tests of the parsing on a
 * directory that stands in for a host's files.
 */
export const probeCgroups = (root = "/"): CgroupSupport => {
  const controllers: Partial<Record<Controller, Hierarchy>> = {}
  const missing: Partial<Record<Controller, string>> = {}
  const all: ReadonlyArray<Controller> = ["memory", "cpu", "pids", "io"]
  const mountinfo = read(join(root, "proc/self/mountinfo"))
  const membership = read(join(root, "proc/self/cgroup"))
  if (process.platform !== "linux" || mountinfo === undefined || membership === undefined) {
    for (const controller of all) missing[controller] = "control groups need Linux"
    return { controllers, missing }
  }
  const paths = new Map<string, string>() // controller list ("" for v2) → this process's path
  for (const line of membership.split("\n")) {
    const [, list, path] = line.match(/^\d+:([^:]*):(.*)$/) ?? []
    if (list !== undefined && path !== undefined) for (const name of list.split(",")) paths.set(name, path)
  }
  const mounts: Array<{ readonly point: string; readonly type: string; readonly options: ReadonlyArray<string> }> = []
  for (const line of mountinfo.split("\n")) {
    const fields = line.split(" ")
    const dash = fields.indexOf("-")
    if (dash < 0 || fields[4] === undefined) continue
    const point = fields[4].replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
    mounts.push({ point, type: fields[dash + 1] ?? "", options: (fields[dash + 3] ?? "").split(",") })
  }
  const unified = mounts.find((mount) => mount.type === "cgroup2")
  const ownV2 = paths.get("")
  const v2Controllers = unified !== undefined && ownV2 !== undefined
    ? (read(join(root, unified.point, ownV2, "cgroup.controllers")) ?? "").trim().split(/\s+/)
    : []
  for (const controller of all) {
    if (unified !== undefined && ownV2 !== undefined && v2Controllers.includes(controller)) {
      const parent = dirOf(root, unified.point, ownV2)
      if (writable(parent)) controllers[controller] = { version: 2, parent }
      else missing[controller] = `cgroup v2 ${parent} is not writable by this user (${fix})`
      continue
    }
    const name = v1Name[controller]
    const mount = mounts.find((entry) => entry.type === "cgroup" && entry.options.includes(name))
    const own = paths.get(name)
    if (mount === undefined || own === undefined) {
      missing[controller] = `no ${controller} controller is mounted (neither cgroup v2 nor v1)`
      continue
    }
    const parent = dirOf(root, mount.point, own)
    if (writable(parent)) controllers[controller] = { version: 1, parent }
    else missing[controller] = `cgroup v1 ${parent} is not writable by this user (${fix})`
  }
  return { controllers, missing }
}

let probed: CgroupSupport | undefined
/** This host's support, probed once. */
export const cgroupSupport = (): CgroupSupport => (probed ??= probeCgroups())

/** One limit file to write: the controller, the v1 file and value, the v2 file and value. */
interface Setting {
  readonly limit: Limit
  readonly controller: Controller
  readonly v1: readonly [file: string, value: string] | undefined
  readonly v2: readonly [file: string, value: string] | undefined
  /** Written before the others (v1 needs a period before a quota, and memory before memory+swap). */
  readonly before?: ReadonlyArray<readonly [file: string, value: string]>
}

/** The block device a directory is on ("254:0"), the whole disk rather than a partition; undefined for a virtual file system. */
const blockDevice = (dir: string, root: string): string | undefined => {
  let dev: number
  try {
    dev = statSync(dir).dev
  } catch {
    return undefined
  }
  const major = Math.floor(dev / 256) & 0xfff
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00)
  if (major === 0) return undefined
  const sys = join(root, "sys/dev/block", `${major}:${minor}`)
  if (read(join(sys, "partition")) !== undefined) return read(join(sys, "..", "dev"))?.trim()
  return read(join(sys, "dev")) === undefined ? undefined : `${major}:${minor}`
}

const settings = (resources: Resources, workingDirectory: string, root: string): {
  readonly settings: ReadonlyArray<Setting>
  readonly refused: ReadonlyArray<Enforcement>
} => {
  const out: Array<Setting> = []
  const refused: Array<Enforcement> = []
  const { cpuQuota, cpuWeight, ioReadBandwidth, ioWriteBandwidth, lockMemory, memory, pidsMax } = resources
  // Memory kept out of swap is a swap limit of 0.
  const memorySwap = lockMemory ? undefined : resources.memorySwap
  if (memory !== undefined) {
    out.push({ limit: "memory", controller: "memory", v1: ["memory.limit_in_bytes", `${memory}`], v2: ["memory.max", `${memory}`] })
  }
  if (memorySwap !== undefined) {
    if (memory === undefined) {
      // v1 limits memory + swap together; v2 can limit swap alone.
      out.push({ limit: "memorySwap", controller: "memory", v1: undefined, v2: ["memory.swap.max", `${memorySwap}`] })
    } else {
      out.push({
        limit: "memorySwap",
        controller: "memory",
        v1: ["memory.memsw.limit_in_bytes", `${memory + memorySwap}`],
        v2: ["memory.swap.max", `${memorySwap}`]
      })
    }
  }
  if (lockMemory) {
    out.push({
      limit: "lockMemory",
      controller: "memory",
      before: memory === undefined ? [] : [["memory.memsw.limit_in_bytes", `${memory}`]],
      v1: ["memory.swappiness", "0"],
      v2: ["memory.swap.max", "0"]
    })
  }
  if (cpuQuota !== undefined) {
    const quota = Math.max(1000, Math.round(cpuQuota * 1000))
    out.push({
      limit: "cpuQuota",
      controller: "cpu",
      before: [["cpu.cfs_period_us", "100000"]],
      v1: ["cpu.cfs_quota_us", `${quota}`],
      v2: ["cpu.max", `${quota} 100000`]
    })
  }
  if (cpuWeight !== undefined) {
    const shares = Math.min(262_144, Math.max(2, Math.round((cpuWeight * 1024) / 100)))
    out.push({ limit: "cpuWeight", controller: "cpu", v1: ["cpu.shares", `${shares}`], v2: ["cpu.weight", `${cpuWeight}`] })
  }
  if (pidsMax !== undefined) {
    out.push({ limit: "pidsMax", controller: "pids", v1: ["pids.max", `${pidsMax}`], v2: ["pids.max", `${pidsMax}`] })
  }
  if (ioReadBandwidth !== undefined || ioWriteBandwidth !== undefined) {
    const device = blockDevice(workingDirectory, root)
    for (const [limit, value, v1File, v2Key] of [
      ["ioReadBandwidth", ioReadBandwidth, "blkio.throttle.read_bps_device", "rbps"],
      ["ioWriteBandwidth", ioWriteBandwidth, "blkio.throttle.write_bps_device", "wbps"]
    ] as const) {
      if (value === undefined) continue
      if (device === undefined) {
        refused.push({
          limit,
          how: undefined,
          why: `the working directory ${workingDirectory} is not on a block device (tmpfs, overlay or network), so there is no device to throttle`
        })
        continue
      }
      out.push({ limit, controller: "io", v1: [v1File, `${device} ${value}`], v2: ["io.max", `${device} ${v2Key}=${value}`] })
    }
  }
  return { settings: out, refused }
}

/** The groups of one daemon and what they enforce. */
export interface DaemonLimits {
  readonly enforcement: ReadonlyArray<Enforcement>
  /** Whether the memory limit is the kernel's (a cgroup); if not, it is the supervisor's RSS sampling. */
  readonly memoryInCgroup: boolean
  /** Moves a just-spawned process, and the children it already has, into the daemon's groups; sets its rlimits. */
  readonly attach: (pid: number, descendants: () => ReadonlyArray<number>) => void
  /** The memory group's OOM kills so far (0 without one). */
  readonly oomKills: () => number
  /** Removes the groups (they must be empty: call it once the tree has ended). */
  readonly remove: () => void
}

const oomKillsIn = (dir: string, version: 1 | 2): number => {
  const text = read(join(dir, version === 2 ? "memory.events" : "memory.oom_control")) ?? ""
  return Number(text.match(/^oom_kill (\d+)$/m)?.[1] ?? 0)
}

/** Enables the controllers for the children of a v2 group, moving this process into a leaf if it lives in that group. */
const enableV2 = (parent: string, controllers: ReadonlyArray<Controller>): string | undefined => {
  const want = controllers.map((name) => `+${name}`).join(" ")
  try {
    writeFileSync(join(parent, "cgroup.subtree_control"), want)
    return undefined
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EBUSY") return (error as Error).message
  }
  // "No internal processes": a group that delegates controllers holds no processes itself.
  try {
    const leaf = join(parent, "duende-supervisor")
    mkdirSync(leaf, { recursive: true })
    writeFileSync(join(leaf, "cgroup.procs"), `${process.pid}`)
    writeFileSync(join(parent, "cgroup.subtree_control"), want)
    return undefined
  } catch (error) {
    return (error as Error).message
  }
}

/**
 * Creates (or reuses) the groups of daemon `id` and writes its limits. With
 * `useCgroups` false no group is made: memory falls back to RSS sampling.
 */
export const limitsFor = (
  id: string,
  resources: Resources,
  options: { readonly workingDirectory: string; readonly useCgroups: boolean; readonly support?: CgroupSupport; readonly root?: string }
): DaemonLimits => {
  const support = options.useCgroups ? (options.support ?? cgroupSupport()) : undefined
  const root = options.root ?? "/"
  const { refused, settings: wanted } = settings(resources, options.workingDirectory, root)
  const enforcement: Array<Enforcement> = [...refused]
  const groups = new Map<Controller, { readonly dir: string; readonly version: 1 | 2 }>()
  const v2Needed = support === undefined
    ? []
    : [...new Set(wanted.map((setting) => setting.controller))].filter((name) => support.controllers[name]?.version === 2)
  const v2Refusal = v2Needed.length > 0 ? enableV2(support!.controllers[v2Needed[0]!]!.parent, v2Needed) : undefined
  for (const setting of wanted) {
    const hierarchy = support?.controllers[setting.controller]
    const why = support === undefined
      ? "cgroups are turned off for this daemon (platform.native.cgroups: false)"
      : hierarchy === undefined
      ? support.missing[setting.controller]
      : hierarchy.version === 2 && v2Refusal !== undefined
      ? `cgroup v2 controllers could not be delegated in ${hierarchy.parent}: ${v2Refusal}`
      : undefined
    const file = hierarchy?.version === 2 ? setting.v2 : setting.v1
    if (hierarchy === undefined || why !== undefined || file === undefined) {
      enforcement.push({
        limit: setting.limit,
        how: undefined,
        why: why ?? `cgroup v1 limits swap only together with memory: set resources.memory too`
      })
      continue
    }
    let group = groups.get(setting.controller)
    try {
      if (group === undefined) {
        group = { dir: join(hierarchy.parent, `duende-${id}`), version: hierarchy.version }
        mkdirSync(group.dir, { recursive: true })
        groups.set(setting.controller, group)
      }
      for (const [name, value] of hierarchy.version === 1 ? setting.before ?? [] : []) {
        try {
          writeFileSync(join(group.dir, name), value)
        } catch {
          // Best effort: memory.memsw.* exists only with swap accounting on; the setting itself still applies.
        }
      }
      writeFileSync(join(group.dir, file[0]), file[1])
      enforcement.push({ limit: setting.limit, how: `cgroup v${hierarchy.version} ${file[0]} (${group.dir})` })
    } catch (error) {
      enforcement.push({ limit: setting.limit, how: undefined, why: `writing ${file[0]} failed: ${(error as Error).message}` })
    }
  }
  const memoryInCgroup = enforcement.some((entry) => entry.limit === "memory" && entry.how !== undefined)
  if (resources.memory !== undefined && !memoryInCgroup) {
    const index = enforcement.findIndex((entry) => entry.limit === "memory")
    const cause = enforcement[index]?.why
    enforcement[index] = {
      limit: "memory",
      how: `RSS sampling of the process tree, restart past ${formatByteSize(resources.memory)} (no memory cgroup: ${cause})`
    }
  }
  const nofile = resources.openFilesMax
  const rlimit = nofile === undefined ? undefined : prlimit()
  if (nofile !== undefined) {
    enforcement.push(typeof rlimit === "function"
      ? { limit: "openFilesMax", how: "prlimit RLIMIT_NOFILE" }
      : { limit: "openFilesMax", how: undefined, why: rlimit })
  }
  const members = [...new Set([...groups.values()].map((group) => group.dir))]
  const memoryGroup = groups.get("memory")
  return {
    enforcement,
    memoryInCgroup,
    attach: (pid, descendants) => {
      if (typeof rlimit === "function" && nofile !== undefined) rlimit(pid, nofile)
      if (members.length === 0) return
      for (const candidate of [pid, ...descendants()]) {
        for (const dir of members) {
          try {
            writeFileSync(join(dir, "cgroup.procs"), `${candidate}`)
          } catch {
            // it has ended already
          }
        }
      }
    },
    oomKills: () => (memoryGroup === undefined ? 0 : oomKillsIn(memoryGroup.dir, memoryGroup.version)),
    remove: () => {
      for (const dir of members) {
        try {
          rmdirSync(dir)
        } catch {
          // not empty (something of the daemon still runs) or gone
        }
      }
    }
  }
}

type SetLimit = (pid: number, limit: number) => void
let prlimitLoaded: SetLimit | string | undefined

/** prlimit(2) for RLIMIT_NOFILE through koffi, or why it is not available. */
const prlimit = (): SetLimit | string => {
  if (prlimitLoaded !== undefined) return prlimitLoaded
  const found = libc()
  if (typeof found === "string") return (prlimitLoaded = `prlimit is not available: ${found}`)
  try {
    found.koffi.struct("duende_rlimit", { cur: "uint64", max: "uint64" })
    const call = found.libc.func("int prlimit(int pid, int resource, const duende_rlimit *limit, _Out_ duende_rlimit *old)")
    const RLIMIT_NOFILE = 7
    prlimitLoaded = (pid, limit) => {
      call(pid, RLIMIT_NOFILE, { cur: limit, max: limit }, null)
    }
  } catch (error) {
    prlimitLoaded = `prlimit is not available: koffi could not bind it (${(error as Error).message})`
  }
  return prlimitLoaded
}
