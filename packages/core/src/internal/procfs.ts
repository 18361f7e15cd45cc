/**
 * Small readers of Linux /proc used by the runtime.
 *
 * @internal
 */
import { readFileSync } from "node:fs"

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

/** Whether a pid exists (EPERM means it exists but is not ours). */
export const pidExists = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}
