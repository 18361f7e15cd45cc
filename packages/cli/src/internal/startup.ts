/**
 * `duende startup`: the supervisor itself as a service of the user's own
 * service manager, so that it is restarted when it dies and started at boot
 * — PM2's `pm2 startup`, without its wrong-user and wrong-home mistakes: the
 * unit runs as the user who asked (a user unit, never root's on their behalf),
 * with the node, the `duende` entry, `HOME`, `PATH` and the state directory
 * that user's command line has now, so the CLI and the supervisor find each
 * other on the same socket.
 *
 * - **systemd**: a user unit `duende.service` (`systemctl --user`),
 *   `Restart=always`, `WantedBy=default.target`, and lingering for the user
 *   (`loginctl enable-linger`) so that it starts at boot without a login.
 *   `KillMode=process`: the daemons are the supervisor's children but must
 *   outlive its death (a new supervisor takes over); on a stop the supervisor
 *   stops them itself, gracefully. `Delegate=yes`: on a cgroup v2 host it
 *   may make a control group for each daemon, which enforces its `resources`.
 * - **launchd**: a LaunchAgent `dev.duende.supervisor` in
 *   `~/Library/LaunchAgents` (`RunAtLoad`, `KeepAlive`, bootstrapped into
 *   `gui/<uid>`), its output to `supervisor.log`. launchd loads the user's
 *   agents at login. `AbandonProcessGroup`: as above, the daemons outlive it.
 *
 * @internal
 */
import { Plist } from "@duende/platform-launchd/adapter"
import { UnitFile } from "@duende/platform-systemd/adapter"
import * as Either from "effect/Either"
import { homedir } from "node:os"
import { join } from "node:path"

/** The unit's name. */
export const unitName = "duende.service"

/** What the supervisor's service must reproduce of the caller's environment. */
export interface Target {
  /** The node binary and the `duende` entry that run the supervisor. */
  readonly node: string
  readonly entry: string
  readonly env: Readonly<Record<string, string | undefined>>
}

const set = (value: string | undefined): value is string => value !== undefined && value !== ""

/** Where the user's units go: `$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user`. */
export const unitPath = (env: Readonly<Record<string, string | undefined>>): string =>
  join(set(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(set(env.HOME) ? env.HOME : homedir(), ".config"), "systemd", "user", unitName)

/**
 * The user unit's text: every value escaped for systemd (quotes, `%`, `$`),
 * or why it cannot be written.
 */
export const systemdUnit = (target: Target): Either.Either<string, string> => {
  const { env } = target
  const entries: Array<{ key: string; value: string }> = []
  const fail = (what: string, error: { readonly message: string }) => Either.left(`${what}: ${error.message}`)
  const exec = UnitFile.exec([target.node, target.entry, "supervisor"])
  if (Either.isLeft(exec)) return fail("the supervisor's command", exec.left)
  entries.push({ key: "Type", value: "exec" }, { key: "ExecStart", value: UnitFile.escapeSpecifiers(exec.right) })
  // The same state directory and socket as the command line that asked (see Paths.resolve).
  const pinned: Array<[string, string]> = []
  if (set(env.HOME)) pinned.push(["HOME", env.HOME])
  if (set(env.PATH)) pinned.push(["PATH", env.PATH])
  if (set(env.DUENDE_HOME)) pinned.push(["DUENDE_HOME", env.DUENDE_HOME])
  else if (set(env.XDG_RUNTIME_DIR)) pinned.push(["XDG_RUNTIME_DIR", env.XDG_RUNTIME_DIR])
  for (const [name, value] of pinned) {
    const line = UnitFile.environment(name, value)
    if (Either.isLeft(line)) return fail(`$${name}`, line.left)
    entries.push({ key: "Environment", value: UnitFile.escapeSpecifiers(line.right) })
  }
  // Without XDG_RUNTIME_DIR the command line keeps its socket in the state directory: so must the supervisor.
  if (!set(env.DUENDE_HOME) && !set(env.XDG_RUNTIME_DIR)) entries.push({ key: "UnsetEnvironment", value: "XDG_RUNTIME_DIR" })
  entries.push(
    // A Duende daemon stopped by SIGTERM (or SIGINT) exits 143 (130): a clean stop, not a failure.
    { key: "SuccessExitStatus", value: "130 143" },
    { key: "Restart", value: "always" },
    { key: "RestartSec", value: "1s" },
    // The daemons outlive the supervisor's death; on a stop it stops them itself (up to 10 minutes, its own deadline).
    { key: "KillMode", value: "process" },
    { key: "TimeoutStopSec", value: "11min" },
    // A cgroup subtree of its own, where it gives each daemon a group enforcing its resources.
    { key: "Delegate", value: "yes" },
    { key: "UMask", value: "0077" },
    { key: "NoNewPrivileges", value: "yes" },
    { key: "LockPersonality", value: "yes" },
    { key: "RestrictRealtime", value: "yes" },
    { key: "RestrictSUIDSGID", value: "yes" }
  )
  return Either.mapLeft(
    UnitFile.render({
      header: [
        "Written by `duende startup systemd`: the Duende supervisor as this user's service.",
        "`duende startup systemd --remove` removes it. Edit nothing here: run `duende startup` again."
      ],
      sections: [
        {
          name: "Unit",
          entries: [{ key: "Description", value: "Duende supervisor" }]
        },
        { name: "Service", entries },
        { name: "Install", entries: [{ key: "WantedBy", value: "default.target" }] }
      ]
    }),
    (error) => `the unit: ${error.message}`
  )
}

/** The agent's label. */
export const agentLabel = "dev.duende.supervisor"

/** Where the agent's plist goes: `~/Library/LaunchAgents/dev.duende.supervisor.plist`. */
export const agentPath = (env: Readonly<Record<string, string | undefined>>): string =>
  join(set(env.HOME) ? env.HOME : homedir(), "Library", "LaunchAgents", `${agentLabel}.plist`)

/** The LaunchAgent's plist (every string escaped by the plist writer), or why it cannot be written. */
export const launchdAgent = (target: Target & { readonly log: string }): Either.Either<string, string> => {
  const { env } = target
  const variables: Array<readonly [string, Plist.Value]> = []
  for (const name of ["HOME", "PATH", set(env.DUENDE_HOME) ? "DUENDE_HOME" : "XDG_RUNTIME_DIR"]) {
    const value = env[name]
    if (set(value)) variables.push([name, Plist.string(value)])
  }
  return Either.mapLeft(
    Plist.write(
      Plist.dict([
        ["Label", Plist.string(agentLabel)],
        ["ProgramArguments", Plist.array([target.node, target.entry, "supervisor"].map(Plist.string))],
        ["EnvironmentVariables", Plist.dict(variables)],
        ["RunAtLoad", Plist.bool(true)],
        ["KeepAlive", Plist.bool(true)],
        ["ThrottleInterval", Plist.integer(1)],
        // The supervisor stops its daemons itself, each within its deadline (10 minutes at most).
        ["ExitTimeOut", Plist.integer(660)],
        ["AbandonProcessGroup", Plist.bool(true)],
        ["StandardOutPath", Plist.string(target.log)],
        ["StandardErrorPath", Plist.string(target.log)]
      ]),
      { comment: ["Written by `duende startup launchd`: the Duende supervisor as this user's agent.", "`duende startup launchd --remove` removes it."] }
    ),
    (error) => `the agent's plist: ${error.message}`
  )
}
