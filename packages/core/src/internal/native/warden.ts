/**
 * The warden of a tethered native adapter (`duende run`): a small process in
 * a session of its own that holds the read end of a pipe from the adapter's
 * process. The adapter tells it each daemon it starts (pid and start time) and
 * each orphan of a daemon it adopted as subreaper. When the pipe reaches EOF —
 * the adapter's process ended in any way, SIGKILL included, or closed it after
 * stopping its daemons — the warden stops every tracked tree that still runs:
 * SIGTERM to each process of it, up to the daemon's shutdown timeout, then
 * SIGKILL, then it exits. Each pid is checked against the start time it was
 * reported with before it is signalled, so a reused pid is never hit.
 *
 * Why a process and not PR_SET_PDEATHSIG (`setpriv --pdeathsig`): a parent-death
 * signal reaches only the direct child (not its children, not those that left
 * its session) and gives it no grace to shut down; the warden stops the whole
 * tree, gracefully first, for any command.
 *
 * @internal
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"

/** The start time of a process in clock ticks since boot (/proc/<pid>/stat field 22), or -1 when unknown. */
export const startTicks = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19])
    return Number.isFinite(ticks) ? ticks : -1
  } catch {
    return -1
  }
}

/**
 * The warden's program. It runs as `node -e` with its source as text, so it is
 * self-contained: no imports, no outer variables, no helpers a compiler could
 * hoist out of it.
 *
 * Input lines: `+ <pid> <ticks> <graceMs>` a daemon's main process (its session
 * is its pid), `o <pid> <ticks>` an adopted orphan, `- <pid>` forget one.
 */
function wardenProgram(): void {
  // `node -e` puts require on globalThis; a bare `require` here could be rewritten by the bundler.
  const fs = (globalThis as unknown as { require: (id: string) => unknown }).require("node:fs") as typeof import("node:fs")
  process.title = "duende-warden"
  for (const signal of ["SIGHUP", "SIGINT", "SIGPIPE"] as const) process.on(signal, () => undefined)
  interface Proc {
    readonly pid: number
    readonly state: string
    readonly ppid: number
    readonly pgid: number
    readonly sid: number
    readonly ticks: number
  }
  const mains = new Map<number, { ticks: number; graceMs: number }>()
  const orphans = new Map<number, number>()
  const procfs = fs.existsSync("/proc/self/stat")
  const read = (pid: number): Proc | undefined => {
    try {
      const text = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
      const f = text.slice(text.lastIndexOf(")") + 2).split(" ")
      return { pid, state: f[0]!, ppid: Number(f[1]), pgid: Number(f[2]), sid: Number(f[3]), ticks: Number(f[19]) }
    } catch {
      return undefined
    }
  }
  /** Every living process of the tracked trees, and the process groups that are certainly theirs. */
  const scan = (): { members: Array<Proc>; groups: Array<number> } => {
    if (!procfs) return { members: [], groups: [...mains.keys()] }
    const all: Array<Proc> = []
    for (const name of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue
      const entry = read(Number(name))
      if (entry !== undefined) all.push(entry)
    }
    const byPid = new Map(all.map((p) => [p.pid, p]))
    const children = new Map<number, Array<Proc>>()
    for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p])
    const found = new Map<number, Proc>()
    const roots: Array<number> = []
    const groups: Array<number> = []
    for (const [pid, main] of mains) {
      const self = byPid.get(pid)
      if (self !== undefined && self.ticks === main.ticks) {
        roots.push(pid)
        groups.push(pid)
      }
      // Its session outlives it: members started after it are its own.
      for (const p of all) if (p.sid === pid && p.ticks >= main.ticks) found.set(p.pid, p)
    }
    for (const [pid, ticks] of orphans) {
      const self = byPid.get(pid)
      if (self !== undefined && self.ticks === ticks) {
        roots.push(pid)
        found.set(pid, self)
      }
    }
    for (const pid of roots) {
      const self = byPid.get(pid)
      if (self !== undefined) found.set(pid, self)
    }
    const queue = [...found.keys(), ...roots]
    while (queue.length > 0) {
      for (const child of children.get(queue.pop()!) ?? []) {
        if (!found.has(child.pid)) {
          found.set(child.pid, child)
          queue.push(child.pid)
        }
      }
    }
    found.delete(process.pid)
    return { members: [...found.values()].filter((p) => p.state !== "Z" && p.state !== "X"), groups }
  }
  const kill = (target: number, signal: NodeJS.Signals) => {
    try {
      process.kill(target, signal)
    } catch {
      // gone, or not ours
    }
  }
  let stopping = false
  const stopAll = () => {
    if (stopping) return
    stopping = true
    const first = scan()
    // Each process gets one SIGTERM (a second one means "force" to a Duende daemon).
    for (const p of first.members) kill(p.pid, "SIGTERM")
    if (!procfs) for (const group of first.groups) kill(-group, "SIGTERM")
    const graceMs = Math.max(0, ...[...mains.values()].map((m) => m.graceMs))
    const start = Date.now()
    const tick = () => {
      const now = scan()
      if (now.members.length === 0 && (procfs || now.groups.every((g) => !alive(-g)))) return process.exit(0)
      if (Date.now() - start < graceMs) return void setTimeout(tick, 100)
      for (const group of now.groups) kill(-group, "SIGKILL")
      for (const p of now.members) kill(p.pid, "SIGKILL")
      if (Date.now() - start < graceMs + 5_000) return void setTimeout(tick, 100)
      process.exit(1)
    }
    tick()
  }
  const alive = (target: number) => {
    try {
      process.kill(target, 0)
      return true
    } catch {
      return false
    }
  }
  let buffered = ""
  process.stdin.on("data", (chunk: Buffer) => {
    const lines = (buffered + chunk.toString()).split("\n")
    buffered = lines.pop()!
    for (const line of lines) {
      const [kind, pid, ticks, grace] = line.split(" ")
      if (kind === "+") mains.set(Number(pid), { ticks: Number(ticks), graceMs: Number(grace) })
      else if (kind === "o") orphans.set(Number(pid), Number(ticks))
      else if (kind === "-") {
        mains.delete(Number(pid))
        orphans.delete(Number(pid))
      }
    }
  })
  process.stdin.on("error", stopAll)
  process.stdin.on("end", stopAll)
  process.stdin.on("close", stopAll)
}

/** The adapter's end of the warden. */
export interface Warden {
  readonly pid: number
  /** A daemon's main process was started (its shutdown timeout is the grace it gets). */
  readonly track: (pid: number, graceMs: number) => void
  /** An orphan of a daemon (re-parented to this subreaper) runs: it dies with the daemons. */
  readonly adopt: (pid: number) => void
  /** A daemon's tree has ended. */
  readonly forget: (pid: number) => void
  /** Ends the warden: it stops what is still tracked and exits. */
  readonly close: () => void
}

/** Starts the warden, or says why it could not. */
export const startWarden = (): Warden | string => {
  let child: ChildProcess
  try {
    child = spawn(process.execPath, ["-e", `(${wardenProgram.toString()})()`], {
      detached: true,
      stdio: ["pipe", "ignore", "ignore"],
      env: {}
    })
  } catch (error) {
    return (error as Error).message
  }
  const input = child.stdin!
  input.on("error", () => undefined)
  child.on("error", () => undefined)
  // Neither the warden nor its pipe keeps this process alive.
  child.unref()
  ;(input as unknown as { unref?: () => void }).unref?.()
  const adopted = new Map<number, number>()
  const send = (line: string) => {
    if (!input.destroyed) input.write(`${line}\n`)
  }
  return {
    pid: child.pid ?? -1,
    track: (pid, graceMs) => send(`+ ${pid} ${startTicks(pid)} ${Math.round(graceMs)}`),
    adopt: (pid) => {
      const ticks = startTicks(pid)
      if (ticks < 0 || adopted.get(pid) === ticks) return
      adopted.set(pid, ticks)
      send(`o ${pid} ${ticks}`)
    },
    forget: (pid) => {
      adopted.delete(pid)
      send(`- ${pid}`)
    },
    close: () => input.end()
  }
}
