/**
 * Checks of the values a unit is made of, each returning why a value cannot
 * be written (or `undefined` when it can). The renderer uses them on its own,
 * whatever core's schema let through, so no input yields a unit that systemd
 * refuses or, worse, reads differently.
 *
 * @internal
 */
import { DaemonConfig, SystemdSection } from "@duende/core/DaemonConfigSchema"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Limits from "./limits.js"
import { show } from "./show.js"

/** A field path as core's config errors write it: `command.args[1]`, `env.TOKEN`, `env["A B"]`. */
export const fieldPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((out, key) => {
    if (typeof key === "number") return `${out}[${key}]`
    const name = String(key)
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return out === "" ? name : `${out}.${name}`
    return `${out}[${show(name)}]`
  }, "")

export interface Problem {
  readonly field: string
  readonly message: string
}

const firstProblem = (error: ParseResult.ParseError, prefix: ReadonlyArray<PropertyKey>): Problem => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  return issue === undefined
    ? { field: fieldPath(prefix), message: "is not a valid value" }
    : { field: fieldPath([...prefix, ...issue.path]), message: issue.message }
}

const validConfig = Schema.validateEither(DaemonConfig, { errors: "first" })
const validSection = Schema.validateEither(SystemdSection, { errors: "first" })

/** The first field of a decoded config that breaks core's own rules (a config built by hand, say). */
export const configProblem = (config: unknown): Problem | undefined => {
  const result = validConfig(config)
  return Either.isLeft(result) ? firstProblem(result.left, []) : undefined
}

/** The same for systemd settings given to the renderer directly. */
export const sectionProblem = (section: unknown): Problem | undefined => {
  const result = validSection(section)
  return Either.isLeft(result) ? firstProblem(result.left, ["platform", "systemd"]) : undefined
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Text no unit file can hold: NUL ends a C string, a lone surrogate has no UTF-8 form. */
export const unwritable = (text: string): string | undefined =>
  text.includes("\0")
    ? `holds a NUL character: ${show(text)}`
    : loneSurrogate.test(text)
    ? `holds a lone UTF-16 surrogate, which is not text (no UTF-8 form): ${show(text)}`
    : undefined

/** Longer than a unit-file line can be (checked before any escaping, which only makes it longer). */
export const overLong = (text: string): string | undefined => {
  const bytes = Buffer.byteLength(text)
  return bytes > Limits.lineBytes
    ? `is ${bytes} bytes; a unit file line holds at most ${Limits.lineBytes} bytes`
    : undefined
}

/** A path longer than PATH_MAX or with a component longer than NAME_MAX. */
export const pathLength = (path: string): string | undefined => {
  const bytes = Buffer.byteLength(path)
  if (bytes > Limits.pathBytes) {
    return `is a path of ${bytes} bytes; systemd and Linux take at most ${Limits.pathBytes}`
  }
  const long = path.split("/").find((part) => Buffer.byteLength(part) > Limits.nameBytes)
  return long === undefined
    ? undefined
    : `has a component of ${Buffer.byteLength(long)} bytes (${show(long, 24)}); at most ${Limits.nameBytes} bytes each`
}

/**
 * A user or group as systemd loads it: a name, or a numeric id below 2^32 − 1
 * that is not 65535 (both "invalid" to systemd, which then refuses the unit).
 */
export const account = (value: string): string | undefined => {
  if (/^[a-z_][a-z0-9_-]{0,31}$/.test(value)) return undefined
  if (/^\d{1,10}$/.test(value)) {
    const id = Number(value)
    return id <= 4_294_967_294 && id !== 65_535
      ? undefined
      : `${value} is not a usable id (systemd refuses 65535 and ids from 4294967295)`
  }
  return `expected a user or group name (lowercase letters, digits, "_", "-") or a numeric id, got ${show(value)}`
}
