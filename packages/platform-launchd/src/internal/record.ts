/**
 * The adapter's record of an installed job, one JSON file per label in the
 * adapter's state directory: who the job is (Duende's id and name, where its
 * plist and logs are), what launchd does not keep (the start deadline and
 * crash-loop limit of its config, when Duende last started it and from which
 * log offset, the runs it saw, how the last run ended once launchd forgot the
 * job at bootout).
 *
 * @internal
 */
import { AdapterIOError, type PlatformAdapter } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import { join } from "node:path"
import * as Files from "./files.js"

export interface Record {
  readonly id: string
  readonly name: string
  readonly label: string
  /** The domain target: gui/501, user/501, system. */
  readonly domain: string
  readonly plist: string
  readonly stdout: string
  readonly stderr: string
  readonly keepAlive: boolean
  readonly initTimeoutMs: number
  /**
   * When a start counts as ready (`platform.launchd.ready`): "notify" waits for the ready
   * marker, "started" for launchd to have it running, "auto" takes a program that writes
   * no hello marker within the grace as ready. Absent in records of older versions: "auto".
   */
  readonly readiness?: "auto" | "notify" | "started"
  readonly crashLoop: { readonly burst: number; readonly intervalMs: number }
  /** When Duende last started it (epoch ms). */
  readonly startedAt?: number
  /** When that start saw the job ready. */
  readonly readyAt?: number
  /** When Duende began to stop it (cleared once stopped). */
  readonly stopRequestedAt?: number
  /** The stderr log's size then: markers of this run come after. */
  readonly stderrOffset?: number
  /** launchd's `runs` before that start (0 when Duende loaded the job). */
  readonly runsBefore?: number
  /** launchd's `runs` as seen, with when: how many restarts happened lately. */
  readonly history?: ReadonlyArray<readonly [number, number]>
  /** How the last run ended, kept once launchd unloaded the job. */
  readonly lastExit?: PlatformAdapter.ExitInfo
  /** Restarts launchd made before the job was unloaded. */
  readonly restarts?: number
  /** Why Duende gave up on it (the crash-loop limit). */
  readonly failed?: string
}

export const path = (directory: string, label: string) => join(directory, `${label}.json`)

const decode = (text: string | undefined): Record | undefined => {
  if (text === undefined) return undefined
  try {
    const value = JSON.parse(text) as Record
    return typeof value.label === "string" && typeof value.name === "string" ? value : undefined
  } catch {
    // A record cut short or edited by hand is no record: the job is still found by its plist.
    return undefined
  }
}

export const read = (directory: string, label: string): Effect.Effect<Record | undefined, AdapterIOError> =>
  Effect.map(Files.readIfExists(path(directory, label)), decode)

const encode = (record: Record) => `${JSON.stringify(record, null, 2)}\n`

export const write = (directory: string, record: Record): Effect.Effect<void, AdapterIOError> =>
  Files.writeAtomic(path(directory, record.label), encode(record), 0o600)

/**
 * Changes the record as it is now on disk (or `fallback` when there is none), in one step
 * with no other fiber in between, so concurrent updates of different fields do not undo
 * each other. Returns the record written.
 */
export const update = (
  directory: string,
  fallback: Record,
  change: (record: Record) => Record
): Effect.Effect<Record, AdapterIOError> =>
  Effect.try({
    try: () => {
      const next = change(decode(Files.readSync(path(directory, fallback.label))) ?? fallback)
      Files.writeAtomicSync(path(directory, next.label), encode(next), 0o600)
      return next
    },
    catch: (error) =>
      new AdapterIOError({ path: path(directory, fallback.label), reason: error instanceof Error ? error.message : String(error) })
  })

export const remove = (directory: string, label: string): Effect.Effect<void, AdapterIOError> =>
  Files.remove(path(directory, label))

/** Every record in the directory. */
export const all = (directory: string): Effect.Effect<ReadonlyArray<Record>, AdapterIOError> =>
  Effect.flatMap(Files.list(directory), (names) =>
    Effect.map(
      Effect.forEach(names.filter((n) => n.endsWith(".json")), (n) => read(directory, n.slice(0, -5))),
      (records) => records.filter((r): r is Record => r !== undefined)
    ))
