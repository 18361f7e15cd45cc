/**
 * What podman's command line cannot pass on: its `--env` (podman 4.3, and so
 * podman-compose, which calls it) turns each "\r\n" of a value into "\n",
 * while arguments, JSON values and the Docker Engine API keep it. Run
 * arguments for podman and compose files refuse such a value rather than
 * hand the daemon a different one.
 *
 * @internal
 */
import type { ContainerSpec } from "../ContainerSpec.js"

export const crlfProblem = (spec: Pick<ContainerSpec, "env">, where: string): string | undefined => {
  const keys = spec.env.filter(([, value]) => value.includes("\r\n")).map(([key]) => `env.${key}`)
  return keys.length === 0 ? undefined : `${keys.join(", ")}: ${where} turns "\\r\\n" into "\\n" (podman's --env does), ` +
    `so the daemon would get another value; write "\\n", or use the OCI or Docker Engine API formats`
}
