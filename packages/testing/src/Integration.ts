/**
 * Gates for integration tests that need real tools (systemd-nspawn, runc,
 * podman, qemu…). On a laptop a missing tool skips the suite with a loud
 * reason; with `DUENDE_REQUIRE_INTEGRATION=1` (set by CI) it fails instead, so
 * a skipped suite can never pass for a tested one.
 *
 * @since 0.1.0
 */
import { execFileSync } from "node:child_process"
import { accessSync, constants } from "node:fs"
import { delimiter, join } from "node:path"

/**
 * A requirement: returns undefined when met, else why not.
 *
 * @since 0.1.0
 */
export type Requirement = () => string | undefined

/**
 * Whether missing tools fail (CI) instead of skipping.
 *
 * @since 0.1.0
 */
export const required = (): boolean => process.env.DUENDE_REQUIRE_INTEGRATION === "1"

/**
 * The absolute path of an executable on PATH, if any.
 *
 * @example
 * ```ts
 * import { Integration } from "@duende/testing"
 *
 * const runc = Integration.which("runc")
 * ```
 *
 * @since 0.1.0
 */
export const which = (name: string): string | undefined => {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/**
 * Needs an executable on PATH.
 *
 * @example
 * ```ts
 * import { Integration } from "@duende/testing"
 *
 * const needsPodman = Integration.tool("podman")
 * ```
 *
 * @since 0.1.0
 */
export const tool = (name: string, hint = `apt-get install ${name}`): Requirement => () =>
  which(name) === undefined ? `${name} is not installed (${hint})` : undefined

/**
 * Needs to run as root.
 *
 * @example
 * ```ts
 * import { Integration } from "@duende/testing"
 *
 * const needsRoot = Integration.root()
 * ```
 *
 * @since 0.1.0
 */
export const root = (): Requirement => () =>
  process.getuid?.() === 0 ? undefined : "must run as root"

/**
 * Needs a command to succeed (for checks such as "can this kernel run X").
 *
 * @example
 * ```ts
 * import { Integration } from "@duende/testing"
 *
 * const cgroupsWritable = Integration.command("test", ["-w", "/sys/fs/cgroup"], "cgroups are read-only")
 * ```
 *
 * @since 0.1.0
 */
export const command = (file: string, args: ReadonlyArray<string>, why: string): Requirement => () => {
  try {
    execFileSync(file, args, { stdio: "ignore", timeout: 30_000 })
    return undefined
  } catch {
    return why
  }
}

/**
 * The result of checking requirements.
 *
 * @since 0.1.0
 */
export interface Gate {
  readonly ok: boolean
  readonly missing: ReadonlyArray<string>
  /** " [skipped: …]" when skipping, "" otherwise: append it to the suite's name. */
  readonly label: string
}

/**
 * Checks requirements. When some are missing and `DUENDE_REQUIRE_INTEGRATION=1`,
 * throws, failing the test file; otherwise returns a gate to skip with.
 *
 * @example
 * ```ts
 * import { Integration } from "@duende/testing"
 * import { describe, it } from "vitest"
 *
 * const gate = Integration.check(Integration.tool("runc"), Integration.root())
 * describe.skipIf(!gate.ok)(`runc containers${gate.label}`, () => {
 *   it("runs the daemon", () => {})
 * })
 * ```
 *
 * @since 0.1.0
 */
export const check = (...requirements: ReadonlyArray<Requirement>): Gate => {
  const missing = requirements.map((requirement) => requirement()).filter((m): m is string => m !== undefined)
  if (missing.length > 0 && required()) {
    throw new Error(`integration requirements missing and DUENDE_REQUIRE_INTEGRATION=1: ${missing.join("; ")}`)
  }
  if (missing.length > 0) {
    process.stderr.write(`\n[duende] SKIPPING integration suite: ${missing.join("; ")}\n`)
  }
  return { ok: missing.length === 0, missing, label: missing.length === 0 ? "" : ` [skipped: ${missing.join("; ")}]` }
}
