/**
 * Field schemas for config files whose decode errors say what was expected and
 * what was found, in words a user can act on.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { formatByteSize, formatDurationMillis, parseByteSize, parseDurationMillis } from "./units.js"

/** Renders a config value for an error message: strings quoted, the rest as JSON. */
export const show = (value: unknown): string => {
  if (value === undefined) return "nothing"
  if (typeof value === "number" && !Number.isFinite(value)) return String(value)
  if (typeof value === "bigint") return `${value}n`
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch {
    json = undefined
  }
  if (json === undefined) json = Object.prototype.toString.call(value)
  return json.length > 60 ? `${json.slice(0, 57)}...` : json
}

const expected = (what: string) => (issue: ParseResult.ParseIssue) => ({
  message: `expected ${what}, got ${show(issue.actual)}`,
  override: true
})

/** A string that may not contain NUL (it cannot reach argv, env or a file). */
export const Text = Schema.String.pipe(
  Schema.filter((s) => !s.includes("\u0000"))
).annotations({ message: expected("a string without NUL characters") })

/** A non-empty string without NUL. */
export const NonEmptyText = Schema.String.pipe(
  Schema.filter((s) => s.length > 0 && !s.includes("\u0000"))
).annotations({ message: expected("a non-empty string") })

/** A whole number in [min, max]. */
export const Int = (min: number, max: number = Number.MAX_SAFE_INTEGER, hint = "") =>
  Schema.Number.pipe(Schema.filter((n) => Number.isInteger(n) && n >= min && n <= max)).annotations({
    message: expected(
      `a whole number ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`}${hint}`
    ),
    jsonSchema: { type: "integer", minimum: min, ...(max === Number.MAX_SAFE_INTEGER ? {} : { maximum: max }) }
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
      return millis !== undefined && millis >= min
        ? ParseResult.succeed(Duration.millis(millis))
        : ParseResult.fail(new ParseResult.Type(ast, input, `expected ${what}, got ${show(input)}`))
    },
    encode: (duration) => ParseResult.succeed(formatDurationMillis(Duration.toMillis(duration)))
  }).annotations({
    jsonSchema: {
      description: `A duration: "30s", "500ms", "1m30s", "2h", "1d" or a number of milliseconds.`,
      anyOf: [
        { type: "string", pattern: "^(\\d+(\\.\\d+)?(ms|s|m|h|d))+$" },
        { type: "number", minimum: min }
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
