/**
 * The Kubernetes settings of a daemon: `platform.kubernetes` in its config.
 * The schema is core's (`KubernetesSection` in `@duende/core/DaemonConfigSchema`),
 * so a config file is checked once with every bad field named; this module
 * fills in the defaults and puts settings given to the renderer or the
 * adapter (`--image`, `--namespace`, `KubernetesAdapter.layer({ section })`)
 * under the daemon's own: the config's fields win, the given ones fill in.
 *
 * @since 0.1.0
 */
import { KubernetesSection as Section } from "@duende/core/DaemonConfigSchema"
import { StateFile } from "@duende/platform-container"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * The schema of the section as written (core's `PlatformSections.kubernetes`).
 *
 * @example
 * ```ts
 * import { KubernetesSection } from "@duende/platform-kubernetes/adapter"
 * import * as Schema from "effect/Schema"
 *
 * const written = Schema.decodeUnknownSync(KubernetesSection.KubernetesSection)({ replicas: 3, image: "ghcr.io/acme/api:1" })
 * ```
 *
 * @since 0.1.0
 */
export const KubernetesSection = Section

/**
 * A section as written in a config file.
 *
 * @since 0.1.0
 */
export type Input = Schema.Schema.Encoded<typeof Section>

type Written = Schema.Schema.Type<typeof Section>

/**
 * A port of the daemon, defaults filled in.
 *
 * @since 0.1.0
 */
export interface Port {
  readonly name: string | undefined
  readonly port: number
  readonly servicePort: number
  readonly protocol: "TCP" | "UDP" | "SCTP"
}

/**
 * The probes: `duende health` (or another command) in the container, an HTTP GET, or none.
 *
 * @since 0.1.0
 */
export type Probe =
  | { readonly type: "exec"; readonly command: ReadonlyArray<string> }
  | {
    readonly type: "http"
    readonly path: string
    readonly port: number | string
    readonly scheme: "HTTP" | "HTTPS"
  }
  | { readonly type: "none" }

/**
 * The securityContext settings, defaults filled in (all hardening on).
 *
 * @since 0.1.0
 */
export interface Security {
  readonly runAsNonRoot: boolean
  readonly runAsUser: number | undefined
  readonly runAsGroup: number | undefined
  readonly readOnlyRootFilesystem: boolean
  readonly allowPrivilegeEscalation: boolean
  readonly dropAllCapabilities: boolean
  readonly addCapabilities: ReadonlyArray<string>
  readonly seccompProfile: "RuntimeDefault" | "Unconfined"
  readonly tmpVolume: boolean
}

/**
 * A section with its defaults filled in.
 *
 * @since 0.1.0
 */
export interface KubernetesSection {
  readonly kind: "Deployment" | "StatefulSet" | "Job" | undefined
  readonly replicas: number
  readonly image: string | undefined
  readonly imagePullPolicy: "Always" | "IfNotPresent" | "Never" | undefined
  readonly imagePullSecrets: ReadonlyArray<string>
  readonly namespace: string | undefined
  readonly serviceAccount: {
    readonly name: string | undefined
    readonly create: boolean
    readonly automountToken: boolean
  }
  readonly ports: ReadonlyArray<Port>
  readonly serviceType: "ClusterIP" | "NodePort" | "LoadBalancer"
  readonly probe: Probe
  readonly requests: { readonly cpu: number | undefined; readonly memory: number | undefined }
  readonly security: Security
  readonly labels: Readonly<Record<string, string>>
  readonly annotations: Readonly<Record<string, string>>
}

/**
 * The default probe command: the daemon's readiness and health from its state
 * file, in the directory the manifests mount for it (and nowhere else).
 *
 * @since 0.1.0
 */
export const defaultProbeCommand: ReadonlyArray<string> = ["duende", "health", "--state-dir", StateFile.containerDirectory]

/**
 * The uid and gid a pod runs as when the config names no numeric user or group
 * (65532, the "nonroot" user of distroless images).
 *
 * @since 0.1.0
 */
export const defaultUserId = 65532

const decodeEither = Schema.decodeUnknownEither(Section, { errors: "all", onExcessProperty: "error" })

const describe = (error: ParseResult.ParseError): string => {
  const byPath = new Map<string, string>()
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    const path = `platform.kubernetes${
      issue.path.map((p) =>
        typeof p === "number"
          ? `[${p}]`
          : /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(String(p))
          ? `.${String(p)}`
          : `[${JSON.stringify(String(p))}]`
      ).join("")
    }`
    if (!byPath.has(path)) byPath.set(path, issue.message)
  }
  const deeper = (path: string) => [...byPath.keys()].some((other) => other.startsWith(`${path}[`) || other.startsWith(`${path}.`))
  return [...byPath]
    .filter(([path, message]) => !(message.startsWith("Expected undefined") && deeper(path)))
    .map(([path, message]) => `${path}: ${message}`)
    .join("; ")
}

const fill = (written: Written): KubernetesSection => {
  const probe = written.probe
  const type = probe?.type ?? "exec"
  const security = written.security ?? {}
  return {
    kind: written.kind,
    replicas: written.replicas ?? 1,
    image: written.image,
    imagePullPolicy: written.imagePullPolicy,
    imagePullSecrets: written.imagePullSecrets ?? [],
    namespace: written.namespace,
    serviceAccount: {
      name: written.serviceAccount?.name,
      create: written.serviceAccount?.create ?? true,
      automountToken: written.serviceAccount?.automountToken ?? false
    },
    ports: (written.ports ?? []).map((port) => ({
      name: port.name,
      port: port.port,
      servicePort: port.servicePort ?? port.port,
      protocol: port.protocol ?? "TCP"
    })),
    serviceType: written.serviceType ?? "ClusterIP",
    probe: type === "http"
      ? { type, path: probe?.path ?? "/", port: probe!.port!, scheme: probe?.scheme ?? "HTTP" }
      : type === "none"
      ? { type }
      : { type, command: probe?.command ?? defaultProbeCommand },
    requests: { cpu: written.requests?.cpu, memory: written.requests?.memory },
    security: {
      runAsNonRoot: security.runAsNonRoot ?? true,
      runAsUser: security.runAsUser,
      runAsGroup: security.runAsGroup,
      readOnlyRootFilesystem: security.readOnlyRootFilesystem ?? true,
      allowPrivilegeEscalation: security.allowPrivilegeEscalation ?? false,
      dropAllCapabilities: security.dropAllCapabilities ?? true,
      addCapabilities: security.addCapabilities ?? [],
      seccompProfile: security.seccompProfile ?? "RuntimeDefault",
      tmpVolume: security.tmpVolume ?? true
    },
    labels: written.labels ?? {},
    annotations: written.annotations ?? {}
  }
}

/**
 * Decodes a section, failing with one message that names every bad field.
 *
 * @example
 * ```ts
 * import { KubernetesSection } from "@duende/platform-kubernetes/adapter"
 *
 * const section = KubernetesSection.decode({ replicas: 3 }) // Right({ replicas: 3, kind: undefined, … })
 * ```
 *
 * @since 0.1.0
 */
export const decode = (input: unknown): Either.Either<KubernetesSection, string> =>
  Either.match(decodeEither(input ?? {}), {
    onRight: (written) => Either.right(fill(written)),
    onLeft: (error) => Either.left(describe(error))
  })

/**
 * The section of a daemon: its own `platform.kubernetes` fields over `defaults`
 * (nested objects — serviceAccount, requests, security, labels, annotations —
 * are merged field by field; a probe is taken whole).
 *
 * @example
 * ```ts
 * import { KubernetesSection } from "@duende/platform-kubernetes/adapter"
 *
 * // The config names no image: the one given on the command line fills in.
 * const section = KubernetesSection.resolve({ replicas: 2 }, { image: "ghcr.io/acme/api:1.4.0" })
 * ```
 *
 * @since 0.1.0
 */
export const resolve = (own: unknown, defaults: Input = {}): Either.Either<KubernetesSection, string> => {
  const isObject = (value: unknown): value is Record<string, unknown> =>
    value !== null && typeof value === "object" && !Array.isArray(value)
  const merge = (under: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> => {
    const merged: Record<string, unknown> = { ...under }
    for (const [key, value] of Object.entries(over)) {
      if (value === undefined) continue
      merged[key] = isObject(value) && isObject(merged[key]) && key !== "probe"
        ? merge(merged[key] as Record<string, unknown>, value)
        : value
    }
    return merged
  }
  return decode(merge(defaults as Record<string, unknown>, isObject(own) ? own : {}))
}
