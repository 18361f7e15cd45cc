/**
 * The state file: how a daemon inside a container publishes what it is doing
 * (starting, ready, reloading, stopping), its status text, its real health
 * and a heartbeat, as one small JSON document written atomically (temporary
 * file in the same directory, then rename). Two readers use it: `duende
 * health` inside the container (the `HEALTHCHECK` command) and the container
 * adapter on the host, which bind-mounts the directory into the container
 * and watches it for readiness, health and status.
 *
 * The directory is `$DUENDE_STATE_DIR` when set (the adapter sets it), else
 * `/run/duende`, else `<tmpdir>/duende` when `/run` is not writable.
 *
 * @since 0.1.0
 */
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/**
 * The environment variable naming the state directory.
 *
 * @since 0.1.0
 */
export const directoryVariable = "DUENDE_STATE_DIR"

/**
 * The state file's name inside the state directory.
 *
 * @since 0.1.0
 */
export const fileName = "state.json"

/**
 * Where the adapter mounts the state directory inside a container.
 *
 * @since 0.1.0
 */
export const containerDirectory = "/run/duende"

/**
 * What the daemon is doing, as its lifecycle reported it.
 *
 * @since 0.1.0
 */
export type Phase = "starting" | "ready" | "reloading" | "stopping" | "stopped"

/**
 * The last health report of the daemon's health loop.
 *
 * @since 0.1.0
 */
export interface Health {
  readonly state: "starting" | "healthy" | "unhealthy"
  readonly consecutiveFailures: number
  readonly summary: string
  /** Epoch ms of the report. */
  readonly at: number
}

/**
 * The content of the state file (format version 1).
 *
 * @since 0.1.0
 */
export interface State {
  readonly v: 1
  /** The daemon's pid as the container sees it. */
  readonly pid: number
  /** Epoch ms when the daemon's runtime came up: a new value means a new run. */
  readonly startedAt: number
  readonly phase: Phase
  /** READY reports so far in this run (1 after init, +1 after each reload). */
  readonly readyCount: number
  /** RELOADING reports so far in this run. */
  readonly reloadCount: number
  readonly status: string | undefined
  readonly health: Health | undefined
  /** Epoch ms of the last heartbeat: the daemon's event loop was running then. */
  readonly heartbeatAt: number
  /** How often the heartbeat is written, in ms. */
  readonly heartbeatMs: number
}

/**
 * The directories a state file is looked for in, in order: the explicit one,
 * `$DUENDE_STATE_DIR`, `/run/duende`, `<tmpdir>/duende`.
 *
 * @example
 * ```ts
 * import { StateFile } from "@duende/platform-container"
 *
 * StateFile.candidates({ DUENDE_STATE_DIR: "/srv/state" }) // ["/srv/state", "/run/duende", "/tmp/duende"]
 * ```
 *
 * @since 0.1.0
 */
export const candidates = (
  env: Readonly<Record<string, string | undefined>> = process.env,
  explicit?: string
): ReadonlyArray<string> => {
  const list = [explicit, env[directoryVariable], containerDirectory, join(tmpdir(), "duende")]
  return [...new Set(list.filter((dir): dir is string => dir !== undefined && dir !== ""))]
}

/**
 * Creates the first usable directory of `directories` and returns it, or the
 * reasons none could be used.
 *
 * @example
 * ```ts
 * import { StateFile } from "@duende/platform-container"
 *
 * const dir = StateFile.prepare(StateFile.candidates())
 * ```
 *
 * @since 0.1.0
 */
export const prepare = (
  directories: ReadonlyArray<string>
): { readonly directory: string } | { readonly failures: ReadonlyArray<string> } => {
  const failures: Array<string> = []
  for (const directory of directories) {
    try {
      mkdirSync(directory, { recursive: true, mode: 0o755 })
      const probe = join(directory, `.probe-${process.pid}`)
      writeFileSync(probe, "")
      unlinkSync(probe)
      return { directory }
    } catch (error) {
      failures.push(`${directory}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
  }
  return { failures }
}

/**
 * Writes the state atomically: a temporary file in the same directory, then
 * a rename, so a reader never sees half a document. Returns the error
 * message on failure.
 *
 * @example
 * ```ts
 * import { StateFile } from "@duende/platform-container"
 *
 * const failure = StateFile.write("/run/duende", {
 *   v: 1, pid: process.pid, startedAt: Date.now(), phase: "ready", readyCount: 1, reloadCount: 0,
 *   status: "serving", health: undefined, heartbeatAt: Date.now(), heartbeatMs: 5000
 * })
 * ```
 *
 * @since 0.1.0
 */
export const write = (directory: string, state: State): string | undefined => {
  const target = join(directory, fileName)
  const temporary = join(directory, `.${fileName}.${process.pid}.tmp`)
  try {
    writeFileSync(temporary, `${JSON.stringify(state)}\n`, { mode: 0o644 })
    renameSync(temporary, target)
    return undefined
  } catch (error) {
    return (error as Error).message
  }
}

const phases: ReadonlyArray<Phase> = ["starting", "ready", "reloading", "stopping", "stopped"]
const healthStates: ReadonlyArray<Health["state"]> = ["starting", "healthy", "unhealthy"]

const isCount = (value: unknown): value is number =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0

const parseHealth = (value: unknown): Health | undefined | null => {
  if (value === undefined || value === null) return undefined
  if (typeof value !== "object") return null
  const h = value as Record<string, unknown>
  if (!healthStates.includes(h.state as Health["state"])) return null
  if (!isCount(h.consecutiveFailures) || typeof h.summary !== "string" || !isCount(h.at)) return null
  return { state: h.state as Health["state"], consecutiveFailures: h.consecutiveFailures, summary: h.summary, at: h.at }
}

/**
 * Reads a state document; undefined when it is not exactly a version-1 state.
 *
 * @example
 * ```ts
 * import { StateFile } from "@duende/platform-container"
 *
 * const state = StateFile.parse('{"v":1}') // undefined: fields are missing
 * ```
 *
 * @since 0.1.0
 */
export const parse = (text: string): State | undefined => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (value === null || typeof value !== "object") return undefined
  const s = value as Record<string, unknown>
  if (s.v !== 1 || !isCount(s.pid) || !isCount(s.startedAt) || !phases.includes(s.phase as Phase)) return undefined
  if (!isCount(s.readyCount) || !isCount(s.reloadCount) || !isCount(s.heartbeatAt) || !isCount(s.heartbeatMs)) {
    return undefined
  }
  if (s.status !== undefined && s.status !== null && typeof s.status !== "string") return undefined
  const health = parseHealth(s.health)
  if (health === null) return undefined
  return {
    v: 1,
    pid: s.pid,
    startedAt: s.startedAt,
    phase: s.phase as Phase,
    readyCount: s.readyCount,
    reloadCount: s.reloadCount,
    status: typeof s.status === "string" ? s.status : undefined,
    health,
    heartbeatAt: s.heartbeatAt,
    heartbeatMs: s.heartbeatMs
  }
}

/**
 * Reads the state file of a directory: the state, "missing", or why it
 * cannot be read.
 *
 * @example
 * ```ts
 * import { StateFile } from "@duende/platform-container"
 *
 * const result = StateFile.read("/run/duende")
 * if (typeof result !== "string") console.log(result.state.phase)
 * ```
 *
 * @since 0.1.0
 */
export const read = (directory: string): { readonly state: State } | "missing" | "invalid" => {
  let text: string
  try {
    text = readFileSync(join(directory, fileName), "utf8")
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : "invalid"
  }
  const state = parse(text)
  return state === undefined ? "invalid" : { state }
}
