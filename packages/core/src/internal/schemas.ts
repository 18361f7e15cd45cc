/**
 * Field schemas for config files whose decode errors say what was expected and
 * what was found, in words a user can act on.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { displayLine } from "./displayText.js"
import { formatByteSize, formatDurationMillis, parseByteSize, parseDurationMillis } from "./units.js"

/** Renders a config value for an error message: strings quoted, the rest as JSON. */
export const show = (value: unknown): string => {
  if (value === undefined) return "nothing"
  if (typeof value === "number" && !Number.isFinite(value)) return String(value)
  if (typeof value === "bigint") return `${value}n`
  // A long string is cut before it is quoted, at a whole character, so the cut never splits an escape.
  if (typeof value === "string" && value.length > 60) {
    const head = Array.from(value.slice(0, 60)).slice(0, 50).join("")
    return `${displayLine(JSON.stringify(head).slice(0, -1))}..." (${value.length} characters)`
  }
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch {
    json = undefined
  }
  if (json === undefined) json = Object.prototype.toString.call(value)
  return displayLine(json.length > 60 ? `${json.slice(0, 57)}...` : json)
}

const expected = (what: string) => (issue: ParseResult.ParseIssue) => ({
  message: `expected ${what}, got ${show(issue.actual)}`,
  override: true
})

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** Whether a string is ill-formed UTF-16: it holds half of a surrogate pair alone, which no file or argv can carry. */
export const hasLoneSurrogate = (s: string): boolean => loneSurrogate.test(s)

/** The UTF-8 length of a string, in bytes (what argv, env and files hold). */
export const utf8Bytes = (s: string): number => Buffer.byteLength(s, "utf8")

/**
 * The longest single argument or environment string Linux passes to a program
 * (MAX_ARG_STRLEN, 32 pages, including its NUL): a longer one makes exec fail.
 */
export const maxArgBytes = 131_071

/** PATH_MAX less the NUL: the longest path the kernel resolves. */
export const maxPathBytes = 4_095

/** NAME_MAX: the longest name of one path component. */
export const maxNameBytes = 255

/** The longest delay a Node.js timer (and so Effect's Clock) can wait: 2^31 - 1 ms. */
export const maxDelayMillis = 2_147_483_647

const sizeHint = (bytes: number) => bytes >= 1024 ? `${Math.floor(bytes / 1024)} KiB` : `${bytes} bytes`

const textProblem = (s: string, maxBytes: number, nonEmpty: boolean): string | undefined => {
  if (nonEmpty && s.length === 0) return "expected a non-empty string, got \"\""
  if (s.includes("\u0000")) return `expected a string without NUL characters, got ${show(s)}`
  if (hasLoneSurrogate(s)) {
    return `expected well-formed Unicode text, got a lone surrogate (an unpaired half of a UTF-16 pair) in ${show(s)}`
  }
  const bytes = s.length > maxBytes / 3 ? utf8Bytes(s) : s.length
  if (bytes > maxBytes) return `expected at most ${sizeHint(maxBytes)} (${maxBytes} bytes of UTF-8), got ${bytes} bytes`
  return undefined
}

/**
 * A string of well-formed Unicode without NUL, at most `maxBytes` of UTF-8
 * (default: the longest argument or environment string Linux passes).
 */
export const BoundedText = (
  options: {
    readonly maxBytes?: number
    readonly nonEmpty?: boolean
    /** What to say when the value is not a string at all. */
    readonly nonString?: (actual: unknown) => string
  } = {}
) => {
  const maxBytes = options.maxBytes ?? maxArgBytes
  const nonEmpty = options.nonEmpty ?? false
  const nonString = options.nonString ??
    ((actual: unknown) => `expected ${nonEmpty ? "a non-empty string" : "a string"}, got ${show(actual)}`)
  return Schema.String.pipe(
    Schema.filter((s) => {
      const problem = textProblem(s, maxBytes, nonEmpty)
      return problem === undefined ? true : problem
    }, { jsonSchema: nonEmpty ? { minLength: 1 } : {} })
  ).annotations({
    message: (issue) => ({
      message: typeof issue.actual === "string"
        ? textProblem(issue.actual, maxBytes, nonEmpty) ?? `expected a string, got ${show(issue.actual)}`
        : nonString(issue.actual),
      override: true
    })
  })
}

/** A string that may not contain NUL (it cannot reach argv, env or a file), well-formed, at most 128 KiB. */
export const Text = BoundedText()

/** A non-empty {@link Text}. */
export const NonEmptyText = BoundedText({ nonEmpty: true })

const pathProblem = (s: string): string | undefined => {
  const base = textProblem(s, maxPathBytes, true)
  if (base !== undefined) return base.replace(/^expected at most .*?,/, `expected a path of at most ${maxPathBytes} bytes (PATH_MAX),`)
  const long = s.split("/").find((part) => utf8Bytes(part) > maxNameBytes)
  return long === undefined
    ? undefined
    : `expected path components of at most ${maxNameBytes} bytes (NAME_MAX), got one of ${utf8Bytes(long)} bytes: ${show(long)}`
}

/** A file system path the kernel can resolve: non-empty, no NUL, well-formed, at most PATH_MAX, each part at most NAME_MAX. */
export const PathText = Schema.String.pipe(
  Schema.filter((s) => pathProblem(s) ?? true, { jsonSchema: { minLength: 1, maxLength: maxPathBytes } })
).annotations({
  message: (issue) => ({
    message: typeof issue.actual === "string"
      ? pathProblem(issue.actual) ?? `expected a path, got ${show(issue.actual)}`
      : `expected a path (a string), got ${show(issue.actual)}`,
    override: true
  })
})

/** A whole number in [min, max]. */
export const Int = (min: number, max: number = Number.MAX_SAFE_INTEGER, hint = "") =>
  Schema.Number.pipe(Schema.filter((n) => Number.isInteger(n) && n >= min && n <= max)).annotations({
    message: expected(
      `a whole number ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`}${hint}`
    ),
    jsonSchema: { type: "integer", minimum: min, ...(max === Number.MAX_SAFE_INTEGER ? {} : { maximum: max }) }
  })

/** How many copies of a daemon run: a whole number in [1, max], or "max" (one per CPU). */
export const Instances = (max: number) =>
  Schema.Union(Schema.Number.pipe(Schema.filter((n) => Number.isInteger(n) && n >= 1 && n <= max)), Schema.Literal("max"))
    .annotations({
      message: expected(`a whole number from 1 to ${max}, or "max" (one per CPU)`),
      jsonSchema: { oneOf: [{ type: "integer", minimum: 1, maximum: max }, { const: "max" }] }
    })

/** A finite number in [min, max]. */
export const Num = (min: number, max: number, hint = "") =>
  Schema.Number.pipe(Schema.filter((n) => Number.isFinite(n) && n >= min && n <= max)).annotations({
    message: expected(`a number from ${min} to ${max}${hint}`),
    jsonSchema: { type: "number", minimum: min, maximum: max }
  })

/** One of the given string literals. */
export const OneOf = <const L extends ReadonlyArray<string>>(...values: L) =>
  Schema.Literal(...values).annotations({
    message: expected(`one of ${values.map((v) => JSON.stringify(v)).join(", ")}`)
  })

export const Bool = Schema.Boolean.annotations({ message: expected("true or false") })

/**
 * A duration written as "30s", "500ms", "1m30s", "2h", "1d" or a number of
 * milliseconds; decoded to an Effect `Duration`.
 */
export const DurationInput = (options: { readonly min?: number; readonly what?: string } = {}) => {
  const min = options.min ?? 0
  const what = `${options.what ?? "a duration"} such as "30s", "500ms", "1m30s" or a number of milliseconds${
    min > 0 ? ` (more than ${formatDurationMillis(min - 1)})` : ""
  }`
  return Schema.transformOrFail(Schema.Unknown, Schema.DurationFromSelf, {
    strict: true,
    decode: (input, _, ast) => {
      const millis = typeof input === "number"
        ? (Number.isFinite(input) ? input : undefined)
        : typeof input === "string"
        ? parseDurationMillis(input)
        : undefined
      if (millis !== undefined && millis > maxDelayMillis) {
        return ParseResult.fail(
          new ParseResult.Type(
            ast,
            input,
            `expected ${options.what ?? "a duration"} of at most ${
              formatDurationMillis(Math.floor(maxDelayMillis / 1000) * 1000)
            } (2^31 - 1 ms, the longest a Node.js timer can wait), got ${show(input)}`
          )
        )
      }
      return millis !== undefined && millis >= min
        ? ParseResult.succeed(Duration.millis(millis))
        : ParseResult.fail(new ParseResult.Type(ast, input, `expected ${what}, got ${show(input)}`))
    },
    encode: (duration) => ParseResult.succeed(formatDurationMillis(Duration.toMillis(duration)))
  }).annotations({
    jsonSchema: {
      description: `A duration: "30s", "500ms", "1m30s", "2h", "1d" or a number of milliseconds, at most ${maxDelayMillis} ms.`,
      anyOf: [
        { type: "string", pattern: "^(\\d+(\\.\\d+)?(ms|s|m|h|d))+$" },
        { type: "number", minimum: min, maximum: maxDelayMillis }
      ]
    }
  }) as unknown as Schema.Schema<Duration.Duration, string | number>
}

/** A byte size written as "512M", "1.5G", "64KiB" or a number of bytes; decoded to a number. */
export const ByteSize = (what = "a size") =>
  Schema.transformOrFail(Schema.Unknown, Schema.Number, {
    strict: true,
    decode: (input, _, ast) => {
      const bytes = typeof input === "number"
        ? (Number.isSafeInteger(input) ? input : undefined)
        : typeof input === "string"
        ? parseByteSize(input)
        : undefined
      if (bytes !== undefined && bytes > 0) return ParseResult.succeed(bytes)
      const hint = typeof input === "string" && /^\s*\d+(\.\d+)?\s*[kmgt]b\s*$/i.test(input)
        ? ` ("${input.trim()}" is ambiguous: write ${input.trim().replace(/b\s*$/i, "")} for 1024-based units)`
        : ""
      return ParseResult.fail(
        new ParseResult.Type(
          ast,
          input,
          `expected ${what} such as "512M", "1.5G", "64KiB" or a number of bytes greater than 0, got ${
            show(input)
          }${hint}`
        )
      )
    },
    encode: (bytes) => ParseResult.succeed(formatByteSize(bytes))
  }).annotations({
    jsonSchema: {
      description: `A size: "512M", "1.5G", "64KiB" (1024-based) or a number of bytes.`,
      anyOf: [
        { type: "string", pattern: "^\\d+(\\.\\d+)?\\s*([KMGTkmgt](i[Bb])?|[Bb])?$" },
        { type: "integer", minimum: 1 }
      ]
    }
  }) as unknown as Schema.Schema<number, string | number>

/** A struct whose optional fields fall back to defaults; unknown keys are reported by the decoder. */
export const withDefault = <A, I>(schema: Schema.Schema<A, I>, value: () => NoInfer<A>) =>
  Schema.optionalWith(schema, { default: value })
