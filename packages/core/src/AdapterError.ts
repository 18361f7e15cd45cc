/**
 * The ways a platform adapter can fail, one tagged error per kind. Every
 * adapter (native, systemd, launchd, container, pepita, WOS) fails with these,
 * so callers handle them once.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * No daemon of that name is installed on the platform.
 *
 * @since 0.1.0
 */
export class DaemonNotFound extends Data.TaggedError("DaemonNotFound")<{
  readonly name: string
  readonly platform: string
}> {
  override get message(): string {
    return `no daemon named "${this.name}" is installed on ${this.platform}`
  }
}

/**
 * `start` on a daemon that is already running.
 *
 * @since 0.1.0
 */
export class DaemonAlreadyRunning extends Data.TaggedError("DaemonAlreadyRunning")<{
  readonly name: string
  readonly pid: number | undefined
}> {
  override get message(): string {
    return `daemon "${this.name}" is already running${this.pid === undefined ? "" : ` (pid ${this.pid})`}`
  }
}

/**
 * The daemon did not come up: its command could not be run, it exited during
 * start, or it did not report ready in time.
 *
 * @since 0.1.0
 */
export class StartFailed extends Data.TaggedError("StartFailed")<{
  readonly name: string
  readonly reason: string
}> {
  override get message(): string {
    return `daemon "${this.name}" failed to start: ${this.reason}`
  }
}

/**
 * A platform tool (systemctl, launchctl, runc, podman, qemu…) or API call
 * failed; carries what it printed.
 *
 * @since 0.1.0
 */
export class PlatformCommandFailed extends Data.TaggedError("PlatformCommandFailed")<{
  readonly command: ReadonlyArray<string>
  readonly exitCode: number | null
  readonly stderr: string
}> {
  override get message(): string {
    const detail = this.stderr.trim().split("\n").slice(-3).join(" | ")
    return `${this.command.join(" ")} failed${this.exitCode === null ? "" : ` (exit ${this.exitCode})`}${
      detail ? `: ${detail}` : ""
    }`
  }
}

/**
 * The platform cannot do this (e.g. reload on a platform with no reload signal).
 *
 * @since 0.1.0
 */
export class OperationUnsupported extends Data.TaggedError("OperationUnsupported")<{
  readonly operation: string
  readonly platform: string
  readonly hint?: string
}> {
  override get message(): string {
    return `${this.platform} cannot ${this.operation}${this.hint ? `: ${this.hint}` : ""}`
  }
}

/**
 * Reading or writing a file the adapter owns (a unit, a plist, logs, state) failed.
 *
 * @since 0.1.0
 */
export class AdapterIOError extends Data.TaggedError("AdapterIOError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.path}: ${this.reason}`
  }
}

/**
 * Any adapter failure.
 *
 * @since 0.1.0
 */
export type AdapterError =
  | DaemonNotFound
  | DaemonAlreadyRunning
  | StartFailed
  | PlatformCommandFailed
  | OperationUnsupported
  | AdapterIOError
