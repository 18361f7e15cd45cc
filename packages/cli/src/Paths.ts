/**
 * Where the supervisor keeps its things. `DUENDE_HOME` puts everything in one
 * directory (tests, several independent supervisors); otherwise state lives in
 * `~/.duende` and the control socket in `$XDG_RUNTIME_DIR/duende` (a
 * per-user directory only its owner can enter) or, without it, `~/.duende`.
 *
 * @since 0.1.0
 */
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
