/**
 * Kubernetes YAML through the `yaml` package, with one change to how it
 * writes strings: a string is plain only when it is a word no YAML reader —
 * 1.1 (PyYAML, go-yaml v2, which kubectl's sigs.k8s.io/yaml sits on) or 1.2
 * — can read as anything but that string; every other string is
 * double-quoted with escapes for what a 1.1 reader would take as a line
 * break (NEL, U+2028, U+2029) or YAML does not allow unescaped (C1 controls,
 * DEL, BOM, U+FFFE/U+FFFF). Characters outside the BMP stay UTF-8. Keys
 * follow the same rule. So `no`, `on`, `~`, `08`, `1e3`, `0o17` and `"8080"`
 * come back as the strings they were; `test/yaml.test.ts` checks every short
 * word against every reader.
 *
 * @internal
 */
import { Document, type Scalar, type ToStringOptions } from "yaml"

/** Letters first, then letters, digits and `_ . / -`: nothing a YAML reader resolves to a non-string… */
const plainWord = /^[A-Za-z_/][A-Za-z0-9_./-]*$/
/**
 * …except these words: YAML 1.1 booleans and null (any case), and a bare
 * exponent (`e0`, `E-5`), which the `yaml` package's 1.1 schema reads as a
 * float (NaN).
 */
const reserved = /^(?:y|n|yes|no|true|false|on|off|null|e-?[0-9]+)$/i

// JSON.stringify escapes `"`, `\` and C0 controls; these are the rest YAML readers need escaped.
const needsEscape = /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** A string as YAML: plain when unambiguous, else double-quoted with escapes. */
export const scalar = (text: string): string => {
  if (loneSurrogate.test(text)) throw new Error("a lone surrogate cannot be written as YAML")
  if (plainWord.test(text) && !reserved.test(text)) return text
  return JSON.stringify(text).replace(needsEscape, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
}

const options: ToStringOptions = { lineWidth: 0, minContentWidth: 0, indentSeq: true }

const customTags = (tags: ReadonlyArray<unknown>) =>
  tags.map((tag) =>
    (tag as { tag?: string }).tag === "tag:yaml.org,2002:str"
      ? {
        ...(tag as object),
        stringify: (item: Scalar) => scalar(String(item.value))
      }
      : tag
  ) as Array<never>

/** One document (no leading `---`). */
export const stringify = (value: unknown): string =>
  new Document(value, { aliasDuplicateObjects: false, customTags, keepUndefined: false, version: "1.2" }).toString(options)

/** Documents, each after a `---` line, so files made of them can be concatenated. */
export const stringifyAll = (values: ReadonlyArray<unknown>): string => values.map((value) => `---\n${stringify(value)}`).join("")
