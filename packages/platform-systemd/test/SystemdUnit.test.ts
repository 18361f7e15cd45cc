import { type DaemonConfig, DaemonId } from "@duende/core"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import fc from "fast-check"
import { dirname, resolve } from "node:path"
import * as SystemdSection from "../src/SystemdSection.js"
import * as SystemdUnit from "../src/SystemdUnit.js"
import * as UnitFile from "../src/UnitFile.js"
import * as Duration from "effect/Duration"
import { envName, text } from "./helpers/arbitraries.js"
import { expectExact, expectFieldNamed, input, outcome } from "./helpers/fuzzConfig.js"

const host = { path: `${dirname(process.execPath)}:/usr/bin:/bin`, cwd: "/srv/app" }
const section = (input: SystemdSection.Input = {}) => Either.getOrThrow(SystemdSection.decode(input))
const config = (input: Partial<DaemonConfig.Input> = {}) =>
  decodeSync({ name: "api", command: ["node", "server.js"], ...input })
/** A decoded config with fields set past what core's decoder lets through: the renderer must hold on its own. */
const raw = (fields: Partial<DaemonConfig.DaemonConfig>): DaemonConfig.DaemonConfig => ({ ...config(), ...fields })

const units = (
  c: DaemonConfig.DaemonConfig,
  options: Partial<SystemdUnit.Options> = {}
): SystemdUnit.Units => {
  const result = SystemdUnit.make(c, { scope: "system", version: 252, host, ...options })
  if (Either.isLeft(result)) throw new Error(result.left.message)
  return result.right
}
const get = (unit: SystemdUnit.Unit, key: string) => unit.directives.filter((d) => d.key === key).map((d) => d.value)
const parsed = (unit: SystemdUnit.Unit) => Either.getOrThrow(UnitFile.parse(Either.getOrThrow(SystemdUnit.text(unit))))

describe("SystemdUnit: a DaemonConfig as units", () => {
  it("renders Type=notify with a kill-based ExecReload on systemd 252, notify-reload from 253", () => {
    const v252 = units(config()).service
    expect(get(v252, "Type")).toEqual(["notify"])
    expect(get(v252, "NotifyAccess")).toEqual(["main"])
    expect(get(v252, "ExecReload")).toEqual([expect.stringMatching(/^"\/.*\/kill" "-s" "HUP" \$MAINPID$/)])
    const v253 = units(config(), { version: 253 }).service
    expect(get(v253, "Type")).toEqual(["notify-reload"])
    expect(get(v253, "ExecReload")).toEqual([])
    expect(get(units(config(), { systemd: section({ type: "exec" }) }).service, "Type")).toEqual(["exec"])
  })

  it("runs node and the script by absolute paths resolved now", () => {
    const u = units(config({ command: ["node", "--enable-source-maps", "-r", "./trace.js", "dist/server.js", "--port", "80"] }))
    expect(u.argv).toEqual([
      process.execPath.startsWith("/usr/bin") ? "/usr/bin/node" : expect.stringMatching(/\/node$/),
      "--enable-source-maps",
      "-r",
      "./trace.js",
      "/srv/app/dist/server.js",
      "--port",
      "80"
    ])
    expect(u.argv[0]).toMatch(/^\//)
    expect(units(config({ command: ["node", "-e", "x.js"] })).argv.slice(1)).toEqual(["-e", "x.js"])
    expect(units(config({ command: ["./bin/api", "serve"], workingDirectory: "/opt/api" })).argv).toEqual(["/opt/api/bin/api", "serve"])
    expect(units(config()).workingDirectory).toBe("/srv/app")
    const missing = SystemdUnit.make(config({ command: ["no-such-program-anywhere"] }), { scope: "system", version: 252, host })
    expect(Either.isLeft(missing) && missing.left.message).toMatch(/not an executable on PATH/)
  })

  it("maps restart, deadlines, watchdog and limits", () => {
    const service = units(config({
      restart: { policy: "always", backoff: { initial: "2s", max: "1m", multiplier: 2 }, crashLoop: { burst: 3, interval: "30s" } },
      initTimeout: "20s",
      shutdownTimeout: "1500ms",
      watchdogInterval: "10s",
      resources: { memory: "256M", memorySwap: "64M", cpuQuota: 150.5, cpuWeight: 200, ioReadBandwidth: "10M", pidsMax: 64, openFilesMax: 4096, lockMemory: true }
    })).service
    const pairs = Object.fromEntries(service.directives.map((d) => [d.key, d.value]))
    expect(pairs).toMatchObject({
      Restart: "always",
      RestartSec: "2s",
      StartLimitIntervalSec: "30s",
      StartLimitBurst: "4",
      TimeoutStartSec: "20s",
      TimeoutStopSec: "1500ms",
      WatchdogSec: "10s",
      MemoryMax: String(256 * 1024 ** 2),
      MemorySwapMax: "0", // lockMemory: out of swap, whatever memorySwap says
      CPUQuota: "150.5%",
      CPUWeight: "200",
      IOReadBandwidthMax: `"/srv/app" ${10 * 1024 ** 2}`,
      TasksMax: "64",
      LimitNOFILE: "4096",
      LimitMEMLOCK: "infinity"
    })
    expect(get(service, "MemorySwapMax")).toEqual(["0"])
    expect(get(units(config({ resources: { memory: "256M", memorySwap: "64M" } })).service, "MemorySwapMax")).toEqual([String(64 * 1024 ** 2)])
    expect(pairs.RestartSteps).toBeUndefined()
    const v254 = units(config({ restart: { backoff: { initial: "1s", max: "60s", multiplier: 2 } } }), { version: 254 }).service
    expect(get(v254, "RestartSteps")).toEqual(["6"])
    expect(get(v254, "RestartMaxDelaySec")).toEqual(["60s"])
    expect(get(units(config({ restart: { policy: "never" } })).service, "Restart")).toEqual(["no"])
  })

  it("hardens by default, with opt-outs per directive and capabilities on request", () => {
    const hardened = units(config()).service
    for (const key of ["DynamicUser", "ProtectSystem", "PrivateUsers", "SystemCallFilter", "CapabilityBoundingSet", "RestrictAddressFamilies"]) {
      expect(get(hardened, key).length).toBeGreaterThan(0)
    }
    expect(get(hardened, "MemoryDenyWriteExecute")).toEqual([])
    expect(get(hardened, "ProtectHome")).toEqual(["yes"])
    expect(get(hardened, "CapabilityBoundingSet")).toEqual([""])
    const someOff = units(config(), { systemd: section({ hardening: { ProtectHome: false, SystemCallFilter: false } }) }).service
    expect(get(someOff, "ProtectHome")).toEqual([])
    expect(get(someOff, "SystemCallFilter")).toEqual([])
    expect(get(someOff, "ProtectSystem")).toEqual(["strict"])
    const none = units(config(), { systemd: section({ hardening: false }) }).service
    expect(none.directives.filter((d) => (SystemdSectionDirectives as ReadonlyArray<string>).includes(d.key))).toEqual([])
    // The config's own platform.systemd is what applies when no settings are given.
    const ownSection = units(config({ platform: { systemd: { hardening: false, unit: "own-api" } } }))
    expect(ownSection.service.name).toBe("own-api.service")
    expect(ownSection.service.directives.filter((d) => (SystemdSectionDirectives as ReadonlyArray<string>).includes(d.key)))
      .toEqual([])
    const port80 = units(config(), { systemd: section({ capabilities: ["CAP_NET_BIND_SERVICE"] }) }).service
    expect(get(port80, "CapabilityBoundingSet")).toEqual(["CAP_NET_BIND_SERVICE"])
    expect(get(port80, "AmbientCapabilities")).toEqual(["CAP_NET_BIND_SERVICE"])
    expect(get(port80, "PrivateUsers")).toEqual([])
    expect(get(units(config({ user: "www-data" })).service, "DynamicUser")).toEqual([])
    expect(get(units(config({ workingDirectory: "/home/alice/api" })).service, "ProtectHome")).toEqual(["read-only"])
    const writable = units(config(), { systemd: section({ readWritePaths: ["/var/lib/api", "/srv/data dir"] }) }).service
    expect(get(writable, "ReadWritePaths")).toEqual([`"/var/lib/api" "/srv/data dir"`])
  })

  it("a daemon that runs from /tmp gets that directory bound into its private /tmp", () => {
    const fromTmp = units(config({ workingDirectory: "/tmp/build-1/app", command: ["/var/tmp/node-20/bin/node", "main.js"] }))
    expect(get(fromTmp.service, "BindReadOnlyPaths")).toEqual(["/tmp/build-1 /var/tmp/node-20"])
    // /tmp itself exists in the private /tmp; the script in it does not.
    expect(get(units(config({ workingDirectory: "/tmp" })).service, "BindReadOnlyPaths")).toEqual(["/tmp/server.js"])
    expect(get(units(config({ workingDirectory: "/srv/app" })).service, "BindReadOnlyPaths")).toEqual([])
    const open = units(config({ workingDirectory: "/tmp/build-1" }), { systemd: section({ hardening: { PrivateTmp: false, DynamicUser: false } }) })
    expect(get(open.service, "BindReadOnlyPaths")).toEqual([])
    const odd = SystemdUnit.make(config({ workingDirectory: "/tmp/a:b" }), { scope: "system", version: 252, host })
    expect(Either.isLeft(odd) && odd.left.message).toMatch(/workingDirectory: "\/tmp\/a:b" is under \/tmp, which the unit's private \/tmp hides/)
  })

  it("the user scope leaves out what a user manager cannot do, and refuses user/group", () => {
    const service = units(config(), { scope: "user" }).service
    expect(get(service, "DynamicUser")).toEqual([])
    expect(get(service, "CapabilityBoundingSet")).toEqual([])
    expect(get(service, "After")).toEqual([])
    expect(get(service, "WantedBy")).toEqual(["default.target"])
    const withUser = SystemdUnit.make(config({ user: "alice" }), { scope: "user", version: 252, host })
    expect(Either.isLeft(withUser) && withUser.left.message).toMatch(/cannot switch user/)
  })

  it("socket activation: a .socket unit, and the service requires it and is not started at boot by itself", () => {
    const u = units(config(), { systemd: section({ socket: { listen: ["8080", "[::1]:9090", "/run/api.sock"], name: "http" } }) })
    expect(u.socket?.name).toBe("api.socket")
    expect(get(u.socket!, "ListenStream")).toEqual(["8080", "[::1]:9090", "/run/api.sock"])
    expect(get(u.socket!, "FileDescriptorName")).toEqual(["http"])
    expect(get(u.socket!, "WantedBy")).toEqual(["sockets.target"])
    expect(get(u.service, "Requires")).toEqual(["api.socket"])
    expect(get(u.service, "WantedBy")).toEqual([])
    expect(Either.isLeft(SystemdSection.decode({ socket: { listen: ["99999"] } }))).toBe(true)
    expect(Either.isLeft(SystemdSection.decode({ socket: { listen: ["8080\nListenStream=22"] } }))).toBe(true)
    expect(Either.isLeft(SystemdSection.decode({ hardening: { NoSuchThing: false } }))).toBe(true)
    // The config's `listen` renders the same .socket unit (one name: systemd names all its fds alike).
    const held = units(config({ listen: [{ name: "http", host: "::1", port: 8080, backlog: 1024 }] }))
    expect(get(held.socket!, "ListenStream")).toEqual(["[::1]:8080"])
    expect(get(held.socket!, "FileDescriptorName")).toEqual(["http"])
    expect(get(held.socket!, "Backlog")).toEqual(["1024"])
    expect(get(held.service, "Requires")).toEqual(["api.socket"])
    const twoNames = SystemdUnit.make(config({ listen: [{ name: "http", port: 80 }, { name: "admin", port: 81 }] }), { scope: "system", version: 252, host })
    expect(Either.isLeft(twoNames) && twoNames.left.message).toMatch(/listen: a \.socket unit gives all its sockets one name .* \(http, admin\): under systemd keep one listener/)
    expect(Either.isLeft(SystemdSection.decode({ unit: "a@b" }))).toBe(true)
  })

  it("after: the daemons it needs are required and started first", () => {
    const service = units(config({ after: ["database", "cache"] })).service
    expect(get(service, "Requires")).toEqual(["database.service", "cache.service"])
    expect(get(service, "After")).toEqual(["network.target", "database.service", "cache.service"])
    expect(SystemdUnit.transientArguments(units(config({ after: ["database"] }))).some((a) => a.includes("database"))).toBe(false)
  })

  it("names: the daemon's name, or systemd.unit; the id is recorded", () => {
    expect(units(config()).service.name).toBe("api.service")
    expect(units(config(), { systemd: section({ unit: "acme-api" }) }).service.name).toBe("acme-api.service")
    const id = DaemonId.make("0b5c2f6e-7d8a-4a51-9a43-51a1f2f7c9d0")
    expect(UnitFile.values(parsed(units(config(), { id }).service), "X-Duende", "Id")).toEqual([id])
  })

  it("transient: the same properties as systemd-run arguments, command and environment passed verbatim", () => {
    const u = units(config({ env: { GREETING: "50% \"off\" $NOW" }, command: ["node", "server.js", "$1"] }), {
      systemd: section({ socket: { listen: ["8080"] } })
    })
    const args = SystemdUnit.transientArguments(u)
    expect(args).toContain("--unit=api.service")
    expect(args).toContain("--service-type=notify")
    expect(args).toContain("--working-directory=/srv/app")
    expect(args).toContain(`--setenv=GREETING=50% "off" $NOW`)
    expect(args).toContain("--property=ProtectSystem=strict")
    expect(args).toContain("--socket-property=ListenStream=8080")
    expect(args.some((a) => a.includes("WantedBy") || a.includes("Requires") || a.includes("X-Duende"))).toBe(false)
    expect(args.slice(args.indexOf("--") + 1)).toEqual([u.argv[0], "/srv/app/server.js", "$$1"])
  })
})

const SystemdSectionDirectives = [
  "DynamicUser",
  "NoNewPrivileges",
  "ProtectSystem",
  "ProtectHome",
  "PrivateTmp",
  "PrivateDevices",
  "PrivateUsers",
  "SystemCallFilter",
  "CapabilityBoundingSet",
  "AmbientCapabilities",
  "RestrictAddressFamilies",
  "UMask"
] as const

describe("SystemdUnit: no config value can inject a directive (fuzzed)", () => {
  it("refuses a working directory it cannot write verbatim", () => {
    for (const workingDirectory of ["/srv/app ", "/srv/a\nb", "/srv/a\\"]) {
      expect(Either.isLeft(SystemdUnit.make(config({ workingDirectory }), { scope: "system", version: 252, host }))).toBe(true)
    }
  })

  it("the unit's directives are exactly those rendered, and command and environment read back unchanged", () => {
    fc.assert(
      fc.property(
        text(40),
        fc.array(text(), { maxLength: 5 }),
        fc.dictionary(envName, text(), { maxKeys: 4 }),
        text(16),
        (description, args, env, dirName) => {
          const workingDirectory = resolve(`/srv/${dirName.replace(/[\0-\x1f\x7f\\]/g, "")}`)
          // A path ending in whitespace has no WorkingDirectory= spelling (checked below).
          fc.pre(!/[ \t]$/.test(workingDirectory))
          const c = config({ description, command: { program: "node", args: ["server.js", ...args] }, env, workingDirectory })
          const u = units(c)
          const file = parsed(u.service)
          const keys = file.sections.flatMap((s) => s.entries.map((e) => `${s.name}.${e.key}`))
          expect(keys).toEqual(u.service.directives.map((d) => `${d.section}.${d.key}`))
          const exec = Either.getOrThrow(UnitFile.unescapeSpecifiers(UnitFile.values(file, "Service", "ExecStart")[0]!))
          expect(Either.getOrThrow(UnitFile.parseExec(exec))).toEqual({ path: u.argv[0], argv: u.argv })
          expect(u.argv.slice(2)).toEqual(args)
          const assignments = UnitFile.values(file, "Service", "Environment").flatMap((raw) =>
            Either.getOrThrow(UnitFile.parseEnvironment(Either.getOrThrow(UnitFile.unescapeSpecifiers(raw))))
          )
          expect(Object.fromEntries(assignments)).toEqual(env)
          expect(Either.getOrThrow(UnitFile.unescapeSpecifiers(UnitFile.values(file, "Service", "WorkingDirectory")[0]!))).toBe(u.workingDirectory)
          const shown = UnitFile.values(file, "Unit", "Description")[0]!
          expect(shown).not.toMatch(/[\n\r]/)
        }
      ),
      { numRuns: 500 }
    )
  })
})

const refusal = (result: Either.Either<SystemdUnit.Units, SystemdUnit.UnitRenderError>) => {
  if (Either.isRight(result)) throw new Error("expected the config to be refused")
  return result.left
}
const render = (c: DaemonConfig.DaemonConfig, options: Partial<SystemdUnit.Options> = {}) =>
  SystemdUnit.make(c, { scope: "system", version: 252, host, ...options })

describe("SystemdUnit: the program runs by exactly its path", () => {
  it("a $ in the program path is not doubled: the @ form gives the path verbatim and argv[0] on its own", () => {
    const u = units(config({ command: ["/opt/a$b/${HOME}%i/run", "$HOME"] }))
    // Before: "/opt/a$$b/..." as the path, which systemd does not unescape (203/EXEC).
    expect(get(u.service, "ExecStart")).toEqual([`@"/opt/a$b/\${HOME}%i/run" "/opt/a$$b/$\${HOME}%i/run" "$$HOME"`])
    const exec = UnitFile.values(parsed(u.service), "Service", "ExecStart")[0]!
    expect(exec.startsWith(`@"/opt/a$b/\${HOME}%%i/run"`)).toBe(true)
    expect(Either.getOrThrow(UnitFile.parseExec(Either.getOrThrow(UnitFile.unescapeSpecifiers(exec))))).toEqual({
      path: "/opt/a$b/${HOME}%i/run",
      argv: ["/opt/a$b/${HOME}%i/run", "$HOME"]
    })
    // systemd-run takes the path verbatim but expands argv[0]: through sh, argv[0] stays exact too.
    expect(u.transientCommand).toEqual(["/usr/bin/sh", "-c", "exec \"$$0\" \"$$@\"", "/opt/a$$b/$${HOME}%i/run", "$$HOME"])
    expect(units(config({ command: ["/opt/plain/run", "$x"] })).transientCommand).toEqual(["/opt/plain/run", "$$x"])
  })

  it("a path systemd refuses as an executable (quotes, backslashes, control characters) runs through sh", () => {
    const program = `/opt/it's "quoted"\\\tand\nodd/run`
    const u = units(config({ command: [program, "a b"] }))
    expect(u.argv).toEqual([program, "a b"])
    const exec = Either.getOrThrow(UnitFile.parseExec(get(u.service, "ExecStart")[0]!))
    expect(exec).toEqual({ path: "/usr/bin/sh", argv: ["/usr/bin/sh", "-c", "exec \"$0\" \"$@\"", program, "a b"] })
  })
})

describe("SystemdUnit: what systemd would refuse or misread is refused, naming the field", () => {
  it("a line longer than systemd reads: a 1 MB environment value, description or argument", () => {
    // Given past core's bounds, each is refused by the field that holds it.
    const big = "x".repeat(1_048_576)
    const env = refusal(render(raw({ env: { BIG: big } })))
    expect(env.field).toBe("env.BIG")
    expect(env.message).toMatch(/^cannot render the systemd unit of "api": env\.BIG: /)
    expect(refusal(render(raw({ description: big }))).field).toBe("description")
    expect(refusal(render(raw({ command: { program: "/bin/echo", args: ["ok", big] } }))).field).toBe("command.args[1]")
    // Each argument is within Linux's limit; the line is not: escaping (\x01 is four bytes) counts.
    const arg = "\x01".repeat(120_000)
    const line = refusal(render(config({ command: ["/bin/echo", arg, arg, arg] })))
    expect(line.field).toBe("command")
    expect(line.reason).toMatch(/its ExecStart= line would be \d+ bytes; systemd reads lines of at most 1048575 bytes/)
    // Two of them fit, and render.
    const fits = units(config({ command: ["/bin/echo", arg, arg] }))
    const execLine = Buffer.byteLength(`ExecStart=${get(fits.service, "ExecStart")[0]!}`)
    expect(execLine).toBeGreaterThan(960_000)
    expect(execLine).toBeLessThanOrEqual(1_048_575)
  })

  it("paths longer than PATH_MAX or with a component longer than NAME_MAX, and ReadWritePaths= with ..", () => {
    const long = `/srv/${"d/".repeat(2046)}x` // 4097 bytes
    const component = `/srv/${"c".repeat(256)}`
    expect(refusal(render(raw({ workingDirectory: long }))).field).toBe("workingDirectory")
    expect(refusal(render(raw({ workingDirectory: component }))).field).toBe("workingDirectory")
    expect(refusal(render(raw({ command: { program: component, args: ["x"] } }))).field).toBe("command.program")
    // Set past the section decoder (which refuses these too), so the renderer's own check is what answers.
    const rw = (path: string) => render(config(), { systemd: { ...section(), readWritePaths: ["/srv/ok", path] } })
    expect(refusal(rw(long)).field).toBe("platform.systemd.readWritePaths[1]")
    expect(refusal(rw(component)).reason).toMatch(/has a component of 256 bytes/)
    expect(refusal(rw("/srv/../etc")).reason).toMatch(/without "\.\."/)
    expect(Either.isRight(rw(`/srv/${"c".repeat(255)}`))).toBe(true)
  })

  it("time spans: integers systemd reads exactly, never an exponent; too long or 0 where 0 means off is refused", () => {
    const at = (shutdownTimeout: Duration.Duration) => render({ ...config(), shutdownTimeout })
    const stop = (d: Duration.Duration) => get(Either.getOrThrow(at(d)).service, "TimeoutStopSec")
    expect(stop(Duration.seconds(30))).toEqual(["30s"])
    expect(stop(Duration.millis(1500))).toEqual(["1500ms"])
    expect(stop(Duration.micros(2500n))).toEqual(["2500us"])
    expect(stop(Duration.nanos(400n))).toEqual(["1us"]) // never 0, which is "infinity" to TimeoutStopSec=
    expect(stop(Duration.days(24))).toEqual(["2073600s"])
    expect(stop(Duration.infinity)).toEqual(["infinity"])
    // "99999999999999999999d" rendered TimeoutStopSec=8.64e+27ms, which systemd ignores (it waited 90 s).
    const huge = refusal(at(Duration.millis(8.64e27)))
    expect(huge.field).toBe("shutdownTimeout")
    expect(huge.reason).toMatch(/longer than systemd reads/)
    expect(stop(Duration.micros(2n ** 63n - 1n))).toEqual(["9223372036854775807us"])
    expect(refusal(at(Duration.micros(2n ** 63n))).field).toBe("shutdownTimeout")
    expect(refusal(at(Duration.zero)).reason).toMatch(/must be more than 0/)
    expect(get(Either.getOrThrow(render(config({ restart: { backoff: { initial: "0s" } } }))).service, "RestartSec")).toEqual(["0s"])
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: 2n ** 63n * 1000n }), (nanos) => {
      const result = at(Duration.nanos(nanos))
      const micros = nanos < 1000n ? 1n : (nanos + 500n) / 1000n
      if (micros > 2n ** 63n - 1n) return void expect(Either.isLeft(result)).toBe(true)
      const [text] = get(Either.getOrThrow(result).service, "TimeoutStopSec")
      const match = /^(\d+)(s|ms|us)$/.exec(text!)
      expect(match).not.toBeNull()
      expect(BigInt(match![1]!) * { s: 1_000_000n, ms: 1000n, us: 1n }[match![2] as "s"]).toBe(micros)
    }), { numRuns: 1000 })
  })

  it("numbers that systemd would read differently or ignore", () => {
    const base = config()
    const resources = (r: Partial<DaemonConfig.DaemonConfig["resources"]>) =>
      render({ ...base, resources: { ...base.resources, ...r } })
    expect(refusal(resources({ cpuWeight: 20_000 })).field).toBe("resources.cpuWeight")
    expect(refusal(resources({ memory: 1e21 })).field).toBe("resources.memory")
    expect(refusal(resources({ cpuQuota: Number.NaN })).field).toBe("resources.cpuQuota")
    expect(get(Either.getOrThrow(resources({ cpuQuota: 12.345 })).service, "CPUQuota")).toEqual(["12.35%"])
    expect(refusal(render(config({ user: "65535" }))).field).toBe("user")
    expect(refusal(render(config({ group: "4294967295" }))).field).toBe("group")
    expect(Either.isRight(render(config({ user: "4294967294" })))).toBe(true)
  })

  it("a lone surrogate in readWritePaths or the working directory (with io limits) is an error, not a throw", () => {
    // Before: `getOrThrow called on a Left`.
    // Core's decoder refuses these first; the renderer, given them directly, must still name the field.
    const rw = refusal(render(config(), { systemd: { ...section(), readWritePaths: ["/srv/ok", "/srv/bad\uD800"] } }))
    expect(rw.field).toBe("platform.systemd.readWritePaths[1]")
    expect(rw.message).toContain("\\ud800")
    const base = config({ resources: { ioReadBandwidth: "1M" } })
    const io = refusal(render({ ...base, workingDirectory: "/srv/\uDC00" }))
    expect(io.field).toBe("workingDirectory")
    for (const [field, c] of [
      ["description", raw({ description: "a\uD800b" })],
      ["command.args[0]", raw({ command: { program: "/bin/echo", args: ["\uDFFF"] } })],
      ["env.A", raw({ env: { A: "\uD83D" } })]
    ] as const) {
      expect(refusal(render(c)).field).toBe(field)
    }
    // And the decoder names them too.
    expect(() => config({ env: { A: "\uD83D" } })).toThrow(/env\.A: holds a lone surrogate/)
  })

  it("settings given to the renderer directly are held to core's rules", () => {
    const raw = { ...section(), readWritePaths: ["relative"], capabilities: ["CAP_X\nUser=root"] }
    expect(refusal(render(config(), { systemd: raw })).field).toBe("platform.systemd.readWritePaths[0]")
    const bad = { ...config(), name: "Bad\nName" } as DaemonConfig.DaemonConfig
    const error = refusal(render(bad))
    expect(error.field).toBe("name")
    expect(error.message).not.toContain("\n")
    expect(error.message).toMatch(/^cannot render the systemd unit of "Bad\\nName"/)
  })
})

describe("SystemdUnit: every string field fuzzed with hostile text", () => {
  it("a config is refused with the field named, or its units read back exactly", () => {
    const tally = { RefusedByCore: 0, RefusedByRenderer: 0, Rendered: 0 }
    fc.assert(
      fc.property(input({ programs: "/opt/duende-fuzz", everything: true }), (raw) => {
        const result = outcome(raw)
        tally[result._tag]++
        if (result._tag === "Rendered") expectExact(result.config, result.units)
        else expectFieldNamed(result)
      }),
      { numRuns: 3000 }
    )
    // The generator reaches all three outcomes often enough to mean something.
    expect(tally.Rendered).toBeGreaterThan(300)
    expect(tally.RefusedByRenderer).toBeGreaterThan(100)
    expect(tally.RefusedByCore).toBeGreaterThan(300)
  })
})
