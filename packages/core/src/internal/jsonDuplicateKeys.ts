/**
 * Finds keys that appear twice in one object of a JSON text. `JSON.parse`
 * keeps the last of them without a word, so `"user": "nobody", …, "user":
 * "root"` would run as root; a config must say what it means once.
 *
 * The scan runs on text `JSON.parse` has accepted, so it only tracks strings,
 * brackets, colons and commas. It is iterative: depth costs no stack.
 *
 * @internal
 */
import type { ConfigProblem } from "../ConfigError.js"
import { formatPath } from "./configIssues.js"

interface Frame {
  readonly kind: "object" | "array"
  readonly path: ReadonlyArray<PropertyKey>
  /** Objects: each key and where it was first written. */
  readonly keys: Map<string, number>
  /** Objects: the key of the value being read; arrays: its index. */
  at: PropertyKey
}

/** Line and column of a character offset, 1-based. */
export const position = (text: string, offset: number): string => {
  let line = 1
  let lineStart = 0
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++
    lineStart = i + 1
  }
  return `line ${line}, column ${offset - lineStart + 1}`
}

/**
 * Every key written twice in the same object, with both places.
 *
 * @internal
 */
export const duplicateKeys = (text: string): ReadonlyArray<ConfigProblem> => {
  const problems: Array<ConfigProblem> = []
  const stack: Array<Frame> = []
  let i = 0
  while (i < text.length) {
    const char = text[i]!
    if (char === "\"") {
      const start = i
      i++
      while (i < text.length && text[i] !== "\"") i += text[i] === "\\" ? 2 : 1
      i++
      const top = stack[stack.length - 1]
      let next = i
      while (next < text.length && /\s/.test(text[next]!)) next++
      if (top?.kind === "object" && text[next] === ":") {
        const key = JSON.parse(text.slice(start, i)) as string
        const first = top.keys.get(key)
        if (first !== undefined && problems.length < 20) {
          problems.push({
            path: formatPath([...top.path, key]),
            message: `written twice in one object, at ${position(text, first)} and at ${
              position(text, start)
            }; JSON would keep only the last one: remove one of them`
          })
        } else top.keys.set(key, start)
        top.at = key
      }
      continue
    }
    if (char === "{" || char === "[") {
      const parent = stack[stack.length - 1]
      stack.push({
        kind: char === "{" ? "object" : "array",
        // Deeper than a config may be (the shape check refuses it), paths stop growing: no quadratic cost.
        path: parent === undefined ? [] : stack.length > 40 ? parent.path : [...parent.path, parent.at],
        keys: new Map(),
        at: 0
      })
    } else if (char === "}" || char === "]") {
      stack.pop()
    } else if (char === ",") {
      const top = stack[stack.length - 1]
      if (top?.kind === "array") top.at = (top.at as number) + 1
    }
    i++
  }
  return problems
}
