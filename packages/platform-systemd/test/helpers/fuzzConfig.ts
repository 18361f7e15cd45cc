// Configs whose every string field that reaches a unit is fuzzed with hostile text, and the
// property they must have: refused with the field named (by core's decoder or by the renderer),
// or rendered into units that read back, through UnitFile's parser, as exactly the values given.
import type { DaemonConfig } from "@duende/core"
import { decodeEither } from "@duende/core/DaemonConfigSchema"
import * as Either from "effect/Either"
import fc from "fast-check"
import { resolve } from "node:path"
import { expect } from "vitest"
import * as SystemdUnit from "../../src/SystemdUnit.js"
import * as UnitFile from "../../src/UnitFile.js"
import { envName, hostile, hostilePath, maybeName } from "./arbitraries.js"

export interface Options {
  /** Where the fuzzed program directories go. */
  readonly programs: string
  /** A first argument (a script for the program to run), before the fuzzed ones. */
  readonly script?: string
  /** Also fuzz user, group, `after` and TCP listen addresses (none of which a test container has). */
  readonly everything: boolean
}

const optional = <A>(arbitrary: fc.Arbitrary<A>) => fc.option(arbitrary, { nil: undefined, freq: 2 })

/** The raw input of a daemon config (what a user writes), fuzzed. */
export const input = (options: Options): fc.Arbitrary<Record<string, unknown>> =>
  fc.record({
    name: maybeName,
    description: optional(hostile(40)),
    program: fc.oneof(
      { weight: 6, arbitrary: hostile(14).map((part) => `${options.programs}/${part}/prog`) },
      { weight: 1, arbitrary: hostile(8).map((part) => `./${part}`) },
      { weight: 1, arbitrary: hostile(8).map((part) => `zz-not-on-path-${part}`) }
    ),
    args: fc.array(hostile(12), { maxLength: 4 }),
    env: fc.dictionary(fc.oneof({ weight: 12, arbitrary: envName }, { weight: 1, arbitrary: hostile(8) }), hostile(16), {
      maxKeys: 3
    }),
    workingDirectory: optional(hostilePath("/srv/duende-fuzz-wd")),
    user: options.everything
      ? optional(fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom("www-data", "nobody", "0", "4294967294", "_svc-1") },
        { weight: 1, arbitrary: fc.constantFrom("65535", "4294967295") },
        { weight: 1, arbitrary: hostile(6) }
      ))
      : fc.constant(undefined),
    group: options.everything
      ? optional(fc.oneof({ weight: 4, arbitrary: fc.constantFrom("www-data", "65534") }, { weight: 1, arbitrary: hostile(6) }))
      : fc.constant(undefined),
    after: options.everything ? fc.array(maybeName, { maxLength: 1 }) : fc.constant([]),
    unit: optional(maybeName),
    readWritePaths: fc.array(
      fc.oneof(
        // What core lets through: no quotes, backslashes or controls, no trailing "/" or space.
        { weight: 6, arbitrary: hostilePath("/srv/duende-fuzz-rw").map((p) => p.replace(/[\0-\x1f\x7f"'\\]/g, "").replace(/[/ ]+$/, "")) },
        { weight: 1, arbitrary: hostilePath("/srv/duende-fuzz-rw") }
      ),
      { maxLength: 2 }
    ),
    capabilities: fc.array(
      fc.oneof({ weight: 4, arbitrary: fc.constant("CAP_NET_BIND_SERVICE") }, { weight: 1, arbitrary: hostile(6) }),
      { maxLength: 1 }
    ),
    socket: optional(fc.record({
      listen: fc.array(
        fc.oneof(
          { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9._+-]{1,12}$/).map((p) => `/run/duende-fuzz-${p}.sock`) },
          { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9._+-]{1,12}$/).map((p) => `@duende-fuzz-${p}`) },
          { weight: 1, arbitrary: hostile(10).map((part) => `/run/duende-fuzz-${part}.sock`) },
          ...(options.everything ? [{ weight: 1, arbitrary: fc.constantFrom("8080", "127.0.0.1:99999", "[::1]:9090") }] : [])
        ),
        { minLength: 1, maxLength: 2 }
      ),
      name: optional(fc.oneof(fc.constant("http"), hostile(6)))
    }))
  }).map((f) => ({
    name: f.name,
    ...(f.description === undefined ? {} : { description: f.description }),
    command: { program: f.program, args: options.script === undefined ? f.args : [options.script, ...f.args] },
    env: f.env,
    ...(f.workingDirectory === undefined ? {} : { workingDirectory: f.workingDirectory }),
    ...(f.user === undefined ? {} : { user: f.user }),
    ...(f.group === undefined ? {} : { group: f.group }),
    after: f.after,
    platform: {
      systemd: {
        type: "exec",
        ...(f.unit === undefined ? {} : { unit: f.unit }),
        readWritePaths: f.readWritePaths,
        capabilities: f.capabilities,
        ...(f.socket === undefined
          ? {}
          : { socket: { listen: f.socket.listen, ...(f.socket.name === undefined ? {} : { name: f.socket.name }) } })
      }
    }
  }))

export type Outcome =
  | { readonly _tag: "RefusedByCore"; readonly fields: ReadonlyArray<string> }
  | { readonly _tag: "RefusedByRenderer"; readonly error: SystemdUnit.UnitRenderError }
  | { readonly _tag: "Rendered"; readonly config: DaemonConfig.DaemonConfig; readonly units: SystemdUnit.Units }

export const host = { path: "/usr/bin:/bin", cwd: "/srv/app" }

export const outcome = (raw: unknown): Outcome => {
  const decoded = decodeEither(raw)
  if (Either.isLeft(decoded)) return { _tag: "RefusedByCore", fields: decoded.left.problems.map((p) => p.path) }
  const units = SystemdUnit.make(decoded.right, { scope: "system", version: 252, host })
  return Either.isLeft(units)
    ? { _tag: "RefusedByRenderer", error: units.left }
    : { _tag: "Rendered", config: decoded.right, units: units.right }
}

// The fields fuzzed here, as errors name them.
const fuzzedField =
  /^(?:name|description|command(?:\.program|\.args\[\d+\])?|env(?:\.[A-Za-z_][A-Za-z0-9_]*|\[".*"\])?|workingDirectory|user|group|after(?:\[\d+\])?|platform\.systemd\.(?:unit|readWritePaths(?:\[\d+\])?|capabilities(?:\[\d+\])?|socket\.(?:listen(?:\[\d+\])?|name)))$/s

/** A refusal names one of the fuzzed fields (as core's errors do: `env.A`, `command.args[1]`, `env["A B"]`…). */
export const expectFieldNamed = (result: Outcome) => {
  if (result._tag === "RefusedByCore") {
    expect(result.fields.length).toBeGreaterThan(0)
    for (const field of result.fields) expect(field).toMatch(/^(?:name|description|command|env|workingDirectory|user|group|after|platform)/)
  } else if (result._tag === "RefusedByRenderer") {
    expect(result.error.field, result.error.message).toMatch(fuzzedField)
    expect(result.error.reason.startsWith(`${result.error.field}: `)).toBe(true)
    // The message is one line: a hostile value is shown escaped.
    expect(result.error.message).not.toMatch(/[\0-\x1f\x7f-\x9f\u2028\u2029]/)
  }
}

const right = <A, E>(either: Either.Either<A, E>): A => {
  if (Either.isLeft(either)) throw new Error(`expected Right, got Left(${String(either.left)})`)
  return either.right
}
const unescaped = (value: string) => right(UnitFile.unescapeSpecifiers(value))

/** The trampoline a program systemd will not exec directly runs through. */
export const throughShell = (shell: string, argv: ReadonlyArray<string>) => [shell, "-c", "exec \"$0\" \"$@\"", ...argv]

/** What systemd must run for `units`: the path and argv of its ExecStart=, as UnitFile reads them. */
export const expectedCommand = (units: SystemdUnit.Units, exec: UnitFile.Command) => {
  const [program] = units.argv
  if (UnitFile.isExecutablePath(program!)) return { path: program!, argv: units.argv }
  expect(exec.path).toMatch(/\/sh$/)
  return { path: exec.path, argv: throughShell(exec.path, units.argv) }
}

const clean = (text: string) =>
  text !== "" && !/[\0-\x1f\x7f-\x9f\u2028\u2029]|^ | {2}|[ \\]$/.test(text)

/** The units of a rendered config, parsed back, hold exactly its values. */
export const expectExact = (config: DaemonConfig.DaemonConfig, units: SystemdUnit.Units) => {
  const systemd = config.platform.systemd!
  const service = right(UnitFile.parse(right(SystemdUnit.text(units.service))))
  const value = (key: string) => UnitFile.values(service, "Service", key).map(unescaped)
  // No value added or removed a directive.
  expect(service.sections.flatMap((s) => s.entries.map((e) => `${s.name}.${e.key}`)))
    .toEqual(units.service.directives.map((d) => `${d.section}.${d.key}`))
  expect(units.service.name).toBe(`${systemd.unit ?? config.name}.service`)

  const program = resolve(units.workingDirectory, config.command.program)
  expect(units.argv).toEqual([program, ...config.command.args])
  const exec = right(UnitFile.parseExec(value("ExecStart")[0]!))
  expect(exec).toEqual(expectedCommand(units, exec))
  // systemd-run: the program path verbatim, `$` expanded in argv like ExecStart= without "@".
  const transient = right(UnitFile.parseExec(units.transientCommand.map((w) => right(UnitFile.quote(w))).join(" ")))
  expect(transient).toEqual(
    transient.path === program ? { path: program, argv: units.argv } : { path: transient.path, argv: throughShell(transient.path, units.argv) }
  )

  const environment = value("Environment").flatMap((raw) => right(UnitFile.parseEnvironment(raw)))
  expect(environment).toEqual(Object.entries(config.env))
  expect(value("WorkingDirectory")).toEqual([units.workingDirectory])
  expect(units.workingDirectory).toBe(resolve(host.cwd, config.workingDirectory ?? "."))
  expect(value("User")).toEqual(config.user === undefined ? [] : [config.user])
  expect(value("Group")).toEqual(config.group === undefined ? [] : [config.group])
  expect(value("ReadWritePaths").flatMap((raw) => right(UnitFile.words(raw, { cEscapes: false })))).toEqual(systemd.readWritePaths)
  const [description] = UnitFile.values(service, "Unit", "Description").map(unescaped)
  expect(description).not.toMatch(/[\0-\x1f\x7f-\x9f\u2028\u2029]/)
  if (config.description !== undefined && clean(config.description)) expect(description).toBe(config.description)

  if (systemd.socket !== undefined) {
    const socket = right(UnitFile.parse(right(SystemdUnit.text(units.socket!))))
    const listen = UnitFile.values(socket, "Socket", systemd.socket.kind === "stream" ? "ListenStream" : "ListenDatagram")
    expect(listen.map(unescaped)).toEqual(systemd.socket.listen)
    expect(UnitFile.values(socket, "Socket", "FileDescriptorName").map(unescaped)).toEqual(
      systemd.socket.name === undefined ? [] : [systemd.socket.name]
    )
  }
}
