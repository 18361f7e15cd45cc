/**
 * Runs systemd's tools (`systemctl`, `systemd-run`, `journalctl`,
 * `systemd-analyze`) for one scope: `--user` is added where it belongs, a
 * failing tool becomes a `PlatformCommandFailed` carrying its stderr, unit
 * properties come from `systemctl show` (machine-readable, not the text of
 * `systemctl status`), logs from `journalctl -o json`, and the systemd version
 * is asked once. A command prefix (e.g. `["nsenter", "-t", pid, "-a"]`) runs
 * every tool inside another machine, such as a container booted with systemd.
 *
 * @since 0.1.0
 */
import { PlatformCommandFailed } from "@duende/core/manager"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Exec from "./internal/exec.js"

/**
 * A tool Systemctl runs.
 *
 * @since 0.1.0
 */
export type Tool = "systemctl" | "systemd-run" | "journalctl" | "systemd-analyze"

/**
 * What a tool printed and how it exited (null: killed by a signal).
 *
 * @since 0.1.0
 */
export type Output = Exec.Output

/**
 * One journal entry, from `journalctl -o json`.
 *
 * @since 0.1.0
 */
export interface JournalEntry {
  /** Epoch milliseconds (`__REALTIME_TIMESTAMP`). */
  readonly at: number
  /** Syslog priority, 0 (emerg) … 7 (debug). */
  readonly priority: number
  readonly message: string
  readonly pid: number | undefined
  /** Every field as journald stored it (binary fields decoded as UTF-8). */
  readonly fields: Readonly<Record<string, string>>
}

/**
 * The service.
 *
 * @since 0.1.0
 */
export interface Systemctl {
  readonly scope: "system" | "user"
  /** Runs a tool (scope flag added); fails only when it cannot run. */
  readonly exec: (tool: Tool, args: ReadonlyArray<string>) => Effect.Effect<Output, PlatformCommandFailed>
  /** Runs a tool; a non-zero exit fails with its stderr. Returns stdout. */
  readonly run: (tool: Tool, args: ReadonlyArray<string>) => Effect.Effect<string, PlatformCommandFailed>
  /** Properties of a unit (`systemctl show -p …`), timestamps in UTC with microseconds. */
  readonly show: (
    unit: string,
    properties: ReadonlyArray<string>
  ) => Effect.Effect<Readonly<Record<string, string>>, PlatformCommandFailed>
  /** The systemd version (the number in `systemctl --version`), asked once. */
  readonly version: Effect.Effect<number, PlatformCommandFailed>
  /** The last `lines` journal entries matching `matches` (journalctl field matches such as `_SYSTEMD_UNIT=x`), oldest first. */
  readonly journal: (
    matches: ReadonlyArray<string>,
    lines: number
  ) => Effect.Effect<ReadonlyArray<JournalEntry>, PlatformCommandFailed>
  /**
   * Subscribes now, for the life of the scope, to the journal entries
   * matching `matches` written from this moment on.
   */
  readonly follow: (
    matches: ReadonlyArray<string>
  ) => Effect.Effect<Stream.Stream<JournalEntry>, PlatformCommandFailed, Scope.Scope>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { Systemctl } from "@duende/platform-systemd/adapter"
 * import { Effect } from "effect"
 *
 * const active = Effect.flatMap(Systemctl.Systemctl, (s) => s.show("ssh.service", ["ActiveState"]))
 * ```
 *
 * @since 0.1.0
 */
export const Systemctl: Context.Tag<Systemctl, Systemctl> = Context.GenericTag<Systemctl>(
  "@duende/platform-systemd/Systemctl"
)

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** "system" (default) or "user" (`--user`: the calling user's service manager). */
  readonly scope?: "system" | "user"
  /** Put before every command, e.g. `["nsenter", "-t", "1234", "-a"]` to reach a container's systemd. */
  readonly prefix?: ReadonlyArray<string>
  /** The tools' environment (default: this process's); `--user` needs XDG_RUNTIME_DIR. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

const scoped: ReadonlySet<Tool> = new Set(["systemctl", "systemd-run"])

/**
 * Reads `systemctl show` output. A value may span lines (systemd prints some
 * raw); a line that does not start a requested property continues the last.
 *
 * @example
 * ```ts
 * import { Systemctl } from "@duende/platform-systemd/adapter"
 *
 * Systemctl.parseShow("ActiveState=active\nMainPID=42\n", ["ActiveState", "MainPID"])
 * // { ActiveState: "active", MainPID: "42" }
 * ```
 *
 * @since 0.1.0
 */
export const parseShow = (text: string, properties: ReadonlyArray<string>): Readonly<Record<string, string>> => {
  const wanted = new Set(properties)
  const out: Record<string, string> = {}
  let last: string | undefined
  for (const line of text.replace(/\n$/, "").split("\n")) {
    const equals = line.indexOf("=")
    const key = equals > 0 ? line.slice(0, equals) : undefined
    if (key !== undefined && wanted.has(key) && !(key in out)) {
      out[key] = line.slice(equals + 1)
      last = key
    } else if (last !== undefined) {
      out[last] += `\n${line}`
    }
  }
  return out
}

/**
 * Reads one line of `journalctl -o json`.
 *
 * @example
 * ```ts
 * import { Systemctl } from "@duende/platform-systemd/adapter"
 *
 * Systemctl.parseJournalLine('{"MESSAGE":"ready","PRIORITY":"6","__REALTIME_TIMESTAMP":"1700000000000000","_PID":"7"}')
 * ```
 *
 * @since 0.1.0
 */
export const parseJournalLine = (line: string): JournalEntry | undefined => {
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(line) as Record<string, unknown>
  } catch {
    return undefined
  }
  if (raw === null || typeof raw !== "object") return undefined
  const fields: Record<string, string> = {}
  for (const [key, value] of Object.entries(raw)) {
    // journald prints non-UTF-8 (or very long) fields as byte arrays, repeated fields as arrays of those.
    const one = (v: unknown): string =>
      typeof v === "string" ? v : Array.isArray(v) && v.every((b) => typeof b === "number")
        ? Buffer.from(v as Array<number>).toString("utf8")
        : v === null ? "" : String(v)
    fields[key] = Array.isArray(value) && value.some((v) => typeof v !== "number") ? value.map(one).join("\n") : one(value)
  }
  const micros = Number(fields.__REALTIME_TIMESTAMP ?? "0")
  const priority = Number(fields.PRIORITY ?? "6")
  const pid = fields._PID === undefined ? undefined : Number(fields._PID)
  return {
    at: Number.isFinite(micros) ? Math.floor(micros / 1000) : 0,
    priority: Number.isInteger(priority) ? priority : 6,
    message: fields.MESSAGE ?? "",
    pid: pid !== undefined && Number.isInteger(pid) ? pid : undefined,
    fields
  }
}

/**
 * Makes the service; the version is asked on first use and remembered.
 *
 * @example
 * ```ts
 * import { Systemctl } from "@duende/platform-systemd/adapter"
 * import { Effect } from "effect"
 *
 * const version = Effect.flatMap(Systemctl.make({ scope: "user" }), (s) => s.version)
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<Systemctl> =>
  Effect.gen(function*() {
    const scope = options.scope ?? "system"
    const prefix = options.prefix ?? []
    const env = options.env ?? process.env
    const argv = (tool: Tool, args: ReadonlyArray<string>) => [
      ...prefix,
      tool,
      ...(scope === "user" && scoped.has(tool) ? ["--user"] : []),
      ...args
    ]
    const exec = (tool: Tool, args: ReadonlyArray<string>) => Exec.run(argv(tool, args), { env })
    const run = (tool: Tool, args: ReadonlyArray<string>) =>
      Effect.flatMap(exec(tool, args), (output) =>
        output.exitCode === 0
          ? Effect.succeed(output.stdout)
          : Effect.fail(
            new PlatformCommandFailed({ command: argv(tool, args), exitCode: output.exitCode, stderr: output.stderr })
          ))
    const version = yield* Effect.cached(
      Effect.flatMap(run("systemctl", ["--version"]), (stdout) => {
        const match = /^systemd (\d+)/m.exec(stdout)
        return match === null
          ? Effect.fail(
            new PlatformCommandFailed({
              command: argv("systemctl", ["--version"]),
              exitCode: 0,
              stderr: `no version in: ${stdout.slice(0, 200)}`
            })
          )
          : Effect.succeed(Number(match[1]))
      })
    )
    const journalArgs = (matches: ReadonlyArray<string>) => ["--no-pager", "--quiet", "-o", "json", ...matches]
    return {
      scope,
      exec,
      run,
      show: (unit, properties) =>
        Effect.map(
          run("systemctl", ["show", unit, "--timestamp=us+utc", ...properties.flatMap((p) => ["-p", p])]),
          (stdout) => parseShow(stdout, properties)
        ),
      version,
      journal: (matches, lines) =>
        Effect.map(run("journalctl", [...journalArgs(matches), "-n", String(lines)]), (stdout) =>
          stdout.split("\n").flatMap((line) => {
            const entry = line === "" ? undefined : parseJournalLine(line)
            return entry === undefined ? [] : [entry]
          })),
      follow: (matches) =>
        Effect.gen(function*() {
          // Start after the journal's last entry now, so nothing written from here on is missed.
          const last = yield* run("journalctl", ["--no-pager", "--quiet", "-n", "0", "--show-cursor"])
          const cursor = /^-- cursor: (.+)$/m.exec(last)
          const from = cursor === null ? ["-n", "0"] : [`--after-cursor=${cursor[1]}`]
          const lines = yield* Exec.follow(argv("journalctl", [...journalArgs(matches), ...from, "--follow"]), { env })
          return Stream.filterMap(lines, (line) => Option.fromNullable(parseJournalLine(line)))
        })
    } satisfies Systemctl
  })

/**
 * The service as a layer.
 *
 * @example
 * ```ts
 * import { Systemctl } from "@duende/platform-systemd/adapter"
 *
 * const userSystemctl = Systemctl.layer({ scope: "user" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<Systemctl> => Layer.effect(Systemctl, make(options))
