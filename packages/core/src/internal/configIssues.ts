/**
 * Turns a Schema parse issue into one line per bad field, with field paths as a
 * user writes them and a "did you mean" for misspelt keys.
 *
 * @internal
 */
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import type { ConfigProblem } from "../ConfigError.js"
import { show } from "./schemas.js"

/** A field path as a user writes it: `env.PORT`, `command.args[1]`, `env["A-B"]`. */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((out, key) => {
    if (typeof key === "number") return `${out}[${key}]`
    const name = String(key)
    if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name)) return out === "" ? name : `${out}.${name}`
    return `${out}[${JSON.stringify(name)}]`
  }, "")

/** The object schemas that can sit at `path` (several when a union allows several shapes). */
const objectsAt = (ast: AST.AST, path: ReadonlyArray<PropertyKey>): ReadonlyArray<AST.TypeLiteral> => {
  const candidates = unwrap(ast)
  if (path.length === 0) return candidates.filter((c): c is AST.TypeLiteral => AST.isTypeLiteral(c))
  const [head, ...rest] = path
  return candidates.flatMap((candidate) => {
    if (AST.isTypeLiteral(candidate)) {
      const property = candidate.propertySignatures.find((p) => p.name === head)
      if (property) return objectsAt(property.type, rest)
      return candidate.indexSignatures.flatMap((index) => objectsAt(index.type, rest))
    }
    if (AST.isTupleType(candidate) && typeof head === "number") {
      return candidate.rest.flatMap((element) => objectsAt(element.type, rest))
    }
    return []
  })
}

const unwrap = (ast: AST.AST): ReadonlyArray<AST.AST> => {
  switch (ast._tag) {
    case "Transformation":
      return [...unwrap(ast.from), ...unwrap(ast.to)]
    case "Refinement":
      return unwrap(ast.from)
    case "Suspend":
      return unwrap(ast.f())
    case "Union":
      return ast.types.flatMap(unwrap)
    default:
      return [ast]
  }
}

const distance = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1))
      previous = current
    }
  }
  return row[b.length]!
}

const unknownKey = (root: AST.AST, path: ReadonlyArray<PropertyKey>, value: unknown): string => {
  const key = String(path[path.length - 1])
  const objects = objectsAt(root, path.slice(0, -1))
  // In a record (such as `env`) an "unknown" key is a key that breaks the key rule.
  for (const index of objects.flatMap((object) => object.indexSignatures)) {
    const result = ParseResult.decodeUnknownEither(Schema.make(index.parameter))(key)
    if (result._tag === "Left") {
      return ParseResult.ArrayFormatter.formatIssueSync(result.left)[0]?.message.replace(/^Expected /, "expected ") ??
        `${show(key)} is not allowed here`
    }
  }
  const known = objects.flatMap((object) => object.propertySignatures.map((p) => String(p.name)))
  const best = known
    .map((name) => ({ name, score: distance(key, name) }))
    .sort((a, b) => a.score - b.score)[0]
  if (best !== undefined && best.score <= Math.max(2, Math.floor(key.length / 3))) {
    return `unknown field; did you mean "${best.name}"?`
  }
  const list = [...new Set(known)].filter((name) => name !== "$schema")
  return list.length > 0
    ? `unknown field (value ${show(value)}); known fields here: ${list.join(", ")}`
    : `unknown field (value ${show(value)})`
}

const missing = (root: AST.AST, path: ReadonlyArray<PropertyKey>): string => {
  const key = path[path.length - 1]
  if (typeof key === "number") return `is missing: at least ${key + 1} item${key === 0 ? " is" : "s are"} needed`
  const description = objectsAt(root, path.slice(0, -1))
    .flatMap((object) => object.propertySignatures.filter((p) => p.name === key))
    .map((property) =>
      Option.orElse(AST.getDescriptionAnnotation(property), () => AST.getDescriptionAnnotation(property.type))
    )
    .find(Option.isSome)
  return description === undefined ? "is required" : `is required: ${description.value}`
}

/**
 * Lists every problem in a parse issue against the schema `root`.
 *
 * @internal
 */
export const formatIssues = (root: AST.AST, issue: ParseResult.ParseIssue): ReadonlyArray<ConfigProblem> => {
  const seen = new Set<string>()
  // An optional field with a default decodes as `value | undefined`; when the value is bad the
  // `undefined` branch adds "Expected undefined" for the field and each parent. Those say nothing.
  const entries = ParseResult.ArrayFormatter.formatIssueSync(issue).filter((entry) =>
    !entry.message.startsWith("Expected undefined,")
  )
  return entries.flatMap((entry) => {
    const path = formatPath(entry.path)
    const message = entry._tag === "Unexpected"
      ? unknownKey(root, entry.path, valueAt(issue, entry.path))
      : entry._tag === "Missing"
      ? missing(root, entry.path)
      : entry.message.replace(/^Expected /, "expected ")
    const line = `${path}\u0000${message}`
    if (seen.has(line)) return []
    seen.add(line)
    return [{ path, message }]
  })
}

const valueAt = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>): unknown => {
  let value: unknown = issue.actual
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined
    value = (value as Record<PropertyKey, unknown>)[key]
  }
  return value
}
