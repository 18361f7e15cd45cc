/**
 * The platforms the `duende` command manages besides its own supervisor: one
 * table, a row per platform, kind → lazy `import()` of the platform package's
 * module (core's `PlatformModule`). `render <format>` and every lifecycle
 * command with `--platform <kind>` go through it; nothing else in the CLI
 * names a platform. Adding a platform is one row here (and one in core's
 * runtime table, `Platform.table`).
 *
 * A module is imported only when a command needs it: `--platform <kind>`
 * loads that one; `render`, help, and a flag the CLI does not know itself
 * (it may be a platform's: `--user`, `--driver`) load them all.
 *
 * @internal
 */
import type { PlatformModule } from "@duende/core/manager"
import * as Effect from "effect/Effect"

/** A platform module whatever its options (each module checks its own against core's shape). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Module = PlatformModule.PlatformModule<any>

/** A row: the package to install, and how to load its manager entry. */
export interface Row {
  readonly package: string
  readonly load: () => Promise<Module>
}

/** The table. */
export const table = {
  systemd: { package: "@duende/platform-systemd", load: () => import("@duende/platform-systemd/adapter") },
  launchd: { package: "@duende/platform-launchd", load: () => import("@duende/platform-launchd/adapter") },
  container: { package: "@duende/platform-container", load: () => import("@duende/platform-container/adapter") },
  kubernetes: { package: "@duende/platform-kubernetes", load: () => import("@duende/platform-kubernetes/adapter") },
  pepita: { package: "@duende/platform-pepita", load: () => import("@duende/platform-pepita/adapter") },
  wos: { package: "@duende/platform-wos", load: () => import("@duende/platform-wos/adapter") }
} satisfies Record<string, Row>

export type Kind = keyof typeof table

export const kinds = Object.keys(table) as ReadonlyArray<Kind>

/** A platform that could not be loaded, and what to do about it. */
export interface Unavailable {
  readonly kind: string
  readonly message: string
}

const missing = (error: unknown, name: string) => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && String((error as Error).message).includes(name)
}

/** Loads one row's module; a package that is not installed says which to install. */
export const loadRow = (kind: string, row: Row): Effect.Effect<Module, Unavailable> =>
  Effect.tryPromise({
    try: () => row.load(),
    catch: (error): Unavailable => ({
      kind,
      message: missing(error, row.package)
        ? `--platform ${kind} needs ${row.package}, which is not installed: npm install ${row.package}`
        : `${row.package} could not be loaded: ${String((error as Error)?.message ?? error).split("\n")[0]}`
    })
  }).pipe(
    Effect.filterOrFail(
      (module) => module.kind === kind,
      (module): Unavailable => ({ kind, message: `${row.package} is the platform "${module.kind}", not "${kind}"` })
    )
  )

/** The modules loaded for a command line, and those that could not be. */
export interface Loaded {
  readonly modules: ReadonlyMap<string, Module>
  readonly unavailable: ReadonlyArray<Unavailable>
}

/** Options the CLI declares itself: seeing only these, no platform's flags are needed. */
const ownOptions = new Set([
  "json",
  "platform",
  "timeout",
  "lines",
  "follow",
  "output",
  "state-dir",
  "version",
  "log-level",
  "completions"
])

/**
 * Which platforms the command line needs loaded before it is parsed: "all"
 * for `render`, help and flags the CLI does not declare itself; the one named
 * by `--platform`; else none.
 */
export const needed = (
  args: ReadonlyArray<string>,
  rows: Readonly<Record<string, Row>> = table
): "all" | ReadonlyArray<string> => {
  if (args.length === 0 || args.includes("render") || args.includes("-h")) return "all"
  const flags = args.filter((arg) => arg.startsWith("--") && arg !== "--").map((arg) => arg.slice(2).split("=")[0]!)
  if (flags.some((flag) => !ownOptions.has(flag))) return "all"
  const at = args.findIndex((arg) => arg === "--platform" || arg.startsWith("--platform="))
  const value = at < 0 ? undefined : args[at]!.includes("=") ? args[at]!.slice("--platform=".length) : args[at + 1]
  return value !== undefined && Object.hasOwn(rows, value) ? [value] : []
}

/**
 * The modules `args` need. The one `--platform` names must load; when all are
 * loaded for other reasons, one that cannot be is left out (its flags and
 * formats are then unknown), and said so if it is asked for.
 */
export const load = (args: ReadonlyArray<string>, rows: Readonly<Record<string, Row>> = table): Effect.Effect<Loaded, Unavailable> =>
  Effect.gen(function*() {
    const wanted = needed(args, rows)
    const modules = new Map<string, Module>()
    const unavailable: Array<Unavailable> = []
    if (wanted === "all") {
      for (const [kind, row] of Object.entries(rows)) {
        const loaded = yield* Effect.either(loadRow(kind, row))
        if (loaded._tag === "Right") modules.set(kind, loaded.right)
        else unavailable.push(loaded.left)
      }
    } else {
      for (const kind of wanted) modules.set(kind, yield* loadRow(kind, rows[kind]!))
    }
    return { modules, unavailable }
  })
