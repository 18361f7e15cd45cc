// Reading rendered YAML back the ways real readers do: the `yaml` package as a YAML 1.2 and as
// a YAML 1.1 reader, and PyYAML (a YAML 1.1 reader, as go-yaml v2 under kubectl is), when
// python3 and its yaml module are installed.
import { Integration } from "@duende/testing"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseAllDocuments } from "yaml"

export const python = Integration.check(
  Integration.tool("python3", "apt-get install python3"),
  Integration.command("python3", ["-c", "import yaml"], "python3 has no yaml module (apt-get install python3-yaml)")
)

const parseWith = (text: string, version: "1.1" | "1.2"): Array<unknown> =>
  parseAllDocuments(text, { version, uniqueKeys: true, prettyErrors: false }).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`YAML ${version}: ${doc.errors.map((e) => e.message).join("; ")}`)
    return doc.toJS({ maxAliasCount: 0 })
  })

/** The documents as a YAML 1.2 reader and a YAML 1.1 reader read them (they must agree). */
export const readBoth = (text: string): { readonly v12: Array<unknown>; readonly v11: Array<unknown> } => ({
  v12: parseWith(text, "1.2"),
  v11: parseWith(text, "1.1")
})

/** Several YAML streams as PyYAML's safe_load_all reads each, in one python3 run. */
export const readWithPython = (texts: ReadonlyArray<string>): Array<Array<unknown>> => {
  const dir = mkdtempSync(join(tmpdir(), "k8s-yaml-"))
  try {
    const files = texts.map((text, i) => {
      const file = join(dir, `${i}.yaml`)
      writeFileSync(file, text, "utf8")
      return file
    })
    const script = [
      "import json, sys, yaml",
      "out = []",
      "for path in sys.argv[1:]:",
      "    with open(path, encoding='utf-8') as f:",
      "        out.append(list(yaml.safe_load_all(f)))",
      "sys.stdout.write(json.dumps(out, ensure_ascii=True))"
    ].join("\n")
    return JSON.parse(execFileSync("python3", ["-c", script, ...files], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 }))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A deep copy as JSON sees it (what a reader of the YAML must give back). */
export const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value))
