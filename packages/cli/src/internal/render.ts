/**
 * `duende render <format> <config>`: what a daemon config becomes on a
 * platform, without installing anything. The platform packages are imported
 * only here, when asked, so other commands do not pay for loading them.
 *
 * @internal
 */
import type { DaemonConfig } from "@duende/core"
import type { PlatformAdapter } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { mkdirSync, renameSync, writeFileSync } from "node:fs"
import { join } from "node:path"

/** Every format `render` knows: systemd units, then the container formats. */
export const formats = ["systemd", "oci", "docker", "podman", "engine", "compose"] as const

export type Format = typeof formats[number]

export interface Options {
  readonly user: boolean
  /** systemd: the version to render for; by default the one `systemctl --version` reports. */
  readonly systemdVersion: number | undefined
  /** Containers: the image, when the config's `platform.container.image` does not name one. */
  readonly image: string | undefined
}

/** The oldest systemd Duende's units are written for (Debian 12's). */
const baselineSystemd = 252

/**
 * Renders `config` as `format`; fails with a message naming the problem.
 * `warn` receives notes for stderr (the output itself stays clean for a pipe).
 */
export const render = (
  config: DaemonConfig.DaemonConfig,
  format: Format,
  options: Options,
  warn: (note: string) => void
): Effect.Effect<ReadonlyArray<PlatformAdapter.Artifact>, string> =>
  Effect.gen(function*() {
    if (format === "systemd") {
      const { Systemctl, SystemdUnit } = yield* Effect.promise(() => import("@duende/platform-systemd/adapter"))
      // This machine's systemd, if it has one (a missing systemctl is a failure, not a version).
      const local = Effect.flatMap(Systemctl.make(), (systemctl) => Effect.option(systemctl.version))
      let version = options.systemdVersion ?? Option.getOrUndefined(yield* local)
      if (version === undefined) {
        version = baselineSystemd
        warn(`duende: no systemctl here; rendered for systemd ${version} (say --systemd-version N for another)`)
      }
      return yield* Either.mapLeft(
        SystemdUnit.render(config, { scope: options.user ? "user" : config.platform.systemd?.scope ?? "system", version }),
        (error) => error.message
      )
    }
    if (format !== "oci" && options.image === undefined && config.platform.container?.image === undefined) {
      return yield* Effect.fail(`${format} needs an image: set platform.container.image in the config, or say --image`)
    }
    const { ContainerArtifacts } = yield* Effect.promise(() => import("@duende/platform-container/adapter"))
    const artifact = yield* ContainerArtifacts.render(config, format, {
      ...(options.image !== undefined ? { section: { image: options.image } } : {})
    })
    return [artifact]
  })

/** The artifacts as one text: one alone as it is; several, each under a comment naming its file. */
export const text = (artifacts: ReadonlyArray<PlatformAdapter.Artifact>): string =>
  artifacts.length === 1
    ? artifacts[0]!.content
    : artifacts.map((artifact) => `# ${artifact.name} (${artifact.kind})\n${artifact.content}`).join("\n")

/** Writes each artifact into `directory` atomically (temporary file, then rename); returns the paths. */
export const write = (artifacts: ReadonlyArray<PlatformAdapter.Artifact>, directory: string): ReadonlyArray<string> => {
  mkdirSync(directory, { recursive: true })
  return artifacts.map((artifact) => {
    const target = join(directory, artifact.name)
    const temporary = `${target}.${process.pid}.tmp`
    writeFileSync(temporary, artifact.content, { mode: 0o644 })
    renameSync(temporary, target)
    return target
  })
}
