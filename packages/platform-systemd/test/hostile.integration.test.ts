// Hostile values against the real systemd 252 (PID 1 in systemd-nspawn, one boot for the file):
// the limits the renderer holds units to, measured; programs at paths full of `$`, `%`, spaces,
// quotes, backslashes and non-ASCII characters actually running with byte-exact arguments; and a
// sample of fuzzed configs loaded, verified, read back over D-Bus and run.
import type { DaemonConfig } from "@duende/core"
import type { PlatformAdapter } from "@duende/core/manager"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import fc from "fast-check"
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import * as Limits from "../src/internal/limits.js"
import * as SystemdAdapter from "../src/SystemdAdapter.js"
import * as SystemdUnit from "../src/SystemdUnit.js"
import * as UnitFile from "../src/UnitFile.js"
import { expectedCommand, expectExact, input, outcome } from "./helpers/fuzzConfig.js"
import { boot, gate, type Machine } from "./helpers/nspawn.js"

const idle = join(__dirname, "fixtures", "idle.mjs")
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

/** The D-Bus object path of a unit (systemd escapes every byte but letters and digits as _xx). */
const objectPath = (unit: string) =>
  `/org/freedesktop/systemd1/unit/${
    [...Buffer.from(unit)].map((b) => /[A-Za-z0-9]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `_${b.toString(16).padStart(2, "0")}`).join("")
  }`

/** A path as systemd stores it (path_simplify): no empty or "." components, no trailing slash. */
const simplified = (path: string) => `/${path.split("/").filter((part) => part !== "" && part !== ".").join("/")}`

describe.skipIf(!gate.ok)(`hostile values against systemd 252 in nspawn${gate.label}`, () => {
  let machine: Machine
  let adapter: SystemdAdapter.SystemdAdapter
  const inside = (path: string) => join(machine.root, path)
  const must = async (argv: ReadonlyArray<string>) => {
    const result = await machine.exec(argv)
    if (result.code !== 0) throw new Error(`${argv.join(" ")} (exit ${result.code}): ${result.stderr}`)
    return result.stdout
  }
  /**
   * Properties over D-Bus, as JSON (exact strings and lists, unlike `systemctl show`), for many
   * units in one call into the container: `requests` are [unit, interface, property names].
   */
  const propertiesOf = async (requests: ReadonlyArray<readonly [string, string, ReadonlyArray<string>]>) => {
    const script = "while [ $# -gt 0 ]; do busctl --json=short get-property org.freedesktop.systemd1 \"$1\" \"$2\" $3 || exit 1; shift 3; done"
    const out = await must(["sh", "-c", script, "sh", ...requests.flatMap(([unit, iface, names]) => [objectPath(unit), `org.freedesktop.systemd1.${iface}`, names.join(" ")])])
    const values = out.trim().split("\n").map((line) => (JSON.parse(line) as { data: unknown }).data)
    let next = 0
    return requests.map(([, , names]) => Object.fromEntries(names.map((name) => [name, values[next++]])))
  }
  const properties = async (unit: string, iface: string, names: ReadonlyArray<string>) =>
    (await propertiesOf([[unit, iface, names]]))[0]!
  const writeUnit = (name: string, text: string) => writeFileSync(inside(`etc/systemd/system/${name}`), text)
  /** A symlink to node at `path` inside the container: a program at any path that runs a script. */
  const program = (path: string) => {
    mkdirSync(inside(dirname(path)), { recursive: true })
    try {
      symlinkSync(process.execPath, inside(path))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    }
  }
  /** A process's argv, waiting out a shell that is about to exec the program. */
  const cmdline = async (pid: number, expected: ReadonlyArray<string>) => {
    let argv: ReadonlyArray<string> = []
    for (let attempt = 0; attempt < 200; attempt++) {
      try {
        argv = readFileSync(inside(`proc/${pid}/cmdline`), "utf8").split("\0").slice(0, -1)
        if (JSON.stringify(argv) === JSON.stringify(expected)) break
      } catch {
        // exec'ing
      }
      await sleep(50)
    }
    return argv
  }
  const mainPids = async (units: ReadonlyArray<string>) =>
    (await propertiesOf(units.map((unit) => [unit, "Service", ["MainPID"]] as const))).map((p) => p.MainPID as number)
  /** Links of /proc/<pid>/<link> as the container sees them (NUL-separated: a path may hold a newline). */
  const links = async (pids: ReadonlyArray<number>, link: string) =>
    (await must(["sh", "-c", `for p; do readlink -z /proc/$p/${link} || exit 1; done`, "sh", ...pids.map(String)])).split("\0").slice(0, -1)

  beforeAll(async () => {
    machine = await boot()
    adapter = await Effect.runPromise(SystemdAdapter.make({ prefix: machine.prefix, root: machine.root, enable: false }))
  }, 90_000)
  afterAll(() => machine?.shutdown(), 60_000)

  it("systemd 252 loads exactly up to the limits the renderer holds units to", async () => {
    const unit = (body: string) => `[Service]\nType=exec\nExecStart=/bin/true\n${body}\n`
    const path = (bytes: number) => {
      let out = ""
      while (out.length < bytes) out += `/${"d".repeat(Math.min(200, bytes - out.length - 1))}`
      return out
    }
    // A line of Limits.lineBytes bytes loads; one byte more and the whole unit does not.
    const line = (bytes: number) => `Environment="A=${"x".repeat(bytes - "Environment=\"A=\"".length)}"`
    writeUnit("lim-line-ok.service", unit(line(Limits.lineBytes)))
    writeUnit("lim-line-over.service", unit(line(Limits.lineBytes + 1)))
    writeUnit("lim-path-ok.service", unit(`ReadWritePaths=${path(Limits.pathBytes)}`))
    writeUnit("lim-path-over.service", unit(`ReadWritePaths=${path(Limits.pathBytes + 1)}`))
    writeUnit("lim-name-ok.service", unit(`ReadWritePaths=/srv/${"c".repeat(Limits.nameBytes)}`))
    writeUnit("lim-name-over.service", unit(`ReadWritePaths=/srv/${"c".repeat(Limits.nameBytes + 1)}`))
    writeUnit("lim-time-ok.service", unit(`TimeoutStopSec=${Limits.maxMicros}us`))
    writeUnit("lim-time-over.service", unit(`TimeoutStopSec=${Limits.maxMicros + 1n}us`))
    writeUnit("lim-time-exp.service", unit("TimeoutStopSec=8.64e+27ms"))
    await must(["systemctl", "daemon-reload"])
    const load = async (name: string) => (await properties(name, "Unit", ["LoadState"])).LoadState
    expect(await load("lim-line-ok.service")).toBe("loaded")
    expect(await load("lim-line-over.service")).toBe("error")
    expect((await properties("lim-line-over.service", "Unit", ["LoadError"])).LoadError).toEqual([
      "org.freedesktop.DBus.Error.LimitsExceeded",
      expect.stringContaining("No buffer space available")
    ])
    // Paths over the limits are dropped without failing the unit: the silent kind of misreading.
    const rw = async (name: string) => (await properties(name, "Service", ["ReadWritePaths"])).ReadWritePaths
    expect(await rw("lim-path-ok.service")).toEqual([path(Limits.pathBytes)])
    expect(await rw("lim-path-over.service")).toEqual([])
    expect(await rw("lim-name-ok.service")).toEqual([`/srv/${"c".repeat(Limits.nameBytes)}`])
    expect(await rw("lim-name-over.service")).toEqual([])
    // Time spans over 2^63 - 1 µs, and exponents, are ignored: systemd keeps its default (90 s).
    // (busctl's plain output: JSON numbers would lose the low digits.)
    const stop = async (name: string) =>
      (await must(["busctl", "get-property", "org.freedesktop.systemd1", objectPath(name), "org.freedesktop.systemd1.Service", "TimeoutStopUSec"])).trim()
    expect(await stop("lim-time-ok.service")).toBe(`t ${Limits.maxMicros}`)
    expect(await stop("lim-time-over.service")).toBe("t 90000000")
    expect(await stop("lim-time-exp.service")).toBe("t 90000000")
  }, 60_000)

  it.live("programs at paths with $, %, spaces, quotes, backslashes and non-ASCII run, arguments byte-exact", () =>
    Effect.gen(function*() {
      const paths = [
        "/opt/duende-paths/a$b/$${HOME}${HOME}/run",
        "/opt/duende-paths/100%i %n %%/run",
        "/opt/duende-paths/with space/é ü 日本 🚀/run",
        `/opt/duende-paths/it's "quoted"/run`,
        "/opt/duende-paths/back\\slash\\n/run",
        "/opt/duende-paths/all $x %i \"q\" 'q' \\ é/run"
      ]
      const args = ["$HOME", "${HOME}", "$$", "%i", "a b", "\"q\"", "'", "\\", "\\n", "line\nbreak", "tab\t", "é🚀", "\u2028", ""]
      const handles: Array<PlatformAdapter.DaemonHandle> = []
      for (const [index, path] of paths.entries()) {
        program(path)
        const config = decodeSync({ name: `paths-${index}`, command: { program: path, args: [idle, ...args] }, platform: { systemd: { type: "exec" } } })
        const handle = yield* adapter.install(config)
        yield* adapter.start(handle)
        handles.push(handle)
      }
      // systemd-run: the path verbatim, and (through sh for a "$") argv[0] too.
      handles.push(yield* adapter.runTransient(
        decodeSync({ name: "paths-transient", command: { program: paths[0]!, args: [idle, ...args] }, platform: { systemd: { type: "exec" } } })
      ))
      const pids = yield* Effect.promise(() => mainPids(handles.map((h) => h.ref)))
      for (const [index, pid] of pids.entries()) {
        const path = paths[index] ?? paths[0]!
        const expected = [path, idle, ...args]
        expect({ path, argv: yield* Effect.promise(() => cmdline(pid, expected)) }).toEqual({ path, argv: expected })
      }
      expect(yield* Effect.promise(() => links(pids, "exe"))).toEqual(pids.map(() => process.execPath))
      yield* Effect.promise(() => must(["systemctl", "stop", ...handles.map((h) => h.ref)]))
    }), 120_000)

  it("a sample of fuzzed configs: verified, read back over D-Bus and run with exactly the values given", async () => {
    const reserved = /^(?:LD_|NODE_|UV_|PATH$|HOME$|LANG$|TZ$|TMPDIR$)/
    const samples: Array<{ config: DaemonConfig.DaemonConfig; units: SystemdUnit.Units }> = []
    const raws = fc.sample(input({ programs: "/opt/duende-fuzz", script: idle, everything: false }), { numRuns: 400, seed: 20261202 })
    for (const raw of raws) {
      if (samples.length === 30) break
      const i = samples.length
      // Names and socket paths of their own, so the sample's units do not collide.
      const systemd = (raw.platform as { systemd: Record<string, unknown> }).systemd
      const socket = systemd.socket as { listen: Array<string> } | undefined
      const result = outcome({
        ...raw,
        name: `fuzz-${i}`,
        platform: {
          systemd: {
            ...systemd,
            ...(typeof systemd.unit === "string" ? { unit: `fuzz-${i}.${systemd.unit}` } : {}),
            ...(socket === undefined ? {} : { socket: { ...socket, listen: socket.listen.map((a) => a.replace("duende-fuzz-", `duende-fuzz-${i}-`)) } })
          }
        }
      })
      if (result._tag !== "Rendered" || Object.keys(result.config.env).some((name) => reserved.test(name))) continue
      expectExact(result.config, result.units)
      samples.push({ config: result.config, units: result.units })
    }
    expect(samples.length).toBe(30)
    const files: Array<string> = []
    for (const { config, units } of samples) {
      program(units.argv[0]!)
      mkdirSync(inside(units.workingDirectory), { recursive: true })
      for (const path of config.platform.systemd!.readWritePaths) mkdirSync(inside(path), { recursive: true })
      for (const unit of units.socket === undefined ? [units.service] : [units.service, units.socket]) {
        writeUnit(unit.name, Either.getOrThrow(SystemdUnit.text(unit)))
        files.push(`/etc/systemd/system/${unit.name}`)
      }
    }
    await must(["systemctl", "daemon-reload"])
    // systemd's own checker: no error, no warning, for any of them.
    const verify = await machine.exec(["systemd-analyze", "verify", ...files], { SYSTEMD_LOG_COLOR: "0" })
    expect(`${verify.stdout}${verify.stderr}`.split("\n").filter((l) => l.trim() !== "")).toEqual([])
    expect(verify.code).toBe(0)

    const read = await propertiesOf(samples.flatMap(({ units }) => [
      [units.service.name, "Service", ["ExecStart", "Environment", "WorkingDirectory", "ReadWritePaths"]] as const,
      [units.service.name, "Unit", ["Description", "LoadState"]] as const,
      ...(units.socket === undefined ? [] : [[units.socket.name, "Socket", ["Listen", "FileDescriptorName"]] as const])
    ]))
    for (const { config, units } of samples) {
      const systemd = config.platform.systemd!
      const name = units.service.name
      const file = Either.getOrThrow(UnitFile.parse(Either.getOrThrow(SystemdUnit.text(units.service))))
      const execStart = Either.getOrThrow(UnitFile.unescapeSpecifiers(UnitFile.values(file, "Service", "ExecStart")[0]!))
      const exec = Either.getOrThrow(UnitFile.parseExec(execStart))
      // D-Bus shows the words before systemd expands "$$" (at exec; the process is checked below).
      const words = Either.getOrThrow(UnitFile.words(execStart.replace(/^@/, "")))
      const description = Either.getOrThrow(UnitFile.unescapeSpecifiers(UnitFile.values(file, "Unit", "Description")[0]!))
      const expected = expectedCommand(units, exec)
      expect(words[0]).toBe(expected.path)
      const [service, unit] = read.splice(0, 2)
      expect({ name, unit, service }).toEqual({
        name,
        unit: { Description: description, LoadState: "loaded" },
        service: {
          ExecStart: [[expected.path, execStart.startsWith("@") ? words.slice(1) : words, false, 0, 0, 0, 0, 0, 0, 0]],
          Environment: Object.entries(config.env).map(([key, value]) => `${key}=${value}`),
          WorkingDirectory: units.workingDirectory,
          ReadWritePaths: systemd.readWritePaths.map(simplified)
        }
      })
      if (units.socket !== undefined) {
        expect(read.shift()).toEqual({
          Listen: systemd.socket!.listen.map((address) => ["Stream", address]),
          FileDescriptorName: systemd.socket!.name ?? units.socket.name
        })
      }
    }

    // And the processes: argv, environment and working directory exactly as configured.
    const names = samples.map(({ units }) => units.service.name)
    await must(["systemctl", "start", ...names])
    const pids = await mainPids(names)
    const cwds = await links(pids, "cwd")
    for (const [index, { config, units }] of samples.entries()) {
      const name = units.service.name
      const pid = pids[index]!
      expect({ name, argv: await cmdline(pid, units.argv), cwd: cwds[index] }).toEqual({ name, argv: units.argv, cwd: units.workingDirectory })
      const environ = readFileSync(inside(`proc/${pid}/environ`), "utf8").split("\0")
      for (const [key, value] of Object.entries(config.env)) expect(environ).toContain(`${key}=${value}`)
    }
    await must(["systemctl", "stop", ...names, ...samples.flatMap(({ units }) => units.socket === undefined ? [] : [units.socket.name])])
  }, 240_000)
})
