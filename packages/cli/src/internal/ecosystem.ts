/**
 * PM2 ecosystem files (`module.exports = { apps: [...] }`) as Duende configs:
 * every key of every app is mapped to the config field that does the same,
 * or reported with the reason it is not. `duende start ecosystem.config.js`
 * starts the result; `duende import` writes it as duende.json files.
 *
 * The file's shape is decoded with `effect/Schema` (bounded: 256 apps of 256
 * keys); each value is checked by the mapping that uses it, and the configs
 * it makes are then decoded by the daemon config's own schema.
 *
 * @internal
 */
import type { DaemonConfig } from "@duende/core"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { existsSync } from "node:fs"
import { availableParallelism } from "node:os"
import { resolve } from "node:path"
import { nameOf, scriptCommand, words } from "./startTarget.js"

/** What happened to one key of one app. */
export interface KeyReport {
  readonly key: string
  /** The config field it became (`env`, `restart.cron`…), or undefined when it was not mapped. */
  readonly to: string | undefined
  readonly note: string
}

/** One app of the file, as a Duende config input, with the report of each of its keys. */
export interface ImportedApp {
  readonly index: number
  readonly name: string
  readonly input: DaemonConfig.Input
  readonly keys: ReadonlyArray<KeyReport>
}

const App = Schema.Record({ key: Schema.String, value: Schema.Unknown }).pipe(
  Schema.filter((app) => Object.keys(app).length <= 256 || "an app may have at most 256 keys")
)

const Ecosystem = Schema.Struct({
  apps: Schema.Array(App).pipe(Schema.minItems(1), Schema.maxItems(256))
}, { key: Schema.String, value: Schema.Unknown })

/** Whether a config file's content is a PM2 ecosystem (an object with `apps`) rather than a Duende config. */
export const isEcosystem = (input: unknown): boolean =>
  input !== null && typeof input === "object" && !Array.isArray(input) && Object.hasOwn(input, "apps")

class Bad extends Error {}

const text = (key: string, value: unknown): string => {
  if (typeof value === "string") return value
  throw new Bad(`${key}: expected a string, got ${JSON.stringify(value) ?? typeof value}`)
}

const count = (key: string, value: unknown): number => {
  const number = typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : value
  if (typeof number === "number" && Number.isInteger(number)) return number
  throw new Bad(`${key}: expected a whole number, got ${JSON.stringify(value)}`)
}

/** PM2 takes milliseconds as numbers (and some keys as "10s"): a number becomes "<n>ms", text is kept for the schema to judge. */
const millis = (key: string, value: unknown): string => {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return `${value}ms`
  if (typeof value === "string") return /^\d+$/.test(value) ? `${value}ms` : value
  throw new Bad(`${key}: expected milliseconds (a number) or a duration such as "10s", got ${JSON.stringify(value)}`)
}

const list = (key: string, value: unknown): ReadonlyArray<string> =>
  typeof value === "string" ? [value] : Array.isArray(value) ? value.map((each, i) => text(`${key}[${i}]`, each)) : (() => {
    throw new Bad(`${key}: expected a string or a list of strings, got ${JSON.stringify(value)}`)
  })()

const argsOf = (key: string, value: unknown): ReadonlyArray<string> => {
  if (typeof value === "string") return Either.getOrElse(words(value), (why) => {
    throw new Bad(`${key}: ${why}`)
  })
  return list(key, value)
}

/** An env object with its numbers and booleans as text (PM2 files are full of `PORT: 3000`); other values are left to the schema. */
const envObject = (key: string, value: unknown): Record<string, unknown> => {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([name, each]) => [name, typeof each === "number" || typeof each === "boolean" ? String(each) : each])
    )
  }
  throw new Bad(`${key}: expected an object of variables, got ${JSON.stringify(value)}`)
}

/** Keys PM2 has that Duende does not map, each with the reason. */
const unmapped: Readonly<Record<string, string>> = {
  out_file: "Duende keeps each daemon's output in its own rotated log (~/.duende/logs/<name>.log, platform.native.logs); `duende logs NAME` reads it",
  error_file: "stdout and stderr go to one log, each line marked with its stream; `duende logs NAME --json` shows which",
  log_file: "the log is ~/.duende/logs/<name>.log",
  combine_logs: "instances' logs are read together by `duende logs NAME` (each line prefixed with its instance)",
  merge_logs: "instances' logs are read together by `duende logs NAME` (each line prefixed with its instance)",
  log_date_format: "every log line has an ISO 8601 time",
  log_type: "`duende logs NAME --json` prints JSON lines",
  time: "every log line has its time",
  namespace: "Duende has no namespaces: give related daemons a common name prefix",
  vizion: "no version-control metadata is kept",
  post_update: "no deploy hooks (`pm2 deploy`)",
  force: "a second start of a running daemon is refused; `duende restart` restarts it",
  treekill: "Duende always stops the whole process tree (its process group and what it forked)",
  kill_retry_time: "the stop sends SIGTERM, waits shutdownTimeout, then SIGKILLs the tree",
  source_map_support: "give node --enable-source-maps in interpreter_args instead",
  disable_source_map_support: "source maps are not added to node by Duende",
  instance_var: "each instance has DUENDE_INSTANCE (0, 1, …); this name is not set",
  increment_var: "instances share one env; DUENDE_INSTANCE tells them apart",
  filter_env: "the daemon gets the supervisor's environment and its env; nothing is filtered",
  append_env_to_name: "names do not change with the env profile",
  shutdown_with_message: "the stop is a SIGTERM, never an IPC message",
  stop_exit_codes: "restart.policy on-failure restarts only after a failure (exit code ≠ 0 or a signal)",
  pmx: "metrics are Prometheus (`duende` daemons serve /metrics), not pmx",
  automation: "no PM2 keymetrics",
  deep_monitoring: "no PM2 keymetrics",
  windowsHide: "Windows is not a platform of Duende"
}

/** The app's name as a Duende daemon name (lowercase letters, digits, "-"). */
const appName = (app: Readonly<Record<string, unknown>>, index: number): string => {
  if (typeof app.name === "string" && app.name !== "") return nameOf(app.name)
  if (typeof app.script === "string") return nameOf(app.script.replace(/^.*[/\\]/, "").replace(/\.[^.]*$/, ""))
  return `app-${index}`
}

/** Maps one app; throws Bad with the key and the problem when a value cannot be used. */
const mapApp = (app: Readonly<Record<string, unknown>>, index: number, directory: string, node: string): ImportedApp => {
  const keys: Array<KeyReport> = []
  const mapped = (key: string, to: string, note = "") => keys.push({ key, to, note })
  const name = appName(app, index)
  const input: Record<string, unknown> = { name }
  const restart: Record<string, unknown> = {}
  const env: Record<string, unknown> = {}
  const profiles: Record<string, unknown> = {}
  const native: Record<string, unknown> = {}
  const watch: Record<string, unknown> = {}
  let watching: boolean | ReadonlyArray<string> | undefined

  if (app.name !== undefined) mapped("name", "name", typeof app.name === "string" && app.name !== name ? `"${app.name}" is "${name}" (lowercase letters, digits, "-")` : "")
  if (app.script === undefined) throw new Bad("script: every app needs one (the file or command to run)")
  const script = text("script", app.script)
  const cwd = app.cwd === undefined ? directory : resolve(directory, text("cwd", app.cwd))
  if (app.cwd !== undefined) mapped("cwd", "workingDirectory")
  input.workingDirectory = cwd

  // The command: [interpreter, interpreter args, script, args] — PM2's rules for which interpreter.
  const interpreter = app.interpreter ?? app.exec_interpreter
  const interpreterName = interpreter === undefined ? undefined : text(app.interpreter !== undefined ? "interpreter" : "exec_interpreter", interpreter)
  const interpreterArgs = app.interpreter_args !== undefined
    ? argsOf("interpreter_args", app.interpreter_args)
    : app.node_args !== undefined
    ? argsOf("node_args", app.node_args)
    : []
  const path = resolve(cwd, script)
  const scriptArgs = app.args === undefined ? [] : argsOf("args", app.args)
  // A bare program name that is no file beside the config (script: "npm", args: "start") is looked up in PATH.
  const fromPath = interpreterName === undefined && !/[/\\\s]/.test(script) && !existsSync(path)
  const base = fromPath ? [script] : /\s/.test(script) && interpreterName === undefined
    ? Either.getOrElse(words(script), (why) => {
      throw new Bad(`script: ${why}`)
    })
    : Either.getOrElse(scriptCommand(path, interpreterName, node), (why) => {
      throw new Bad(`script: ${why}`)
    })
  const command = base.length > 1 && base[base.length - 1] === path
    ? [base[0]!, ...interpreterArgs, ...base.slice(1)]
    : interpreterArgs.length > 0 && base[0] === path
    ? (() => {
      throw new Bad("interpreter_args: the script runs as an executable (interpreter none), which takes no interpreter arguments")
    })()
    : [...base]
  input.command = [...command, ...scriptArgs]
  mapped("script", "command", `runs ${JSON.stringify(input.command)}`)
  for (const key of ["interpreter", "exec_interpreter", "interpreter_args", "node_args", "args"]) {
    if (app[key] !== undefined) mapped(key, "command")
  }

  for (const [key, value] of Object.entries(app)) {
    if (["name", "script", "cwd", "interpreter", "exec_interpreter", "interpreter_args", "node_args", "args"].includes(key)) continue
    switch (key) {
      case "env":
        Object.assign(env, envObject(key, value))
        mapped(key, "env")
        break
      case "port":
        env.PORT = String(count(key, value))
        mapped(key, "env.PORT")
        break
      case "instances": {
        const n = value === "max" ? 0 : count(key, value)
        input.instances = n <= 0 && n !== -1 ? "max" : n === -1 ? Math.max(1, availableParallelism() - 1) : n
        mapped(key, "instances", n === -1 ? `-1 (one per CPU but one) is ${String(input.instances)} on this machine` : "")
        break
      }
      case "exec_mode":
        keys.push({
          key,
          to: text(key, value).startsWith("cluster") ? "instances" : undefined,
          note: text(key, value).startsWith("cluster")
            ? "instances run as separate processes; to share a port among them, declare it in `listen` (the supervisor holds the socket)"
            : "every daemon runs as its own process (fork mode)"
        })
        break
      case "watch":
        watching = typeof value === "boolean" ? value : list(key, value)
        mapped(key, "watch")
        break
      case "ignore_watch": {
        const patterns = list(key, value)
        watch.ignore = patterns.map((pattern) => pattern.replace(/^.*[/\\]/, "") || pattern)
        mapped(key, "watch.ignore", patterns.some((p) => /[/\\]/.test(p)) ? "Duende ignores by name: a path pattern keeps its last part" : "")
        break
      }
      case "watch_delay":
        watch.debounce = millis(key, value)
        mapped(key, "watch.debounce")
        break
      case "watch_options":
        keys.push({ key, to: undefined, note: "chokidar options are not taken; watch.paths, watch.ignore and watch.debounce are" })
        break
      case "max_memory_restart":
        input.resources = { memory: typeof value === "number" ? value : text(key, value) }
        mapped(key, "resources.memory", "enforced by the supervisor (a memory cgroup, or by sampling the process tree)")
        break
      case "cron_restart":
        restart.cron = text(key, value)
        mapped(key, "restart.cron")
        break
      case "autorestart":
        if (typeof value !== "boolean") throw new Bad(`${key}: expected true or false, got ${JSON.stringify(value)}`)
        restart.policy = value ? "always" : "never"
        mapped(key, "restart.policy", value ? "always, as PM2 restarts after any exit" : "never")
        break
      case "max_restarts":
        restart.crashLoop = { ...(restart.crashLoop as object), burst: Math.max(1, count(key, value)) }
        mapped(key, "restart.crashLoop.burst", "Duende counts restarts within restart.crashLoop.interval (1 minute unless set)")
        break
      case "min_uptime":
        restart.minUptime = millis(key, value)
        mapped(key, "restart.minUptime")
        break
      case "kill_timeout":
        input.shutdownTimeout = millis(key, value)
        mapped(key, "shutdownTimeout")
        break
      case "restart_delay": {
        const delay = millis(key, value)
        restart.backoff = { initial: delay, max: delay, multiplier: 1, jitter: 0 }
        mapped(key, "restart.backoff", "a fixed delay")
        break
      }
      case "exp_backoff_restart_delay":
        restart.backoff = { initial: millis(key, value), max: "15s", multiplier: 1.5, jitter: 0 }
        mapped(key, "restart.backoff", "× 1.5 per restart up to 15 s, as PM2")
        break
      case "listen_timeout":
        input.initTimeout = millis(key, value)
        mapped(key, "initTimeout")
        break
      case "wait_ready":
        if (value === true) native.ready = "notify"
        mapped(key, "platform.native.ready", value === true ? "ready when the daemon sends READY=1 (a Duende daemon does; process.send('ready') is not read)" : "")
        break
      case "pid_file":
        input.pidFile = resolve(cwd, text(key, value))
        mapped(key, "pidFile")
        break
      case "user":
      case "uid":
        input.user = typeof value === "number" ? String(value) : text(key, value)
        mapped(key, "user")
        break
      case "gid":
        input.group = typeof value === "number" ? String(value) : text(key, value)
        mapped(key, "group")
        break
      default:
        if (key.startsWith("env_") && key.length > 4) {
          profiles[key.slice(4)] = envObject(key, value)
          mapped(key, `envProfiles.${key.slice(4)}`, `\`--env ${key.slice(4)}\` selects it`)
        } else if (key === "autostart") {
          keys.push({ key, to: undefined, note: value === false ? "`duende import` writes it; `duende install` registers it without starting" : "" })
        } else if (Object.hasOwn(unmapped, key)) {
          keys.push({ key, to: undefined, note: unmapped[key]! })
        } else {
          keys.push({ key, to: undefined, note: "not a PM2 app key Duende knows: ignored" })
        }
    }
  }
  if (Object.keys(env).length > 0) input.env = env
  if (Object.keys(profiles).length > 0) input.envProfiles = profiles
  if (restart.policy === undefined) {
    // PM2 restarts an app after any exit unless told otherwise: the imported config does the same.
    restart.policy = "always"
    keys.push({ key: "autorestart", to: "restart.policy", note: "not set: always, as PM2 restarts after any exit" })
  }
  input.restart = restart
  if (Object.keys(native).length > 0) input.platform = { native }
  if (watching !== undefined && watching !== false) {
    input.watch = Object.keys(watch).length === 0 ? watching : { ...(watching === true ? {} : { paths: watching }), ...watch }
  }
  return { index, name, input: input as unknown as DaemonConfig.Input, keys }
}

/**
 * The apps of an ecosystem file as Duende config inputs, each with the report
 * of its keys, or the first problem (`apps[1].instances: expected …`). `node`
 * is the program written for node (`duende start` runs its own; `duende
 * import` writes "node", looked up in PATH when the daemon starts).
 */
export const fromEcosystem = (
  content: unknown,
  directory: string,
  node: string = process.execPath
): Either.Either<ReadonlyArray<ImportedApp>, string> =>
  Either.flatMap(
    Either.mapLeft(
      Schema.decodeUnknownEither(Ecosystem)(content),
      (error) => ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => `${issue.path.join(".") || "the file"}: ${issue.message}`).join("; ")
    ),
    (ecosystem) => {
      const apps: Array<ImportedApp> = []
      for (const [index, app] of ecosystem.apps.entries()) {
        try {
          apps.push(mapApp(app, index, directory, node))
        } catch (error) {
          if (error instanceof Bad) return Either.left(`apps[${index}]${typeof app.name === "string" ? ` (${app.name})` : ""}.${error.message}`)
          throw error
        }
      }
      const seen = new Set<string>()
      const twice = apps.find((app) => seen.size === seen.add(app.name).size)
      return twice === undefined
        ? Either.right(apps)
        : Either.left(`two apps are named "${twice.name}" once made daemon names (lowercase letters, digits, "-"): rename one`)
    }
  )

/** The report for people: each app, then each key with where it went or why it did not. */
export const report = (source: string, apps: ReadonlyArray<ImportedApp>): string =>
  [
    `${source}: ${apps.length} app(s)`,
    ...apps.flatMap((app) => [
      `${app.name} (apps[${app.index}]):`,
      ...app.keys.map((key) =>
        `  ${key.key.padEnd(26)} ${key.to === undefined ? "not mapped" : `→ ${key.to}`}${key.note === "" ? "" : `: ${key.note}`}`
      )
    ])
  ].join("\n")
