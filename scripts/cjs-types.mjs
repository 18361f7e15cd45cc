#!/usr/bin/env node
// Declarations for CommonJS consumers. tsc writes ESM declarations (`.d.ts`, in
// packages whose package.json says "type": "module"); a `require` condition that
// points at them makes TypeScript (moduleResolution node16/nodenext) treat the
// package as ESM from a `.cts` file and refuse it (TS1479). This writes a `.d.cts`
// next to every `.d.ts` in dist/, with relative `./x.js` specifiers turned into
// `./x.cjs`, so that the CommonJS declarations only ever point at each other.
// Run from a package directory after `tsc --emitDeclarationOnly`.
//
//   node ../../scripts/cjs-types.mjs [dist]
import { readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { join } from "node:path"

const dist = process.argv[2] ?? "dist"

/** `from "./a.js"`, `import("../b/c.js")`, `import "./d.js"`: relative specifiers only. */
const relative = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])(\.\.?\/[^"']*?)\.js\2/g

const toCjs = (text) => text.replace(relative, (_, lead, quote, path) => `${lead}${quote}${path}.cjs${quote}`)

const walk = (directory) =>
  readdirSync(directory, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(directory, entry.name)) : [join(directory, entry.name)]
  )

let written = 0
for (const file of walk(dist)) {
  if (!file.endsWith(".d.ts")) continue
  const target = `${file.slice(0, -".d.ts".length)}.d.cts`
  const temporary = `${target}.${process.pid}.tmp`
  writeFileSync(temporary, toCjs(readFileSync(file, "utf8")))
  renameSync(temporary, target)
  written++
}
if (written === 0) {
  console.error(`cjs-types: no .d.ts files in ${dist}; run tsc --emitDeclarationOnly first`)
  process.exit(1)
}
