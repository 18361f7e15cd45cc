/**
 * Property lists, the file format of launchd jobs: a model of the eight value
 * types (dict, array, string, integer, real, bool, date, data), an XML writer
 * and a parser that read each other's output back unchanged.
 *
 * The writer escapes `&`, `<` and `>` (so `]]>` can never appear), writes a
 * carriage return, DEL, the C1 controls (NEL among them) and the line and
 * paragraph separators as character references (an XML parser would otherwise
 * turn `\r` into `\n`, and line-oriented tools split on the others), and
 * refuses what XML 1.0 cannot carry at all (NUL and the other C0 controls but
 * tab and newline, lone surrogates, U+FFFE and U+FFFF) with an error naming
 * the key path — such a value is never written.
 *
 * Why not the `plist` npm package: its 5.x line is ESM-only, so the CommonJS
 * build of this package could not `require` it (ERR_PACKAGE_PATH_NOT_EXPORTED)
 * without bundling it and its two XML dependencies; its errors do not say
 * which field held the bad character; and it writes `\r` raw, which parsers
 * read back as `\n`. The writer is ~150 lines; what keeps it honest is that
 * the tests parse its output with Python's `plistlib` (expat), not with the
 * parser below.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import { parseDocument } from "./internal/plistParser.js"

/**
 * A `<string>`.
 *
 * @since 0.1.0
 */
export interface PlistString {
  readonly _tag: "string"
  readonly value: string
}

/**
 * An `<integer>`: 64-bit, signed, as launchd reads it.
 *
 * @since 0.1.0
 */
export interface PlistInteger {
  readonly _tag: "integer"
  readonly value: bigint
}

/**
 * A `<real>`: a finite double.
 *
 * @since 0.1.0
 */
export interface PlistReal {
  readonly _tag: "real"
  readonly value: number
}

/**
 * `<true/>` or `<false/>`.
 *
 * @since 0.1.0
 */
export interface PlistBool {
  readonly _tag: "bool"
  readonly value: boolean
}

/**
 * A `<date>`, in whole seconds (the XML form has no fractions).
 *
 * @since 0.1.0
 */
export interface PlistDate {
  readonly _tag: "date"
  readonly value: Date
}

/**
 * A `<data>`: bytes, written as base64.
 *
 * @since 0.1.0
 */
export interface PlistData {
  readonly _tag: "data"
  readonly value: Uint8Array
}

/**
 * An `<array>`.
 *
 * @since 0.1.0
 */
export interface PlistArray {
  readonly _tag: "array"
  readonly items: ReadonlyArray<Value>
}

/**
 * A `<dict>`: keys in order, each at most once.
 *
 * @since 0.1.0
 */
export interface PlistDict {
  readonly _tag: "dict"
  readonly entries: ReadonlyArray<readonly [string, Value]>
}

/**
 * Any plist value.
 *
 * @since 0.1.0
 */
export type Value = PlistString | PlistInteger | PlistReal | PlistBool | PlistDate | PlistData | PlistArray | PlistDict

/**
 * A value that cannot be written: `path` is where it sits ("EnvironmentVariables.GREETING").
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 *
 * new Plist.PlistWriteError({ path: "Label", reason: "contains U+0000 (NUL)" }).message
 * // "Label: contains U+0000 (NUL)"
 * ```
 *
 * @since 0.1.0
 */
export class PlistWriteError extends Data.TaggedError("PlistWriteError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return this.path === "" ? this.reason : `${this.path}: ${this.reason}`
  }
}

/**
 * Text that is not a well-formed plist, with where.
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 *
 * new Plist.PlistParseError({ line: 3, column: 5, reason: "expected a value" }).message
 * // "line 3, column 5: expected a value"
 * ```
 *
 * @since 0.1.0
 */
export class PlistParseError extends Data.TaggedError("PlistParseError")<{
  readonly line: number
  readonly column: number
  readonly reason: string
}> {
  override get message(): string {
    return `line ${this.line}, column ${this.column}: ${this.reason}`
  }
}

/**
 * A string value.
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 *
 * Plist.string("com.example.api")
 * ```
 *
 * @since 0.1.0
 */
export const string = (value: string): PlistString => ({ _tag: "string", value })

/**
 * An integer value; a `number` must be a safe integer.
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 *
 * Plist.integer(10)
 * Plist.integer(9223372036854775807n)
 * ```
 *
 * @since 0.1.0
 */
export const integer = (value: number | bigint): PlistInteger => {
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    throw new RangeError(`Plist.integer takes a safe integer or a bigint, got ${value}`)
  }
  return { _tag: "integer", value: BigInt(value) }
}

/**
 * A real value.
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 *
 * Plist.real(0.5)
 * ```
 *
 * @since 0.1.0
 */
export const real = (value: number): PlistReal => ({ _tag: "real", value })

/**
 * A boolean value.
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 *
 * Plist.bool(true)
 * ```
 *
 * @since 0.1.0
 */
export const bool = (value: boolean): PlistBool => ({ _tag: "bool", value })

/**
 * A date value.
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 *
 * Plist.date(new Date("2026-01-01T00:00:00Z"))
 * ```
 *
 * @since 0.1.0
 */
export const date = (value: Date): PlistDate => ({ _tag: "date", value })

/**
 * A data value.
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 *
 * Plist.data(new Uint8Array([0xde, 0xad]))
 * ```
 *
 * @since 0.1.0
 */
export const data = (value: Uint8Array): PlistData => ({ _tag: "data", value })

/**
 * An array value.
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 *
 * Plist.array([Plist.string("/usr/local/bin/node"), Plist.string("/srv/app/server.js")])
 * ```
 *
 * @since 0.1.0
 */
export const array = (items: ReadonlyArray<Value>): PlistArray => ({ _tag: "array", items })

/**
 * A dict value, from entries in order or from an object's own entries.
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 *
 * Plist.dict({ SuccessfulExit: Plist.bool(false), Crashed: Plist.bool(true) })
 * Plist.dict([["Label", Plist.string("com.example.api")]])
 * ```
 *
 * @since 0.1.0
 */
export const dict = (
  entries: ReadonlyArray<readonly [string, Value]> | Readonly<Record<string, Value>>
): PlistDict => ({ _tag: "dict", entries: Array.isArray(entries) ? entries : Object.entries(entries) })

/**
 * The value under `key` in a dict, if any.
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 *
 * Plist.get(Plist.dict({ Label: Plist.string("x") }), "Label") // { _tag: "string", value: "x" }
 * ```
 *
 * @since 0.1.0
 */
export const get = (value: PlistDict, key: string): Value | undefined => value.entries.find(([k]) => k === key)?.[1]

const describe = (code: number): string => {
  if (code === 0) return "NUL"
  if (code < 0x20) return "a control character"
  if (code >= 0xd800 && code <= 0xdfff) return "a lone surrogate (half of a UTF-16 pair)"
  return "a noncharacter"
}

const unwritable = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * Why a string cannot be written in an XML plist (undefined when it can):
 * XML 1.0 has no way to carry NUL, the C0 controls other than tab, newline
 * and carriage return, lone surrogates, U+FFFE and U+FFFF, not even as
 * character references.
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 *
 * Plist.problem("a\u0001b") // "contains U+0001 (a control character) at index 1, which XML 1.0 cannot carry"
 * Plist.problem("tab\tand ]]> are fine") // undefined
 * ```
 *
 * @since 0.1.0
 */
export const problem = (text: string): string | undefined => {
  const found = unwritable.exec(text)
  if (found === null) return undefined
  const code = found[0].charCodeAt(0)
  return `contains U+${code.toString(16).toUpperCase().padStart(4, "0")} (${
    describe(code)
  }) at index ${found.index}, which XML 1.0 cannot carry`
}

const references: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;" }

/** Escapes text for element content: `& < >`, and characters parsers would change as references. */
const escape = (text: string): string =>
  text.replace(
    /[&<>\r\u007F-\u009F\u2028\u2029]/g,
    (c) => references[c] ?? `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`
  )

const minInteger = -(2n ** 63n)
const maxInteger = 2n ** 63n - 1n

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

class Writer {
  readonly lines: Array<string> = []
  error: PlistWriteError | undefined

  fail(path: string, reason: string): false {
    this.error = new PlistWriteError({ path, reason })
    return false
  }

  text(path: string, text: string): string | undefined {
    const why = problem(text)
    if (why !== undefined) {
      this.fail(path, why)
      return undefined
    }
    return escape(text)
  }

  value(value: Value, indent: string, path: string): boolean {
    switch (value._tag) {
      case "string": {
        const text = this.text(path, value.value)
        if (text === undefined) return false
        this.lines.push(`${indent}<string>${text}</string>`)
        return true
      }
      case "integer":
        if (value.value < minInteger || value.value > maxInteger) {
          return this.fail(path, `integer ${value.value} is outside the 64-bit range launchd reads`)
        }
        this.lines.push(`${indent}<integer>${value.value}</integer>`)
        return true
      case "real": {
        if (!Number.isFinite(value.value)) return this.fail(path, `real ${value.value} is not a finite number`)
        const text = Object.is(value.value, -0) ? "-0.0" : String(value.value)
        this.lines.push(`${indent}<real>${text}</real>`)
        return true
      }
      case "bool":
        this.lines.push(`${indent}<${value.value ? "true" : "false"}/>`)
        return true
      case "date": {
        const d = value.value
        const ms = d.getTime()
        if (!Number.isFinite(ms)) return this.fail(path, "not a valid date")
        if (ms % 1000 !== 0) return this.fail(path, "dates in XML plists have whole seconds; round it")
        const year = d.getUTCFullYear()
        if (year < 1 || year > 9999) return this.fail(path, `year ${year} is outside 1 to 9999`)
        this.lines.push(
          `${indent}<date>${pad(year, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${
            pad(d.getUTCMinutes())
          }:${pad(d.getUTCSeconds())}Z</date>`
        )
        return true
      }
      case "data":
        this.lines.push(`${indent}<data>${Buffer.from(value.value).toString("base64")}</data>`)
        return true
      case "array":
        if (value.items.length === 0) {
          this.lines.push(`${indent}<array/>`)
          return true
        }
        this.lines.push(`${indent}<array>`)
        for (let i = 0; i < value.items.length; i++) {
          if (!this.value(value.items[i]!, `${indent}\t`, `${path}[${i}]`)) return false
        }
        this.lines.push(`${indent}</array>`)
        return true
      case "dict": {
        if (value.entries.length === 0) {
          this.lines.push(`${indent}<dict/>`)
          return true
        }
        this.lines.push(`${indent}<dict>`)
        const seen = new Set<string>()
        for (const [key, item] of value.entries) {
          const at = path === "" ? key : `${path}.${key}`
          if (seen.has(key)) return this.fail(at, "the key appears twice in one dict")
          seen.add(key)
          const text = this.text(`${at} (the key)`, key)
          if (text === undefined) return false
          this.lines.push(`${indent}\t<key>${text}</key>`)
          if (!this.value(item, `${indent}\t`, at)) return false
        }
        this.lines.push(`${indent}</dict>`)
        return true
      }
    }
  }
}

/** Comment text as XML allows it: no "--", not ending in "-", no characters XML cannot carry. */
const commentText = (line: string) =>
  line.replace(unwritable, "\uFFFD").replace(/-(?=-)/g, "- ").replace(/-$/, "- ")

/**
 * Options of {@link write}.
 *
 * @since 0.1.0
 */
export interface WriteOptions {
  /** Lines of an XML comment put before the root element (for people reading the file). */
  readonly comment?: ReadonlyArray<string>
}

/**
 * The XML document of a value, as Apple's tools write it (tab-indented, the
 * Apple DTD), or the first value that cannot be written.
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 *
 * const xml = Plist.write(Plist.dict({ Label: Plist.string("com.example.api"), RunAtLoad: Plist.bool(true) }))
 * ```
 *
 * @since 0.1.0
 */
export const write = (value: Value, options: WriteOptions = {}): Either.Either<string, PlistWriteError> => {
  const writer = new Writer()
  writer.lines.push(
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`
  )
  if (options.comment !== undefined && options.comment.length > 0) {
    writer.lines.push("<!--", ...options.comment.map((line) => `  ${commentText(line)}`), "-->")
  }
  writer.lines.push(`<plist version="1.0">`)
  if (!writer.value(value, "", "")) return Either.left(writer.error!)
  writer.lines.push("</plist>", "")
  return Either.right(writer.lines.join("\n"))
}

/**
 * Reads an XML plist. Strict: one root value, known elements only, each dict
 * key once, no DTD internal subset (so no entity expansion), at most 512
 * levels deep.
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 * import { Either } from "effect"
 *
 * const value = Plist.parse(`<plist version="1.0"><dict><key>Label</key><string>x</string></dict></plist>`)
 * Either.isRight(value) // true
 * ```
 *
 * @since 0.1.0
 */
export const parse = (text: string): Either.Either<Value, PlistParseError> => {
  const result = parseDocument(text)
  return "reason" in result ? Either.left(new PlistParseError(result)) : Either.right(result.value)
}

/**
 * Structural equality of two values (dict entries in order, dates by time, data by bytes).
 *
 * @example
 * ```ts
 * import { Plist } from "@duende/platform-launchd/adapter"
 *
 * Plist.equals(Plist.integer(1), Plist.integer(1n)) // true
 * Plist.equals(Plist.integer(1), Plist.real(1)) // false
 * ```
 *
 * @since 0.1.0
 */
export const equals = (a: Value, b: Value): boolean => {
  switch (a._tag) {
    case "string":
    case "integer":
    case "bool":
      return a._tag === b._tag && a.value === b.value
    case "real":
      return b._tag === "real" && Object.is(a.value, b.value)
    case "date":
      return b._tag === "date" && a.value.getTime() === b.value.getTime()
    case "data":
      return b._tag === "data" && Buffer.from(a.value).equals(Buffer.from(b.value))
    case "array":
      return b._tag === "array" && a.items.length === b.items.length && a.items.every((item, i) => equals(item, b.items[i]!))
    case "dict":
      return b._tag === "dict" && a.entries.length === b.entries.length &&
        a.entries.every(([key, item], i) => b.entries[i]![0] === key && equals(item, b.entries[i]![1]))
  }
}
