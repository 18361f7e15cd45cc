/**
 * Checks the raw shape of a config before `effect/Schema` decodes it: how deep
 * and how large it is, and what no field may hold anywhere — a lone surrogate
 * (ill-formed UTF-16, which no file, argv or environment can carry) or a key
 * named `__proto__` (which JavaScript objects drop without a word). The walk is
 * iterative and stops at the limits, so a config nested 20,000 deep or holding
 * a million values is refused in constant stack and bounded time, never with a
 * stack overflow.
 *
 * @internal
 */
import type { ConfigProblem } from "../ConfigError.js"
import { formatPath } from "./configIssues.js"
import { hasLoneSurrogate, show } from "./schemas.js"

/** The limits of a config's shape; a real daemon config is far inside them. */
export const shapeLimits = {
  /** Objects and arrays inside each other, the config itself being depth 1. */
  depth: 32,
  /** Values (objects, arrays, strings, numbers…) in the whole config. */
  values: 100_000,
  /** Problems reported at most; past that, one line says how many more there were. */
  problems: 20
} as const

const isContainer = (value: unknown): value is object =>
  value !== null && typeof value === "object" &&
  (Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)

/**
 * The problems of a raw config's shape, empty when it may be decoded.
 *
 * @internal
 */
export const inputShapeProblems = (input: unknown): ReadonlyArray<ConfigProblem> => {
  const problems: Array<ConfigProblem> = []
  let more = 0
  const report = (path: ReadonlyArray<PropertyKey>, message: string) => {
    if (problems.length < shapeLimits.problems) problems.push({ path: formatPath(path), message })
    else more++
  }
  const stack: Array<{ readonly value: unknown; readonly path: ReadonlyArray<PropertyKey> }> = [{ value: input, path: [] }]
  let values = 0
  while (stack.length > 0) {
    const { path, value } = stack.pop()!
    if (++values > shapeLimits.values) {
      report([], `holds more than ${shapeLimits.values} values; a daemon config is far smaller (is this the right file?)`)
      break
    }
    if (typeof value === "string") {
      if (hasLoneSurrogate(value)) {
        report(
          path,
          `holds a lone surrogate (half of a UTF-16 pair, ill-formed text) in ${
            show(value)
          }: no file, argument or environment variable can carry it; write the whole character or remove it`
        )
      }
      continue
    }
    if (!isContainer(value)) continue
    if (path.length >= shapeLimits.depth) {
      report(path, `is nested more than ${shapeLimits.depth} levels deep; a daemon config is never that deep`)
      continue
    }
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: [...path, i] })
      continue
    }
    const keys = Object.keys(value)
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!
      if (key === "__proto__") {
        report(
          [...path, key],
          `a key named "__proto__" is not allowed: JavaScript objects would drop it silently; rename it`
        )
        continue
      }
      if (hasLoneSurrogate(key)) {
        report([...path, key], "this key holds a lone surrogate (ill-formed UTF-16 text): write the whole character or remove it")
        continue
      }
      stack.push({ value: (value as Record<string, unknown>)[key], path: [...path, key] })
    }
  }
  if (more > 0) problems.push({ path: "", message: `and ${more} more problem${more === 1 ? "" : "s"} of the same kinds` })
  return problems
}
