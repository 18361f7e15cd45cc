/**
 * A unit's `systemctl show` properties as Duende's daemon state, and the
 * events between two readings of them.
 *
 * @internal
 */
import { DaemonStatus, Signal } from "@duende/core"
import type { PlatformAdapter } from "@duende/core/manager"

export type Properties = Readonly<Record<string, string>>

/** What the adapter asks `systemctl show` for. */
export const properties = [
  "LoadState",
  "ActiveState",
  "SubState",
  "MainPID",
  "ExecMainStartTimestamp",
  "ExecMainExitTimestamp",
  "ExecMainCode",
  "ExecMainStatus",
  "NRestarts",
  "StatusText",
  "Result",
  "FreezerState",
  "WatchdogUSec",
  "InvocationID"
] as const

/** "Tue 2026-11-24 12:49:39.080356 UTC" (from `--timestamp=us+utc`) as epoch ms; empty or "n/a" → undefined. */
export const timestamp = (text: string | undefined): number | undefined => {
  const match = /(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))? UTC/.exec(text ?? "")
  if (match === null) return undefined
  const [, y, mo, d, h, mi, s, frac] = match
  const micros = Number((frac ?? "").padEnd(6, "0"))
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) +
    Math.floor(micros / 1000)
}

const spanUnits: Record<string, number> = {
  us: 0.001,
  usec: 0.001,
  ms: 1,
  msec: 1,
  s: 1000,
  sec: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  M: 2_629_800_000,
  y: 31_557_600_000
}

/** A systemd time span as printed by `systemctl show` ("3s", "1min 30s", "500ms") in ms; "infinity" → undefined. */
export const timespanMillis = (text: string | undefined): number | undefined => {
  if (text === undefined || text === "" || text === "infinity") return undefined
  let total = 0
  const pattern = /(\d+(?:\.\d+)?)\s*([a-zA-Z]+)/g
  let matched = false
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    const unit = spanUnits[m[2]!]
    if (unit === undefined) return undefined
    total += Number(m[1]) * unit
    matched = true
  }
  return matched ? total : undefined
}

const resultHints: Record<string, string> = {
  watchdog: "watchdog timeout",
  timeout: "timed out",
  "start-limit-hit": "restarted too often (start limit hit)",
  "oom-kill": "killed by the OOM killer",
  resources: "could not set up its resources",
  protocol: "broke the notify protocol",
  "core-dump": "dumped core",
  "exit-code": "failed",
  signal: "killed by a signal"
}

/** An exit as waitid() reports it (1 exited, 2 killed, 3 dumped core), with systemd's result. */
const exitInfo = (code: number, status: number, at: number, result: string | undefined): PlatformAdapter.ExitInfo => {
  const signal = code === 2 || code === 3 ? Signal.fromNumber(status) ?? null : null
  const base = code === 1
    ? `exited with code ${status}`
    : code === 3
    ? `dumped core (${signal ?? `signal ${status}`})`
    : `killed by ${signal ?? `signal ${status}`}`
  const hint = result !== undefined && result !== "success" && result !== "exit-code" && result !== "signal"
    ? resultHints[result] ?? result
    : undefined
  return { code: code === 1 ? status : null, signal, at, description: hint === undefined ? base : `${base} (${hint})` }
}

/** How the current run's main process ended, if it ended (systemd clears this when it restarts the unit). */
export const lastExit = (p: Properties): PlatformAdapter.ExitInfo | undefined => {
  const at = timestamp(p.ExecMainExitTimestamp)
  return at === undefined ? undefined : exitInfo(Number(p.ExecMainCode), Number(p.ExecMainStatus), at, p.Result)
}

/** systemd's journal messages "Main process exited" and "Failed with result". */
export const processExitMessage = "98e322203f7a4ed290d09fe03c09fe15"
export const unitResultMessage = "d9b373ed55a64feb8242e02dbe79a49c"

/** The last exit from systemd's own journal messages about a unit (what survives a restart). */
export const journalExit = (
  entries: ReadonlyArray<{ readonly at: number; readonly fields: Readonly<Record<string, string>> }>
): { readonly exit: PlatformAdapter.ExitInfo; readonly result: string | undefined } | undefined => {
  const exit = [...entries].reverse().find((e) => e.fields.MESSAGE_ID === processExitMessage)
  if (exit === undefined) return undefined
  const result = entries.find((e) =>
    e.fields.MESSAGE_ID === unitResultMessage && e.fields.INVOCATION_ID === exit.fields.INVOCATION_ID
  )?.fields.UNIT_RESULT
  const code = { exited: 1, killed: 2, dumped: 3 }[exit.fields.EXIT_CODE ?? ""] ?? 1
  return { exit: exitInfo(code, Number(exit.fields.EXIT_STATUS), exit.at, result), result }
}

/** Why a unit is in the failed state, for `Failed({ reason })`. */
export const failure = (p: Properties): string => {
  const exit = lastExit(p)
  const hint = resultHints[p.Result ?? ""] ?? p.Result ?? "failed"
  return exit === undefined ? hint : exit.description
}

const status = (p: Properties): DaemonStatus.DaemonStatus => {
  switch (p.ActiveState) {
    case "active":
    case "reloading":
      return p.FreezerState === "frozen" ? DaemonStatus.Paused() : DaemonStatus.Running()
    case "activating":
      return DaemonStatus.Starting()
    case "deactivating":
      return DaemonStatus.Stopping()
    case "failed":
      return DaemonStatus.Failed({ reason: failure(p) })
    default:
      return timestamp(p.ExecMainStartTimestamp) === undefined ? DaemonStatus.Created() : DaemonStatus.Stopped()
  }
}

export const toState = (p: Properties): PlatformAdapter.DaemonState => {
  const pid = Number(p.MainPID)
  const running = p.ActiveState === "active" || p.ActiveState === "reloading" || p.ActiveState === "deactivating" ||
    (p.ActiveState === "activating" && pid > 0)
  return {
    status: status(p),
    pid: pid > 0 ? pid : undefined,
    startedAt: running ? timestamp(p.ExecMainStartTimestamp) : undefined,
    lastExit: lastExit(p),
    restarts: Number(p.NRestarts) || 0,
    statusText: p.StatusText === undefined || p.StatusText === "" ? undefined : p.StatusText,
    health: undefined
  }
}

/** The events that lead from one reading to the next (`at` = when seen, for those systemd does not stamp). */
export const diff = (previous: Properties, next: Properties, at: number): ReadonlyArray<PlatformAdapter.DaemonEvent> => {
  const events: Array<PlatformAdapter.DaemonEvent> = []
  const exitBefore = previous.ExecMainExitTimestamp ?? ""
  const exitNow = next.ExecMainExitTimestamp ?? ""
  if (exitNow !== exitBefore) {
    const exit = lastExit(next)
    if (exit !== undefined) {
      if (next.Result === "watchdog") {
        events.push({ _tag: "WatchdogMissed", timeoutMs: timespanMillis(next.WatchdogUSec) ?? 0, at: exit.at })
      }
      events.push({ _tag: "Exited", exit })
    }
  }
  const startBefore = previous.ExecMainStartTimestamp ?? ""
  const startNow = next.ExecMainStartTimestamp ?? ""
  if (startNow !== startBefore && startNow !== "") {
    const pid = Number(next.MainPID)
    events.push({ _tag: "Started", pid: pid > 0 ? pid : undefined, at: timestamp(startNow) ?? at })
  }
  if (previous.ActiveState !== next.ActiveState) {
    if (next.ActiveState === "active") events.push({ _tag: "Ready", at })
    if (next.ActiveState === "reloading") events.push({ _tag: "Reloading", at })
    if (next.ActiveState === "deactivating") events.push({ _tag: "Stopping", at })
  }
  if ((next.StatusText ?? "") !== (previous.StatusText ?? "") && (next.StatusText ?? "") !== "") {
    events.push({ _tag: "StatusText", text: next.StatusText!, at })
  }
  return events
}
