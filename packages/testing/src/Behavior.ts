/**
 * What a scripted daemon does: how long it takes to be ready, when it exits
 * and with what, how it answers SIGTERM, when it turns unhealthy or stops
 * pinging its watchdog. The test platform simulates it; the contract fixture
 * (`contract-daemon.mjs`, a real Duende daemon) does it for real. Both read it
 * from `DUENDE_TEST_*` environment variables, so one config describes the same
 * behaviour on every platform.
 *
 * @since 0.1.0
 */

/**
 * A scripted behaviour. Times are milliseconds.
 *
 * @since 0.1.0
 */
export interface Behavior {
  /** Time from the start request until the process exists, like a VM booting or an image being pulled (default 0). */
  readonly spawnAfterMs?: number
  /** Time from start to READY (default 0). */
  readonly readyAfterMs?: number
  /** Never becomes ready. */
  readonly neverReady?: boolean
  /** Fails its init: exits 3 before it is ready. */
  readonly failInit?: boolean
  /** Exits by itself this long after it became ready… */
  readonly exitAfterMs?: number
  /** …with this code (default 1). */
  readonly exitCode?: number
  /** Ignores SIGTERM: only SIGKILL ends it. */
  readonly ignoreTerm?: boolean
  /** Its shutdown takes this long after SIGTERM (it then exits 143). */
  readonly shutdownMs?: number
  /** Its health check fails from this long after ready on. */
  readonly unhealthyAfterMs?: number
  /** It stops pinging its watchdog this long after ready (a blocked event loop). */
  readonly hangAfterMs?: number
  /** Lines it prints right after start (besides its cwd and the DUENDE_TEST_ECHO variable). */
  readonly lines?: ReadonlyArray<string>
}

const keys = {
  spawnAfterMs: "DUENDE_TEST_SPAWN_AFTER_MS",
  readyAfterMs: "DUENDE_TEST_READY_AFTER_MS",
  neverReady: "DUENDE_TEST_NEVER_READY",
  failInit: "DUENDE_TEST_FAIL_INIT",
  exitAfterMs: "DUENDE_TEST_EXIT_AFTER_MS",
  exitCode: "DUENDE_TEST_EXIT_CODE",
  ignoreTerm: "DUENDE_TEST_IGNORE_TERM",
  shutdownMs: "DUENDE_TEST_SHUTDOWN_MS",
  unhealthyAfterMs: "DUENDE_TEST_UNHEALTHY_AFTER_MS",
  hangAfterMs: "DUENDE_TEST_HANG_AFTER_MS",
  lines: "DUENDE_TEST_LINES"
} as const

/**
 * The environment variables that describe a behaviour.
 *
 * @example
 * ```ts
 * import { Behavior } from "@duende/testing"
 *
 * Behavior.toEnv({ exitAfterMs: 500, exitCode: 2 })
 * // { DUENDE_TEST_EXIT_AFTER_MS: "500", DUENDE_TEST_EXIT_CODE: "2" }
 * ```
 *
 * @since 0.1.0
 */
export const toEnv = (behavior: Behavior): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [field, key] of Object.entries(keys) as Array<[keyof Behavior, string]>) {
    const value = behavior[field]
    if (value === undefined || value === false) continue
    env[key] = field === "lines" ? JSON.stringify(value) : value === true ? "1" : String(value)
  }
  return env
}

/**
 * Reads a behaviour back from an environment.
 *
 * @example
 * ```ts
 * import { Behavior } from "@duende/testing"
 *
 * Behavior.fromEnv({ DUENDE_TEST_IGNORE_TERM: "1" }) // { ignoreTerm: true }
 * ```
 *
 * @since 0.1.0
 */
export const fromEnv = (env: Readonly<Record<string, string | undefined>>): Behavior => {
  const number = (key: string) => (env[key] === undefined ? undefined : Number(env[key]))
  const flag = (key: string) => env[key] === "1"
  const behavior: { -readonly [K in keyof Behavior]: Behavior[K] } = {}
  const set = <K extends keyof Behavior>(field: K, value: Behavior[K] | undefined) => {
    if (value !== undefined && value !== false) behavior[field] = value
  }
  set("spawnAfterMs", number(keys.spawnAfterMs))
  set("readyAfterMs", number(keys.readyAfterMs))
  set("neverReady", flag(keys.neverReady))
  set("failInit", flag(keys.failInit))
  set("exitAfterMs", number(keys.exitAfterMs))
  set("exitCode", number(keys.exitCode))
  set("ignoreTerm", flag(keys.ignoreTerm))
  set("shutdownMs", number(keys.shutdownMs))
  set("unhealthyAfterMs", number(keys.unhealthyAfterMs))
  set("hangAfterMs", number(keys.hangAfterMs))
  set("lines", env[keys.lines] === undefined ? undefined : (JSON.parse(env[keys.lines]!) as ReadonlyArray<string>))
  return behavior
}
