/**
 * `launchctl` as a service, with the modern verbs (macOS 10.10+):
 * `bootstrap`, `bootout`, `kickstart [-k]`, `kill`, `print`, and `list` as the
 * fallback when `print` says nothing readable. A non-zero exit becomes core's
 * `PlatformCommandFailed` carrying the command, its exit code and what it
 * printed (launchctl's numbers: 5 "Input/output error" for a bootstrap that
 * did not take, 37 "Operation already in progress", 113 "Could not find
 * service"…), so an adapter error always says what launchctl said.
 *
 * @since 0.1.0
 */
import { PlatformCommandFailed } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Exec from "./internal/exec.js"
import * as PrintOutput from "./internal/printOutput.js"

/**
 * What launchd says about a loaded job.
 *
 * @since 0.1.0
 */
export type ServiceInfo = PrintOutput.ServiceInfo

/**
 * How the last run ended, in macOS's numbering (`{ signal: 15 }` is SIGTERM).
 *
 * @since 0.1.0
 */
export type LastExit = PrintOutput.LastExit

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The launchctl to run (default "launchctl", from the environment's PATH). */
  readonly command?: string
  /** Its environment (default: this process's). */
  readonly env?: Readonly<Record<string, string | undefined>>
}

/**
 * The tool.
 *
 * @since 0.1.0
 */
export interface Launchctl {
  /** Runs `launchctl <args>`; fails with what it printed when it exits non-zero. */
  readonly run: (args: ReadonlyArray<string>) => Effect.Effect<Exec.Output, PlatformCommandFailed>
  /** Loads a plist into a domain (`gui/501`, `system`). */
  readonly bootstrap: (domain: string, plist: string) => Effect.Effect<void, PlatformCommandFailed>
  /** Unloads a service (`gui/501/com.example.api`): launchd sends SIGTERM, then SIGKILL after ExitTimeOut. */
  readonly bootout: (service: string) => Effect.Effect<void, PlatformCommandFailed>
  /** Starts a loaded service now; with `kill`, kills the running instance first. */
  readonly kickstart: (service: string, options?: { readonly kill?: boolean }) => Effect.Effect<void, PlatformCommandFailed>
  /** Sends a signal ("SIGTERM") to the service's process. */
  readonly kill: (signal: string, service: string) => Effect.Effect<void, PlatformCommandFailed>
  /**
   * What launchd says about the service: from `print`, or `list <label>` when
   * print's output has nothing readable; none when it is not loaded.
   */
  readonly info: (service: string) => Effect.Effect<Option.Option<ServiceInfo>, PlatformCommandFailed>
}

/**
 * Whether launchctl said the service is not loaded (exit 113, or its words for it).
 *
 * @example
 * ```ts
 * import { Launchctl } from "@duende/platform-launchd/adapter"
 * import { PlatformCommandFailed } from "@duende/core/manager"
 *
 * Launchctl.isNotFound(new PlatformCommandFailed({ command: ["launchctl"], exitCode: 113, stderr: "Could not find service" })) // true
 * ```
 *
 * @since 0.1.0
 */
export const isNotFound = (error: PlatformCommandFailed): boolean =>
  error.exitCode === 113 || /could not find service|no such process|service is not loaded/i.test(error.stderr)

/**
 * Reads `launchctl print` output (see the module's notes on its format).
 *
 * @example
 * ```ts
 * import { Launchctl } from "@duende/platform-launchd/adapter"
 *
 * Launchctl.parsePrint("gui/501/x = {\n\tstate = running\n\tpid = 42\n\truns = 1\n}\n")?.pid // 42
 * ```
 *
 * @since 0.1.0
 */
export const parsePrint: (text: string) => ServiceInfo | undefined = PrintOutput.parsePrint

/**
 * Reads `launchctl list <label>` output.
 *
 * @example
 * ```ts
 * import { Launchctl } from "@duende/platform-launchd/adapter"
 *
 * Launchctl.parseList('{\n\t"Label" = "x";\n\t"PID" = 42;\n\t"LastExitStatus" = 0;\n};\n')?.pid // 42
 * ```
 *
 * @since 0.1.0
 */
export const parseList: (text: string) => ServiceInfo | undefined = PrintOutput.parseList

/**
 * Makes the tool.
 *
 * @example
 * ```ts
 * import { Launchctl } from "@duende/platform-launchd/adapter"
 * import { Effect, Option } from "effect"
 *
 * const pid = Effect.map(
 *   Effect.flatMap(Launchctl.make(), (launchctl) => launchctl.info(`gui/501/com.example.api`)),
 *   Option.flatMap((info) => Option.fromNullable(info.pid))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<Launchctl> =>
  Effect.sync(() => {
    const command = options.command ?? "launchctl"
    const env = options.env ?? process.env
    const run = (args: ReadonlyArray<string>) =>
      Effect.flatMap(Exec.run([command, ...args], env), (output) =>
        output.exitCode === 0 ? Effect.succeed(output) : Effect.fail(
          new PlatformCommandFailed({
            command: [command, ...args],
            exitCode: output.exitCode,
            stderr: (output.stderr.trim() || output.stdout.trim())
          })
        ))
    const label = (service: string) => service.slice(service.lastIndexOf("/") + 1)
    const notLoaded = (error: PlatformCommandFailed) =>
      isNotFound(error) ? Effect.succeed(Option.none<ServiceInfo>()) : Effect.fail(error)
    const list = (service: string) =>
      run(["list", label(service)]).pipe(
        Effect.map((output) => Option.fromNullable(PrintOutput.parseList(output.stdout))),
        Effect.catchAll(notLoaded)
      )
    return {
      run,
      bootstrap: (domain, plist) => Effect.asVoid(run(["bootstrap", domain, plist])),
      bootout: (service) => Effect.asVoid(run(["bootout", service])),
      kickstart: (service, kickOptions) => Effect.asVoid(run(["kickstart", ...(kickOptions?.kill ? ["-k"] : []), service])),
      kill: (signal, service) => Effect.asVoid(run(["kill", signal, service])),
      info: (service) =>
        run(["print", service]).pipe(
          Effect.flatMap((output) => {
            const info = PrintOutput.parsePrint(output.stdout)
            return info === undefined ? list(service) : Effect.succeed(Option.some(info))
          }),
          Effect.catchAll((error) => (isNotFound(error) ? Effect.succeed(Option.none<ServiceInfo>()) : list(service)))
        )
    } satisfies Launchctl
  })
