/**
 * The sandboxing a unit gets by default. Everything here keeps Node working:
 * V8's JIT needs writable+executable memory (so MemoryDenyWriteExecute stays
 * off), os.networkInterfaces() needs AF_NETLINK, os.cpus() needs /proc/stat
 * (so ProcSubset stays off). Each directive can be turned off by name.
 *
 * @internal
 */
import { systemdHardeningDirectives } from "@duende/core/DaemonConfigSchema"

export interface HardeningContext {
  readonly scope: "system" | "user"
  /** No User=/Group= given: run as a transient user allocated by systemd. */
  readonly dynamicUser: boolean
  /** Something the daemon runs from lives under /home, /root or /run/user. */
  readonly needsHome: boolean
  readonly capabilities: ReadonlyArray<string>
}

export interface Setting {
  readonly key: string
  readonly value: string
}

/** Every directive of the default set, for opt-outs (core's config schema lists the same names). */
export const directives = systemdHardeningDirectives

export type Directive = typeof directives[number]

/** The settings for a unit, in a stable order; `off` lists the directives turned off. */
export const settings = (context: HardeningContext, off: ReadonlySet<string>): ReadonlyArray<Setting> => {
  const system = context.scope === "system"
  const granted = context.capabilities
  const all: ReadonlyArray<Setting | false> = [
    // A user manager cannot allocate users or change capability sets.
    system && context.dynamicUser && { key: "DynamicUser", value: "yes" },
    { key: "NoNewPrivileges", value: "yes" },
    { key: "ProtectSystem", value: "strict" },
    // A user manager's notify socket lives in /run/user/<uid>, which ProtectHome=yes hides.
    { key: "ProtectHome", value: context.needsHome || !system ? "read-only" : "yes" },
    { key: "PrivateTmp", value: "yes" },
    { key: "PrivateDevices", value: "yes" },
    // A user namespace would keep granted capabilities (binding port 80) from reaching the host.
    granted.length === 0 && { key: "PrivateUsers", value: "yes" },
    { key: "PrivateMounts", value: "yes" },
    { key: "PrivateIPC", value: "yes" },
    { key: "ProtectKernelTunables", value: "yes" },
    { key: "ProtectKernelModules", value: "yes" },
    { key: "ProtectKernelLogs", value: "yes" },
    { key: "ProtectControlGroups", value: "yes" },
    { key: "ProtectClock", value: "yes" },
    { key: "ProtectHostname", value: "yes" },
    { key: "ProtectProc", value: "invisible" },
    { key: "RestrictNamespaces", value: "yes" },
    { key: "RestrictRealtime", value: "yes" },
    { key: "RestrictSUIDSGID", value: "yes" },
    { key: "LockPersonality", value: "yes" },
    { key: "RemoveIPC", value: "yes" },
    { key: "KeyringMode", value: "private" },
    system && { key: "DevicePolicy", value: "closed" },
    { key: "SystemCallArchitectures", value: "native" },
    { key: "SystemCallFilter", value: "@system-service" },
    { key: "SystemCallFilter", value: "~@privileged @resources" },
    { key: "SystemCallErrorNumber", value: "EPERM" },
    system && { key: "CapabilityBoundingSet", value: granted.join(" ") },
    system && granted.length > 0 && { key: "AmbientCapabilities", value: granted.join(" ") },
    { key: "RestrictAddressFamilies", value: "AF_UNIX AF_INET AF_INET6 AF_NETLINK" },
    { key: "UMask", value: "0077" }
  ]
  return all.filter((s): s is Setting =>
    s !== false && !off.has(s.key === "AmbientCapabilities" ? "CapabilityBoundingSet" : s.key)
  )
}
