// Fuzzing config → manifests with hostile strings: YAML indicators ($ : # quotes newlines),
// YAML 1.1 booleans and null (no, on, y, ~), numbers as strings ("8080", 08, 1e3, 0o17), line
// breaks a YAML 1.1 reader sees (NEL, U+2028, U+2029), C1 controls, a BOM, non-BMP characters,
// NUL and lone surrogates. Each config is refused with the bad fields named, or rendered into
// manifests that the API would accept and that every YAML reader (1.2, 1.1, PyYAML) reads back
// exactly — the strings in them equal to what the config said.
import type { DaemonConfig } from "@duende/core"
import { decodeEither } from "@duende/core/DaemonConfigSchema"
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import fc from "fast-check"
import { KubernetesArtifacts, KubernetesManifests } from "../src/adapter.js"
import { asJson, python, readBoth, readWithPython } from "./helpers/yaml.js"
import { problemsOf } from "./stand-in/validation.js"

const pieces = fc.constantFrom(
  "no", "on", "off", "yes", "y", "n", "N", "~", "null", "Null", "true", "False", "08", "1e3", "e0", "E-5", "0o17", "0x1F", "8080", "1:20",
  "2001-12-14", "<<", "=", ".inf", ".NaN", "-", "- x", "? y", ": ", ":", "#", " #c", "$HOME", "${X}", "'", "\"", "\\", "\n",
  "\r\n", "\r", "\t", " ", "\u0085", "\u2028", "\u2029", "\u00a0", "\ufeff", "\u007f", "\u009b", "\u001b", "😀", "𝄞", "é",
  "%YAML 1.1", "---", "...", "&a", "*a", "!!str", "|", ">", "@", "`", "[", "]", "{", "}", ",", "\u0000"
)
const text = fc.array(
  fc.oneof({ weight: 3, arbitrary: pieces }, fc.string({ unit: "grapheme", maxLength: 3 }), fc.string({ unit: "binary", maxLength: 3 })),
  { maxLength: 5 }
).map((parts) => parts.join(""))
/** Now and then half of a surrogate pair, alone. */
const hostile = fc.oneof(
  { weight: 9, arbitrary: text },
  fc.tuple(text, fc.integer({ min: 0xd800, max: 0xdfff }), text).map(([a, c, b]) => `${a}${String.fromCharCode(c)}${b}`)
)

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const badText = (s: string) => s.includes("\u0000") || loneSurrogate.test(s)
const badPath = (s: string) => s === "" || badText(s) || s.split("/").some((part) => Buffer.byteLength(part) > 255)
const labelValue = /^(?:(?=.{1,63}$)[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)?$/
const urlPath = /^\/[\x21-\x7e]*$/

const input = fc.record({
  program: hostile.map((s) => `/usr/bin/${s}`),
  args: fc.array(hostile, { maxLength: 4 }),
  env: fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,6}$/), hostile, { maxKeys: 4 }),
  workingDirectory: hostile.map((s) => `/${s}`),
  annotation: hostile,
  label: fc.oneof(hostile, fc.stringMatching(/^[a-z0-9]([a-z0-9._-]{0,20}[a-z0-9])?$/)),
  probePath: fc.oneof(hostile.map((s) => `/${s}`), fc.stringMatching(/^\/[a-z0-9/._-]{0,20}$/))
})

type Input = typeof input extends fc.Arbitrary<infer A> ? A : never

const configInput = (i: Input) => ({
  name: "fuzz",
  command: { program: i.program, args: i.args },
  env: i.env,
  workingDirectory: i.workingDirectory,
  platform: {
    kubernetes: {
      image: "ghcr.io/acme/fuzz:1",
      ports: [{ name: "http", port: 8080 }],
      probe: { type: "http", port: "http", path: i.probePath },
      labels: { team: i.label },
      annotations: { "example.com/note": i.annotation }
    }
  }
})

/** The fields that must be refused, by path as the config error names them. */
const refusedFields = (i: Input): ReadonlyArray<string> => [
  ...(badPath(i.program) ? ["command.program"] : []),
  ...i.args.flatMap((arg, n) => (badText(arg) ? [`command.args[${n}]`] : [])),
  ...Object.entries(i.env).flatMap(([key, value]) => (badText(value) ? [`env.${key}`] : [])),
  ...(badPath(i.workingDirectory) ? ["workingDirectory"] : []),
  ...(badText(i.annotation) ? ["platform.kubernetes.annotations[\"example.com/note\"]"] : []),
  ...(!labelValue.test(i.label) ? ["platform.kubernetes.labels.team"] : []),
  ...(!urlPath.test(i.probePath) || loneSurrogate.test(i.probePath) ? ["platform.kubernetes.probe.path"] : [])
]

describe("config → Kubernetes manifests, fuzzed with hostile strings", () => {
  const rendered: Array<{ readonly text: string; readonly objects: unknown }> = []

  it("refuses a config naming every bad field, or renders manifests every YAML reader reads back exactly", () => {
    fc.assert(
      fc.property(input, (i) => {
        const decoded = decodeEither(configInput(i))
        const refused = refusedFields(i)
        if (Either.isLeft(decoded)) {
          const paths = decoded.left.problems.map((p) => p.path)
          expect(refused.length, `refused: ${paths.join(", ")}`).toBeGreaterThan(0)
          // Every problem is one of the bad fields; at least one bad field is named (ill-formed text is
          // reported before anything else, so the other fields may wait for the next run).
          for (const path of paths) expect(refused).toContain(path)
          for (const problem of decoded.left.problems) expect(problem.message).toMatch(/^(expected|holds a lone surrogate)/)
          return
        }
        expect(refused).toEqual([])
        const config: DaemonConfig.DaemonConfig = decoded.right
        const manifests = Either.getOrThrow(KubernetesArtifacts.manifests(config))
        const objects = KubernetesManifests.objects(manifests)
        for (const object of objects) expect(problemsOf(object as any)).toEqual([])
        const text = Either.getOrThrow(KubernetesArtifacts.render(config))[0]!.content
        const { v11, v12 } = readBoth(text)
        expect(v12).toEqual(asJson(objects))
        expect(v11).toEqual(asJson(objects))
        // The strings are the config's own.
        const workload = v12[v12.length - 1] as any
        const container = workload.spec.template.spec.containers[0]
        expect(container.command).toEqual([i.program])
        expect(container.args).toEqual(i.args)
        expect(container.workingDir).toBe(i.workingDirectory)
        for (const [key, value] of Object.entries(i.env)) expect(container.env).toContainEqual({ name: key, value })
        expect(workload.metadata.annotations["example.com/note"]).toBe(i.annotation)
        expect(workload.metadata.labels.team).toBe(i.label)
        expect(container.readinessProbe.httpGet.path).toBe(i.probePath)
        if (rendered.length < 400) rendered.push({ text, objects: asJson(objects) })
      }),
      { numRuns: 600 }
    )
    // The generator must have produced both outcomes, or the property says little.
    expect(rendered.length).toBeGreaterThan(50)
  })

  it.skipIf(!python.ok)(`PyYAML (a YAML 1.1 reader) reads every rendered manifest back exactly${python.label}`, () => {
    expect(rendered.length).toBeGreaterThan(50)
    const read = readWithPython(rendered.map((r) => r.text))
    read.forEach((documents, n) => expect(documents).toEqual(rendered[n]!.objects))
  })
})
