/**
 * Reading `launchctl print <domain>/<label>` and `launchctl list <label>`.
 * Apple documents print's format as "not API", so only the few top-level
 * fields needed are read, and defensively:
 *
 * - only lines indented one level (a tab, or four spaces) count: nested
 *   blocks (coalitions, endpoints, environment) have `state =` lines too;
 * - the job's own strings (arguments, environment values) are printed raw
 *   and may hold newlines, so a value could fake a top-level line. They are
 *   printed after `state` and before `runs`, `pid` and the last exit, so
 *   `state` is taken from its first top-level line and the others from their
 *   last;
 * - numbers must be numbers; anything else is left unknown.
 *
 * Shapes seen in real output: `state = running`, `not running`,
 * `spawn scheduled`, `xpcproxy` (being exec'd, pid set); `last exit code = 0`,
 * `(never exited)`, `78: EX_CONFIG`; `last terminating signal = Terminated: 15`
 * (instead of an exit code line).
 *
 * @internal
 */
import { numberOfDescription } from "./signals.js"

export type LastExit = { readonly code: number } | { readonly signal: number }

export interface ServiceInfo {
  readonly source: "print" | "list"
  /** launchd's word for the state ("running", "not running", "spawn scheduled"…). */
  readonly state: string
  readonly running: boolean
  readonly pid: number | undefined
  /** How many times launchd spawned it since it was loaded (print only). */
  readonly runs: number | undefined
  readonly lastExit: LastExit | undefined
}

const topLevel = /^(?:\t|    )(?![\t ])([A-Za-z][A-Za-z ()/-]*?) = (.*)$/

const runningStates = new Set(["running", "xpcproxy", "spawned"])

const whole = (text: string | undefined): number | undefined =>
  text !== undefined && /^\d{1,10}$/.test(text.trim()) ? Number(text.trim()) : undefined

/** The fields of `launchctl print` output, or undefined when it has no top-level `state`. */
export const parsePrint = (text: string): ServiceInfo | undefined => {
  const first = new Map<string, string>()
  const last = new Map<string, string>()
  for (const line of text.split("\n")) {
    const m = topLevel.exec(line.replace(/\r$/, ""))
    if (m === null) continue
    const [, key, value] = m as unknown as [string, string, string]
    if (!first.has(key)) first.set(key, value)
    last.set(key, value)
  }
  const state = first.get("state")?.trim()
  if (state === undefined || state === "") return undefined
  const pid = whole(last.get("pid"))
  const running = runningStates.has(state) && pid !== undefined && pid > 0
  return {
    source: "print",
    state,
    running,
    pid: running ? pid : undefined,
    runs: whole(last.get("runs")),
    lastExit: exitOf(last.get("last terminating signal"), last.get("last exit code"))
  }
}

const exitOf = (signal: string | undefined, code: string | undefined): LastExit | undefined => {
  // "Terminated: 15": a signal outranks an exit code; an unreadable one is unknown, not a code.
  if (signal !== undefined) {
    const m = /^(.*?):\s*(\d{1,2})\s*$/.exec(signal.trim())
    if (m !== null) return { signal: Number(m[2]) }
    const n = numberOfDescription(signal.trim())
    return n === undefined ? undefined : { signal: n }
  }
  if (code === undefined) return undefined
  const m = /^(-?\d{1,10})(?::.*)?$/.exec(code.trim())
  return m === null ? undefined : { code: Number(m[1]) }
}

const listEntry = /^(?:\t|    )"([A-Za-z]+)" = (-?\d{1,10}|"(?:[^"\\]|\\.)*"|true|false);$/

/**
 * The fields of `launchctl list <label>` (an old-style plist dict). Its
 * LastExitStatus is a wait status: a signal number in the low 7 bits, else the
 * exit code in the next byte (negative values are signals too).
 */
export const parseList = (text: string): ServiceInfo | undefined => {
  const fields = new Map<string, string>()
  for (const line of text.split("\n")) {
    const m = listEntry.exec(line.replace(/\r$/, ""))
    if (m !== null) fields.set(m[1]!, m[2]!)
  }
  if (!fields.has("Label")) return undefined
  const pid = whole(fields.get("PID"))
  const status = fields.get("LastExitStatus")
  let lastExit: LastExit | undefined
  if (status !== undefined && /^-?\d+$/.test(status)) {
    const n = Number(status)
    lastExit = n < 0 ? { signal: -n } : (n & 0x7f) !== 0 ? { signal: n & 0x7f } : { code: (n >> 8) & 0xff }
  }
  const running = pid !== undefined && pid > 0
  return {
    source: "list",
    state: running ? "running" : "not running",
    running,
    pid: running ? pid : undefined,
    runs: undefined,
    lastExit
  }
}
