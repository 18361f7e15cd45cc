/**
 * Where the supervisor keeps its things. `DUENDE_HOME` puts everything in one
 * directory (tests, several independent supervisors); otherwise state lives in
 * `~/.duende` and the control socket in `$XDG_RUNTIME_DIR/duende` (a
 * per-user directory only its owner can enter) or, without it, `~/.duende`.
 *
 * @since 0.1.0
 */
import { lstatSync, readdirSync, type Stats } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"

/**
 * The supervisor's files.
 *
 * @since 0.1.0
 */
export interface Paths {
  /** State: registry, logs, the supervisor's PID file and log. */
  readonly home: string
  readonly registry: string
  readonly logs: string
  readonly supervisorPidFile: string
  readonly supervisorLog: string
  /** The directory of the control socket (mode 0700) and the socket (mode 0600). */
  readonly socketDirectory: string
  readonly socket: string
}

/**
 * The paths for an environment.
 *
 * @example
 * ```ts
 * import { Paths } from "@duende/cli"
 *
 * const paths = Paths.resolve({ DUENDE_HOME: "/tmp/duende-test" })
 * paths.socket // "/tmp/duende-test/supervisor.sock"
 * ```
 *
 * @since 0.1.0
 */
export const resolve = (env: Readonly<Record<string, string | undefined>> = process.env): Paths => {
  const custom = env.DUENDE_HOME !== undefined && env.DUENDE_HOME !== ""
  const home = custom ? env.DUENDE_HOME! : join(env.HOME ?? homedir(), ".duende")
  const socketDirectory = custom
    ? home
    : env.XDG_RUNTIME_DIR !== undefined && env.XDG_RUNTIME_DIR !== ""
    ? join(env.XDG_RUNTIME_DIR, "duende")
    : home
  return {
    home,
    registry: join(home, "registry.json"),
    logs: join(home, "logs"),
    supervisorPidFile: join(home, "supervisor.pid"),
    supervisorLog: join(home, "supervisor.log"),
    socketDirectory,
    socket: join(socketDirectory, "supervisor.sock")
  }
}

const describeOwner = (path: string, stat: Stats, kind: "directory" | "file", uid: number): string | undefined => {
  if (stat.isSymbolicLink()) return `${path} is a symbolic link`
  if (kind === "directory" ? !stat.isDirectory() : !stat.isFile() && !stat.isSocket()) return `${path} is not a ${kind}`
  if (stat.uid !== uid) return `${path} belongs to uid ${stat.uid}, not to this user (uid ${uid})`
  if ((stat.mode & 0o022) !== 0) {
    return `${path} can be written by ${(stat.mode & 0o002) !== 0 ? "every user" : "its group"} (mode ${(stat.mode & 0o777).toString(8)})`
  }
  return undefined
}

const lstatOrUndefined = (path: string): Stats | undefined => {
  try {
    return lstatSync(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw error
  }
}

/**
 * Why the state directory must not be used, or undefined when it is safe: the
 * directories (state, logs, socket) and every file Duende reads or writes
 * there must belong to this user, be no symbolic link and not be writable by
 * others. Checked before anything is read or done, so a directory prepared by
 * another local user (a registry naming pids to signal, a `logs` link to
 * elsewhere) is refused, not trusted. What does not exist yet is fine (Duende
 * creates it, mode 0700). Once the directory is this user's alone, nobody else
 * can put a link in it later.
 *
 * @example
 * ```ts
 * import { Paths } from "@duende/cli"
 *
 * const problem = Paths.unsafe(Paths.resolve())
 * if (problem !== undefined) console.error(`duende: ${problem}`)
 * ```
 *
 * @since 0.1.0
 */
export const unsafe = (paths: Paths, uid: number | undefined = process.getuid?.()): string | undefined => {
  if (uid === undefined) return undefined // no owners to compare (Windows)
  const refuse = (problem: string) => `refusing to use ${paths.home}: ${problem}; fix or remove it (the state directory must be yours alone)`
  for (const directory of new Set([paths.home, paths.socketDirectory, paths.logs])) {
    const stat = lstatOrUndefined(directory)
    const problem = stat === undefined ? undefined : describeOwner(directory, stat, "directory", uid)
    if (problem !== undefined) return refuse(problem)
  }
  const files = [paths.registry, `${paths.registry}.bak`, paths.supervisorPidFile, paths.supervisorLog, paths.socket]
  if (lstatOrUndefined(paths.logs) !== undefined) files.push(...readdirSync(paths.logs).map((name) => join(paths.logs, name)))
  for (const file of files) {
    const stat = lstatOrUndefined(file)
    const problem = stat === undefined ? undefined : describeOwner(file, stat, "file", uid)
    if (problem !== undefined) return refuse(problem)
  }
  return undefined
}
