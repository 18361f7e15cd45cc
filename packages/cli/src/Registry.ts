/**
 * The supervisor's registry of daemons, saved on every change so that a
 * supervisor that comes back (after a crash, `kill -9`, a reboot) restores
 * them. A save writes and fsyncs a temp file and renames it over
 * `registry.json`, so the main file exists and is whole at every instant; the
 * previous good file is kept as `registry.json.bak` (a hard link to it, made
 * before the rename, so the main file is never moved away). A file that cannot
 * be read is set aside as `<file>.corrupt-<time>` (never overwritten) — both
 * files, when both are bad — and the backup is used when it is good. Temp files
 * left by a save that was killed are removed when the registry is loaded.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { lstatSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs"
import { copyFile, link, mkdir, open, rename, rm } from "node:fs/promises"
import { basename, dirname, join } from "node:path"

/**
 * One registered daemon.
 *
 * @since 0.1.0
 */
export const Entry = Schema.Struct({
  id: Schema.String,
  /** The config's name, or `<name>@<instance>` for one copy of a config with `instances`. */
  name: Schema.String,
  /** Which copy of its config this entry is (`instances`), numbered from 0. */
  instance: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(0, 255))),
  /** The config file it was added from, if any (for humans; the config itself is below). */
  configPath: Schema.optional(Schema.String),
  /** The config in its file form, decoded again when restored. */
  config: Schema.Unknown,
  desired: Schema.Literal("running", "stopped"),
  addedAt: Schema.Number,
  /** The pid (and its start time) of the run last seen, to find it if this supervisor died. */
  lastPid: Schema.optional(Schema.Number),
  lastPidStartedAt: Schema.optional(Schema.Number)
})

/** @since 0.1.0 */
export type Entry = Schema.Schema.Type<typeof Entry>

const File = Schema.Struct({ version: Schema.Literal(1), daemons: Schema.Array(Entry) })

/**
 * The registry file could not be written.
 *
 * @since 0.1.0
 */
export class RegistryError extends Data.TaggedError("RegistryError")<{ readonly path: string; readonly reason: string }> {
  override get message(): string {
    return `cannot save the registry ${this.path}: ${this.reason}`
  }
}

/**
 * What loading found.
 *
 * @since 0.1.0
 */
export interface Loaded {
  readonly entries: ReadonlyArray<Entry>
  /** What went wrong on the way, for the log (corrupt file set aside, backup used…). */
  readonly warnings: ReadonlyArray<string>
}

const parse = (path: string): { readonly entries: ReadonlyArray<Entry> } | { readonly problem: string } | undefined => {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
    return { problem: (error as Error).message }
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return { problem: `not valid JSON (${(error as Error).message})` }
  }
  const decoded = Schema.decodeUnknownEither(File)(json)
  return decoded._tag === "Right"
    ? { entries: decoded.right.daemons }
    : { problem: `not a registry (${decoded.left.message.split("\n")[0]})` }
}

const setAside = (path: string, problem: string, warnings: Array<string>): void => {
  const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`
  try {
    renameSync(path, aside)
    warnings.push(`${path} is unreadable (${problem}); kept as ${aside}`)
  } catch {
    warnings.push(`${path} is unreadable (${problem})`)
  }
}

/** Temp files of saves that never finished (the process that wrote them was killed). */
const removeStaleTemps = (path: string): void => {
  const prefixes = [`${basename(path)}.tmp-`, `${basename(path)}.bak.tmp-`]
  let names: Array<string>
  try {
    names = readdirSync(dirname(path))
  } catch {
    return
  }
  for (const name of names) {
    if (!prefixes.some((prefix) => name.startsWith(prefix))) continue
    // Only one supervisor runs at a time; a temp file of this process may be a save under way.
    if (name.includes(`.tmp-${process.pid}-`)) continue
    rmSync(join(dirname(path), name), { force: true })
  }
}

/**
 * Reads the registry: the file, else its backup, else nothing. Never deletes or
 * overwrites a file it could not read: an unreadable file is renamed aside
 * (both, when both are unreadable). Removes temp files of interrupted saves.
 *
 * @example
 * ```ts
 * import { Registry } from "@duende/cli"
 * import { Effect } from "effect"
 *
 * const { entries, warnings } = Effect.runSync(Registry.load("/home/me/.duende/registry.json"))
 * ```
 *
 * @since 0.1.0
 */
export const load = (path: string): Effect.Effect<Loaded> =>
  Effect.sync(() => {
    const warnings: Array<string> = []
    removeStaleTemps(path)
    const main = parse(path)
    if (main !== undefined && "entries" in main) return { entries: main.entries, warnings }
    if (main !== undefined) setAside(path, main.problem, warnings)
    const backup = parse(`${path}.bak`)
    if (backup !== undefined && "entries" in backup) {
      if (main !== undefined) warnings.push(`restored ${backup.entries.length} daemon(s) from ${path}.bak`)
      return { entries: backup.entries, warnings }
    }
    if (backup !== undefined) setAside(`${path}.bak`, backup.problem, warnings)
    return { entries: [], warnings }
  })

/**
 * The entries of the registry file as it is, repairing nothing (no file is
 * moved or removed), for a command that only looks: undefined when the file is
 * missing, unreadable, not a regular file or not this user's own.
 *
 * @example
 * ```ts
 * import { Registry } from "@duende/cli"
 *
 * const meant = (Registry.peek("/home/me/.duende/registry.json") ?? []).filter((entry) => entry.desired === "running")
 * ```
 *
 * @since 0.1.0
 */
export const peek = (path: string): ReadonlyArray<Entry> | undefined => {
  try {
    const stat = lstatSync(path)
    if (!stat.isFile() || (process.getuid !== undefined && stat.uid !== process.getuid())) return undefined
  } catch {
    return undefined
  }
  const parsed = parse(path)
  return parsed !== undefined && "entries" in parsed ? parsed.entries : undefined
}

let saves = 0

/**
 * Each entry's JSON, kept while the entry object lives: entries are replaced, never changed,
 * so a save serializes only the entries that changed since the last one (one per line), not
 * all of them (a crash storm of a thousand daemons saves many times a second).
 */
const texts = new WeakMap<Entry, string>()

const entryText = (entry: Entry): string => {
  let text = texts.get(entry)
  if (text === undefined) {
    text = JSON.stringify(entry)
    texts.set(entry, text)
  }
  return text
}

/** The file's text: `{"version":1,"daemons":[` and one entry per line. */
const fileText = (entries: ReadonlyArray<Entry>): string =>
  entries.length === 0 ? `{"version":1,"daemons":[]}\n` : `{"version":1,"daemons":[\n${entries.map(entryText).join(",\n")}\n]}\n`

/** Main files this process wrote itself (known good: no need to read them back before a save). */
const written = new Set<string>()

/**
 * Writes the registry atomically: the temp file is written and fsynced, the
 * current file (if good) becomes the backup through a hard link (a copy where
 * links are not supported), and the temp file is renamed over the main file.
 * `registry.json` exists and is complete at every instant, and the backup is
 * always a complete earlier version. Callers that may save concurrently must
 * serialize their saves (the supervisor does).
 *
 * @example
 * ```ts
 * import { Registry } from "@duende/cli"
 * import { Effect } from "effect"
 *
 * Effect.runSync(Registry.save("/tmp/registry.json", []))
 * ```
 *
 * @since 0.1.0
 */
export const save = (path: string, entries: ReadonlyArray<Entry>): Effect.Effect<void, RegistryError> =>
  Effect.tryPromise({
    // Non-blocking I/O: a supervisor in a crash storm saves often and must not stall its event loop.
    try: async () => {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 })
      const n = ++saves
      const temp = `${path}.tmp-${process.pid}-${n}`
      const file = await open(temp, "wx", 0o600)
      try {
        try {
          await file.writeFile(fileText(entries))
          await file.sync()
        } finally {
          await file.close()
        }
      } catch (error) {
        await rm(temp, { force: true })
        throw error
      }
      const current = written.has(path) ? { entries: [] } : parse(path)
      if (current !== undefined && "entries" in current) {
        // The backup becomes the current file without the current file ever moving.
        const backupTemp = `${path}.bak.tmp-${process.pid}-${n}`
        await link(path, backupTemp).catch(() => copyFile(path, backupTemp))
        await rename(backupTemp, `${path}.bak`).catch(async (error) => {
          await rm(backupTemp, { force: true })
          throw error
        })
      }
      await rename(temp, path)
      written.add(path)
      const dir = await open(dirname(path), "r")
      try {
        await dir.sync()
      } finally {
        await dir.close()
      }
    },
    catch: (error) => new RegistryError({ path, reason: (error as Error).message })
  })
