/**
 * Human output: tables, durations, sizes.
 *
 * @internal
 */
import type { DaemonInfo, LogLineInfo } from "../ControlProtocol.js"

export const duration = (ms: number | null): string => {
  if (ms === null) return "-"
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  const h = Math.floor(m / 60)
  if (h < 24) return `${h}h ${m % 60}m`
  return `${Math.floor(h / 24)}d ${h % 24}h`
}

export const bytes = (n: number | null): string => {
  if (n === null) return "-"
  const units = ["B", "K", "M", "G", "T"]
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)}${units[unit]}`
}

export const percent = (n: number | null): string => (n === null ? "-" : `${n.toFixed(1)}%`)

export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()
  return [line(header), ...rows.map(line)].join("\n")
}

export const daemonTable = (daemons: ReadonlyArray<DaemonInfo>): string =>
  daemons.length === 0
    ? "no daemons registered (duende start <config> adds one)"
    : table(
      ["NAME", "STATUS", "PID", "UPTIME", "RESTARTS", "CPU", "MEMORY"],
      daemons.map((d) => [
        d.name,
        d.nextRestartAt !== null ? `${d.status} (restart in ${duration(d.nextRestartAt - Date.now())})` : d.status,
        d.pid === null ? "-" : String(d.pid),
        duration(d.uptimeMs),
        String(d.restarts),
        percent(d.cpuPercent),
        bytes(d.memoryBytes)
      ])
    )

export const daemonDetails = (d: DaemonInfo): string =>
  [
    `${d.name} (${d.id})`,
    `  status     ${d.status}${d.desired === "stopped" ? "" : " (kept running)"}`,
    `  pid        ${d.pid ?? "-"}`,
    `  uptime     ${duration(d.uptimeMs)}`,
    `  restarts   ${d.restarts}${d.nextRestartAt !== null ? ` (next in ${duration(d.nextRestartAt - Date.now())})` : ""}${
      d.restartHeld !== null ? ` — ${d.restartHeld}` : ""
    }`,
    `  cpu        ${percent(d.cpuPercent)}`,
    `  memory     ${bytes(d.memoryBytes)}`,
    `  health     ${d.health ?? "-"}`,
    `  text       ${d.statusText ?? "-"}`,
    `  last exit  ${d.lastExit ?? "-"}`,
    ...d.limits.map((entry, index) =>
      `  ${index === 0 ? "limits   " : "         "}  ${entry.limit}: ${entry.how ?? `not enforced: ${entry.why ?? "unknown"}`}`
    ),
    `  command    ${d.command.join(" ")}`,
    `  config     ${d.configPath ?? "-"}`,
    ...(d.instances === undefined
      ? [`  log        ${d.logFile}`]
      : ["  instances", ...daemonTable(d.instances).split("\n").map((line) => `    ${line}`)])
  ].join("\n")

/** A line a Duende daemon logged itself: `<ISO time> <LEVEL> <message>` (core's line logger). */
const ownLine = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) +(.*)$/s

/**
 * One log line for people: its time, where it came from (`out`, `err`) and its
 * text. A daemon's own log entries already carry their time and level: they are
 * shown with those, once, instead of as stderr text under the time it was read.
 */
export const logLine = (line: Pick<LogLineInfo, "at" | "stream" | "text">): string => {
  const own = ownLine.exec(line.text)
  if (own !== null) return `${own[1]} ${own[2]!.toLowerCase()} ${own[3]}`
  return `${line.at > 0 ? new Date(line.at).toISOString() : "-"} ${line.stream === "stdout" ? "out" : "err"} ${line.text}`
}
