/**
 * `duende monit`: a live terminal view of the supervisor's daemons (status,
 * pid, uptime, restarts, cpu, memory, health) and the recent log lines of the
 * one selected (or of all), redrawn every interval until `q` or Ctrl-C. PM2's
 * `pm2 monit`, drawn with plain ANSI escapes on the terminal's alternate
 * screen, which is restored on the way out however it ends.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import type { DaemonInfo, LogLineInfo } from "../ControlProtocol.js"
import { bytes, duration, logLine, percent, table } from "./format.js"

/** What the view needs from the supervisor. */
export interface Source<E> {
  readonly list: Effect.Effect<ReadonlyArray<DaemonInfo>, E>
  /** The last `lines` lines of one daemon, or of every daemon when `name` is undefined. */
  readonly logs: (name: string | undefined, lines: number) => Effect.Effect<ReadonlyArray<LogLineInfo>, E>
}

/** What is shown: the daemon selected (an index into the list; -1: all), and the terminal's size. */
export interface View {
  readonly selected: number
  readonly columns: number
  readonly rows: number
}

/** Cuts a line to the terminal's width (by UTF-16 units; wide characters may still wrap). */
const fit = (line: string, columns: number) => (line.length > columns ? `${line.slice(0, Math.max(0, columns - 1))}…` : line)

/** Control characters in a daemon's output would move the cursor of the view: they are shown escaped. */
const printable = (text: string) => text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)

/** The rows of the daemons' table below the header. */
const tableRows = (daemons: ReadonlyArray<DaemonInfo>) =>
  daemons.map((d) => [
    d.name,
    d.nextRestartAt !== null ? `${d.status} (restart in ${duration(d.nextRestartAt - Date.now())})` : d.status,
    d.pid === null ? "-" : String(d.pid),
    duration(d.uptimeMs),
    String(d.restarts),
    percent(d.cpuPercent),
    bytes(d.memoryBytes),
    d.health ?? "-"
  ])

/** How many log lines fit below the table of `count` daemons. */
export const logRows = (count: number, rows: number): number => Math.max(0, rows - (count + 6))

/** One frame of the view, as the lines to draw (at most `rows` of at most `columns`). */
export const frame = (
  daemons: ReadonlyArray<DaemonInfo>,
  logs: ReadonlyArray<LogLineInfo>,
  view: View,
  now: number
): ReadonlyArray<string> => {
  const selected = daemons[view.selected]
  const header = `duende monit — ${daemons.length} daemon(s), ${daemons.filter((d) => d.statusTag === "Running").length} running — ${
    new Date(now).toISOString().slice(11, 19)
  } UTC`
  const lines = table(["NAME", "STATUS", "PID", "UPTIME", "RESTARTS", "CPU", "MEMORY", "HEALTH"], tableRows(daemons)).split("\n")
  const marked = lines.map((line, i) => (i > 0 && i - 1 === view.selected ? `> ${line}` : `  ${line}`))
  const room = logRows(daemons.length, view.rows)
  const shownLogs = logs.slice(-room).map((line) =>
    printable(`${selected === undefined && line.daemon !== undefined ? `${line.daemon} | ` : ""}${logLine(line)}`)
  )
  return [
    header,
    "",
    ...(daemons.length === 0 ? ["  no daemons registered (duende start <config> adds one)"] : marked),
    "",
    `logs of ${selected === undefined ? "every daemon" : selected.name} — ↑/↓ choose, a: all, q: quit`,
    ...shownLogs
  ].slice(0, view.rows).map((line) => fit(line, view.columns))
}

/** A key pressed, as the view reads it. */
type Key = "up" | "down" | "all" | "quit" | "other"

const keyOf = (chunk: Buffer): Key => {
  const text = chunk.toString("utf8")
  if (text === "q" || text === "\u0003" || text === "\u001b") return "quit"
  if (text === "\u001b[A" || text === "k") return "up"
  if (text === "\u001b[B" || text === "j") return "down"
  if (text === "a") return "all"
  return "other"
}

/**
 * Runs the view on this process's terminal until `q`, Escape or Ctrl-C:
 * the supervisor is asked each `intervalMs` (and at once after a key).
 */
export const run = <E>(source: Source<E>, intervalMs: number): Effect.Effect<void, E> =>
  Effect.gen(function*() {
    const keys = yield* Queue.sliding<Key | "tick">(64)
    const out = process.stdout
    const stdin = process.stdin
    const onData = (chunk: Buffer) => void Queue.unsafeOffer(keys, keyOf(chunk))
    const onResize = () => void Queue.unsafeOffer(keys, "tick")
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        stdin.setRawMode(true)
        stdin.resume()
        stdin.on("data", onData)
        out.on("resize", onResize)
        // The alternate screen, the cursor hidden.
        out.write("\u001b[?1049h\u001b[?25l")
      }),
      () =>
        Effect.sync(() => {
          stdin.off("data", onData)
          out.off("resize", onResize)
          stdin.setRawMode(false)
          stdin.pause()
          out.write("\u001b[?25h\u001b[?1049l")
        })
    )
    const ticker = yield* Effect.fork(Effect.forever(Effect.zipRight(Effect.sleep(intervalMs), Queue.offer(keys, "tick"))))
    let selected = -1
    for (;;) {
      const daemons = yield* source.list
      if (selected >= daemons.length) selected = daemons.length - 1
      const rows = out.rows ?? 24
      const logs = yield* source.logs(daemons[selected]?.name, Math.max(1, logRows(daemons.length, rows)))
      const lines = frame(daemons, logs, { selected, columns: out.columns ?? 80, rows }, yield* Clock.currentTimeMillis)
      out.write(`\u001b[H${lines.map((line) => `${line}\u001b[K`).join("\r\n")}\u001b[J`)
      const key = yield* Queue.take(keys)
      if (key === "quit") break
      if (key === "up") selected = Math.max(-1, selected - 1)
      if (key === "down") selected = Math.min(daemons.length - 1, selected + 1)
      if (key === "all") selected = -1
    }
    yield* Fiber.interrupt(ticker)
  }).pipe(Effect.scoped)
