/**
 * The files a daemon's `watch` looks at, as a stream of changed paths:
 * chokidar (inotify on Linux, FSEvents on macOS), which skips ignored
 * directories instead of watching them and then dropping their events (a
 * recursive `fs.watch` puts a watch on every directory of `node_modules`).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { isAbsolute, relative, resolve, sep } from "node:path"
import type { DaemonConfig } from "../DaemonConfig.js"
import { defaults } from "./defaults.js"

/** A watch with every default filled in: absolute paths, the names it ignores, the quiet time before a restart. */
export interface WatchSpec {
  readonly paths: ReadonlyArray<string>
  readonly ignore: ReadonlyArray<string>
  readonly debounce: Duration.Duration
}

/** What is ignored when a watch names nothing to ignore: dependencies, and dot-files and -directories (.git, .env…). */
export const defaultIgnore: ReadonlyArray<string> = ["node_modules", ".*"]

/** The watch of a config, or undefined when it watches nothing; paths are resolved against its working directory. */
export const watchSpec = (config: DaemonConfig): WatchSpec | undefined => {
  const watch = config.watch
  if (watch === false) return undefined
  const cwd = config.workingDirectory ?? process.cwd()
  const given = watch === true ? undefined : Array.isArray(watch) ? (watch as ReadonlyArray<string>) : (watch as { readonly paths?: ReadonlyArray<string> }).paths
  const options = watch === true || Array.isArray(watch) ? {} : (watch as { readonly ignore?: ReadonlyArray<string>; readonly debounce?: Duration.Duration })
  return {
    paths: (given ?? ["."]).map((path) => resolve(cwd, path)),
    ignore: options.ignore ?? defaultIgnore,
    debounce: options.debounce ?? Duration.millis(defaults.watchDebounceMs)
  }
}

/** A name pattern (`*` matches within one name) as a regular expression. */
const namePattern = (pattern: string): RegExp =>
  new RegExp(`^${pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*")}$`)

/** Whether `path` (absolute) is ignored: a name of it below the watched root it lies in matches a pattern. */
export const ignores = (spec: WatchSpec): ((path: string) => boolean) => {
  const patterns = spec.ignore.map(namePattern)
  return (path) => {
    const root = spec.paths.find((each) => path === each || path.startsWith(each.endsWith(sep) ? each : each + sep))
    if (root === undefined) return false
    const below = relative(root, path)
    if (below === "" || isAbsolute(below)) return false
    return below.split(sep).some((name) => patterns.some((pattern) => pattern.test(name)))
  }
}

/**
 * The paths that change (are added, changed or removed) under the watch, from
 * the time the stream runs; the watcher closes when the stream ends, and an
 * error of the watcher (out of inotify watches: ENOSPC) fails the stream.
 */
export const changes = (spec: WatchSpec): Stream.Stream<string, Error> =>
  Stream.asyncScoped<string, Error>((emit) =>
    Effect.acquireRelease(
      // chokidar is loaded by the first watch: a supervisor without one never pays for it.
      Effect.map(Effect.promise(() => import("chokidar")), ({ watch }) => {
        const watcher = watch([...spec.paths], { ignored: ignores(spec), ignoreInitial: true, persistent: true })
        watcher.on("all", (_event, path) => void emit.single(resolve(path)))
        watcher.on("error", (error) => void emit.fail(error instanceof Error ? error : new Error(String(error))))
        return watcher
      }),
      (watcher) => Effect.promise(() => watcher.close())
    ), { bufferSize: 1024, strategy: "sliding" })
