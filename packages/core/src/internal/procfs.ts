/**
 * Small readers of Linux /proc used by the runtime.
 *
 * @internal
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"

const readOr = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

let bootTimeMs: number | undefined
const clockTicks = 100 // USER_HZ: 100 on every Linux architecture Node supports

/** When a process started (epoch ms), from /proc/<pid>/stat; undefined off Linux or if it is gone. */
export const processStartTimeMs = (pid: number): number | undefined => {
  const stat = readOr(`/proc/${pid}/stat`)
  if (stat === undefined) return undefined
  // Field 2 (comm) may contain spaces and parentheses: split after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  const startTicks = Number(fields[19])
  if (bootTimeMs === undefined) {
    const btime = /^btime (\d+)$/m.exec(readOr("/proc/stat") ?? "")
    if (btime === null) return undefined
    bootTimeMs = Number(btime[1]) * 1000
  }
  return Number.isFinite(startTicks) ? bootTimeMs + (startTicks * 1000) / clockTicks : undefined
}

/** Whether a pid exists (EPERM means it exists but is not ours). A zombie exists. */
export const pidExists = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Whether a process runs: it exists and is not a zombie (one that ended and waits to be reaped). */
export const pidRunning = (pid: number): boolean => {
  if (!pidExists(pid)) return false
  const stat = readOr(`/proc/${pid}/stat`)
  if (stat === undefined) return true // no /proc (macOS): existing is all we can tell
  return parseStat(stat)?.state !== "Z"
}

/** One process as /proc/<pid>/stat describes it. */
export interface ProcessEntry {
  readonly pid: number
  readonly ppid: number
  readonly pgid: number
  readonly sid: number
  /** R, S, D, Z (zombie), T (stopped)… */
  readonly state: string
  /** When it started, in clock ticks after boot: with the pid, who it is (a reused pid starts later). */
  readonly start: number
}

/** Parses /proc/<pid>/stat (comm may contain spaces and parentheses). */
export const parseStat = (text: string): ProcessEntry | undefined => {
  const close = text.lastIndexOf(")")
  if (close < 0) return undefined
  const pid = Number(text.slice(0, text.indexOf(" ")))
  const fields = text.slice(close + 2).split(" ")
  const entry = {
    pid,
    state: fields[0] ?? "?",
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    sid: Number(fields[3]),
    start: Number(fields[19])
  }
  return Number.isInteger(entry.pid) && Number.isInteger(entry.ppid) ? entry : undefined
}

/** Every process visible in /proc (empty off Linux). */
export const scanProcesses = (): ReadonlyArray<ProcessEntry> => {
  let names: Array<string>
  try {
    names = readdirSync("/proc")
  } catch {
    return []
  }
  const out: Array<ProcessEntry> = []
  for (const name of names) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue
    const stat = readOr(`/proc/${name}/stat`)
    const entry = stat === undefined ? undefined : parseStat(stat)
    if (entry !== undefined) out.push(entry)
  }
  return out
}

/** A process's current entry, if it runs as the same process (same start); undefined when it is gone or the pid was reused. */
export const sameProcess = (entry: ProcessEntry): ProcessEntry | undefined => {
  const stat = readOr(`/proc/${entry.pid}/stat`)
  const now = stat === undefined ? undefined : parseStat(stat)
  return now !== undefined && now.start === entry.start ? now : undefined
}

/** Whether a process was started with `NAME=value` in its environment (false when it cannot be read: not ours, gone). */
export const hasEnvironment = (pid: number, name: string, value: string): boolean => {
  let environ: Buffer
  try {
    environ = readFileSync(`/proc/${pid}/environ`)
  } catch {
    return false
  }
  const wanted = Buffer.from(`${name}=${value}\0`)
  const at = environ.indexOf(wanted)
  return at === 0 || (at > 0 && environ[at - 1] === 0)
}

/** Whether /proc can be read here (Linux). */
export const hasProcfs = (): boolean => existsSync("/proc/self/stat")
