// Python's plistlib (expat underneath) as the oracle the plist writer is checked against:
// one python process reads many files and prints each as JSON with its types kept
// (integers as strings, data as base64), or the error plistlib raised.
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type * as Plist from "../../src/Plist.js"

const script = `
import base64, json, plistlib, sys, datetime
def tag(v):
    if isinstance(v, bool): return {"bool": v}
    if isinstance(v, int): return {"integer": str(v)}
    if isinstance(v, float): return {"real": repr(v)}
    if isinstance(v, str): return {"string": v}
    if isinstance(v, bytes): return {"data": base64.b64encode(v).decode()}
    if isinstance(v, datetime.datetime):
        return {"date": f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}Z"}
    if isinstance(v, list): return {"array": [tag(x) for x in v]}
    if isinstance(v, dict): return {"dict": [[k, tag(x)] for k, x in v.items()]}
    raise TypeError(type(v))
out = []
for path in sys.argv[1:]:
    try:
        with open(path, "rb") as f:
            out.append({"ok": tag(plistlib.load(f))})
    except Exception as e:
        out.append({"error": f"{type(e).__name__}: {e}"})
sys.stdout.write(json.dumps(out))
`

export type Tagged =
  | { readonly bool: boolean }
  | { readonly integer: string }
  | { readonly real: string }
  | { readonly string: string }
  | { readonly data: string }
  | { readonly date: string }
  | { readonly array: ReadonlyArray<Tagged> }
  | { readonly dict: ReadonlyArray<readonly [string, Tagged]> }

export type Result = { readonly ok: Tagged } | { readonly error: string }

/** What plistlib makes of each document. */
export const load = (documents: ReadonlyArray<string>): ReadonlyArray<Result> => {
  if (documents.length === 0) return []
  const dir = mkdtempSync(join(tmpdir(), "duende-plistlib-"))
  try {
    const files = documents.map((text, i) => {
      const file = join(dir, `${i}.plist`)
      writeFileSync(file, text, "utf8")
      return file
    })
    const out = execFileSync("python3", ["-c", script, ...files], { encoding: "utf8", maxBuffer: 1024 ** 3 })
    return (JSON.parse(out) as ReadonlyArray<Result>).map((r) => ("ok" in r ? { ok: normalized(r.ok) } : r))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Python's repr and JS's String spell some doubles differently ("1e-07", "1e-7"): compare numbers. */
const real = (n: number) => (Object.is(n, -0) ? "-0" : String(n))

const normalized = (value: Tagged): Tagged =>
  "real" in value
    ? { real: real(Number(value.real)) }
    : "array" in value
    ? { array: value.array.map(normalized) }
    : "dict" in value
    ? { dict: value.dict.map(([k, v]) => [k, normalized(v)] as const) }
    : value

/** Our model in plistlib's tagged form. */
export const tagged = (value: Plist.Value): Tagged => {
  switch (value._tag) {
    case "bool":
      return { bool: value.value }
    case "integer":
      return { integer: value.value.toString() }
    case "real":
      return { real: real(value.value) }
    case "string":
      return { string: value.value }
    case "data":
      return { data: Buffer.from(value.value).toString("base64") }
    case "date":
      return { date: value.value.toISOString().replace(/\.\d{3}Z$/, "Z") }
    case "array":
      return { array: value.items.map(tagged) }
    case "dict":
      return { dict: value.entries.map(([k, v]) => [k, tagged(v)] as const) }
  }
}

/** A dict's entries by key, from plistlib's form. */
export const entries = (value: Tagged): Record<string, Tagged> => {
  if (!("dict" in value)) throw new Error(`expected a dict, got ${JSON.stringify(value).slice(0, 80)}`)
  return Object.fromEntries(value.dict)
}

/** Plain JS of plistlib's form, for comparisons. */
export const plain = (value: Tagged): unknown => {
  if ("bool" in value) return value.bool
  if ("integer" in value) return BigInt(value.integer)
  if ("real" in value) return Number(value.real)
  if ("string" in value) return value.string
  if ("data" in value) return `data:${value.data}`
  if ("date" in value) return `date:${value.date}`
  if ("array" in value) return value.array.map(plain)
  return Object.fromEntries(value.dict.map(([k, v]) => [k, plain(v)]))
}
