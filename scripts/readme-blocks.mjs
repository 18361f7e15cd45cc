// The ```ts blocks of the READMEs, for the checks that compile and run them
// (packages/readmes/test/readme.test.ts in the workspace, scripts/consumer-test.mjs
// against the packed packages). Every block is a complete module and is
// type-checked as it stands, unless an HTML comment right before it says otherwise:
//
//   <!-- doc-check: skip <reason> -->        not checked (keep these rare, say why)
//   <!-- doc-check: fragment                 checked with the declarations below the
//   declare const openDatabase: …               first line appended (for the names a
//   -->                                         fragment leaves to the reader)
//   <!-- doc-check: run [prints <text>] -->  also run (tsx); its output, trimmed, must be <text>
//   <!-- doc-check: test -->                 also run as a vitest test file
//   <!-- doc-check: check as <file>.ts -->   the default, with a name (below)
//
// `as <file>.ts` after the mode names the module, so that a later block can
// import it (`import { daemon } from "./orders.js"`): `check as orders.ts`.
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

/** README.md and packages/<name>/README.md, relative to the repository root. */
export const readmeFiles = (root) => [
  "README.md",
  ...readdirSync(join(root, "packages"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(root, "packages", entry.name, "README.md")))
    .map((entry) => `packages/${entry.name}/README.md`)
    .sort()
]

const modes = new Set(["check", "skip", "fragment", "run", "test"])

/**
 * The ts blocks of one README: `{ file, line, code, mode, prelude, prints, reason }`
 * (`mode` is "check" without a marker). A malformed marker throws, naming the line.
 */
export const extractBlocks = (text, file) => {
  const lines = text.split("\n")
  const blocks = []
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i])
    if (fence === null) continue
    const start = i
    let end = i + 1
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++
    i = end
    if (fence[1] !== "ts" && fence[1] !== "typescript") continue
    // The marker: the nearest non-blank text above the fence, if it is an HTML comment.
    let above = start - 1
    while (above >= 0 && lines[above].trim() === "") above--
    let marker
    if (above >= 0 && lines[above].trimEnd().endsWith("-->")) {
      let open = above
      while (open >= 0 && !lines[open].includes("<!--")) open--
      const comment = lines.slice(open, above + 1).join("\n")
      const match = /^<!--\s*doc-check:\s*(\w+)([\s\S]*?)-->$/.exec(comment.trim())
      if (match !== null) marker = { mode: match[1], rest: match[2].trimEnd() }
      else if (comment.includes("doc-check")) throw new Error(`${file}:${open + 1}: cannot read this doc-check marker`)
    }
    if (marker !== undefined && !modes.has(marker.mode)) {
      throw new Error(`${file}:${above + 1}: doc-check mode "${marker.mode}" is not one of ${[...modes].join(", ")}`)
    }
    const mode = marker?.mode ?? "check"
    const [first = "", ...more] = (marker?.rest ?? "").split("\n")
    const named = /^as\s+([\w.-]+\.ts)\b\s*/.exec(first.trim())
    const attributes = named === null ? first.trim() : first.trim().slice(named[0].length)
    const at = `${file}:${above + 1}`
    if (mode === "skip" && marker.rest.trim() === "") throw new Error(`${at}: a doc-check skip must say why`)
    const prints = mode === "run" && attributes.startsWith("prints ") ? attributes.slice("prints ".length) : undefined
    if (mode !== "skip" && attributes !== "" && prints === undefined) {
      throw new Error(`${at}: cannot read "${attributes}" (after the mode: "as <file>.ts", and for run "prints <text>")`)
    }
    if (mode !== "fragment" && mode !== "skip" && more.join("").trim() !== "") {
      throw new Error(`${at}: only a fragment marker takes declarations`)
    }
    blocks.push({
      file,
      line: start + 1,
      code: lines.slice(start + 1, end).join("\n"),
      mode,
      name: named?.[1],
      prelude: mode === "fragment" ? more.join("\n").trim() : "",
      prints,
      reason: mode === "skip" ? marker.rest.trim() : undefined
    })
  }
  return blocks
}

/** The packages a block imports (`effect` for `effect/Effect`, `@duende/core` for `@duende/core/manager`). */
export const importedPackages = (code) => {
  const names = new Set()
  for (const match of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"'.][^"']*)["']/g)) {
    const specifier = match[1]
    if (specifier.startsWith("node:")) continue
    const parts = specifier.split("/")
    names.add(specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0])
  }
  return [...names].sort()
}

/**
 * The module to compile: the block, line for line (so that an error's line is the
 * block's), then a fragment's declarations (ambient and imports: both may follow use).
 */
export const moduleSource = (block) =>
  `${block.code}\n${block.prelude === "" ? "" : `// declared for this fragment (${block.file}:${block.line}):\n${block.prelude}\n`}`

/** Every block of every README under `root`. */
export const allBlocks = (root) =>
  readmeFiles(root).flatMap((file) => extractBlocks(readFileSync(join(root, file), "utf8"), file))
