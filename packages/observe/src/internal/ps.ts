/**
 * The portable fallback: `ps` output (procps on Linux, BSD ps on macOS and the
 * BSDs) parsed into readings. Only the columns both know are used.
 *
 * @internal
 */
import type { Reading, TableRow } from "../ProcessSource.js"

/** The `-o` list for readings; `comm` last, as it may contain spaces. */
export const readingColumns = "pid=,ppid=,rss=,vsz=,time=,etime=,state=,comm="

/** The `-o` list for the process table. */
export const tableColumns = "pid=,ppid=,state="

/**
 * A duration as ps prints it: `[[dd-]hh:]mm:ss` (procps, whole seconds) or
 * with a fraction (`mm:ss.cc` on macOS). Undefined when it is not one.
 */
export const parseDuration = (text: string): number | undefined => {
  const match = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$/.exec(text.trim())
  if (match === null) return undefined
  const [, days, hours, minutes, seconds] = match
  return Number(days ?? 0) * 86_400 + Number(hours ?? 0) * 3_600 + Number(minutes) * 60 + Number(seconds)
}

/** Parses the output of `ps -o <readingColumns>`; `now` (epoch ms) turns elapsed time into a start time. */
export const parseReadings = (output: string, now: number): ReadonlyArray<Reading> => {
  const readings: Array<Reading> = []
  for (const line of output.split("\n")) {
    const match = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(line)
    if (match === null) continue
    const [, pid, ppid, rss, vsz, time, etime, state, command] = match
    const cpu = parseDuration(time!)
    const elapsed = parseDuration(etime!)
    readings.push({
      pid: Number(pid),
      ppid: Number(ppid),
      sid: undefined,
      command: command!.trim(),
      // procps and BSD ps add modifiers after the state letter ("Ss", "R+").
      state: state!.charAt(0),
      startedAt: elapsed === undefined ? undefined : now - elapsed * 1000,
      cpuSeconds: cpu ?? 0,
      childrenCpuSeconds: undefined,
      residentBytes: Number(rss) * 1024,
      virtualBytes: Number(vsz) * 1024,
      threads: undefined,
      openFds: undefined,
      ioReadBytes: undefined,
      ioWriteBytes: undefined,
      diskReadBytes: undefined,
      diskWriteBytes: undefined
    })
  }
  return readings
}

/** Parses the output of `ps -A -o <tableColumns>`. */
export const parseTable = (output: string): ReadonlyArray<TableRow> => {
  const rows: Array<TableRow> = []
  for (const line of output.split("\n")) {
    const match = /^\s*(\d+)\s+(\d+)\s+(\S+)/.exec(line)
    if (match !== null) rows.push({ pid: Number(match[1]), ppid: Number(match[2]), sid: undefined, state: match[3]!.charAt(0) })
  }
  return rows
}
