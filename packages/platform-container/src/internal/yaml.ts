/**
 * A small YAML emitter for compose files: block mappings and sequences, every
 * string double-quoted with JSON escapes (plus the characters YAML does not
 * allow unescaped), keys quoted unless they are plain words no YAML version
 * reads as anything but a string. No input can add a key or a document.
 *
 * Hand-written rather than the `yaml` package (2.x): inside double quotes
 * that one writes NEL (U+0085), U+2028 and U+2029 raw, which YAML 1.1 readers
 * such as PyYAML (podman-compose's) take as line breaks (PyYAML folds NEL into
 * a space), and DEL, C1 controls and U+FFFE raw, which PyYAML refuses. Here:
 *
 * - characters outside the BMP are written as themselves (UTF-8), never as
 *   surrogate-pair escapes, which YAML readers load as two lone surrogates;
 * - NEL, U+2028, U+2029, DEL, C1 controls, the BOM, U+FFFE and U+FFFF are
 *   `\uXXXX` escapes (what JSON.stringify leaves raw), control characters and
 *   lone surrogates the escapes JSON.stringify gives them;
 * - keys that YAML 1.1 reads as booleans or null (`no`, `on`, `y`, `~`…) or
 *   that are not plain words (`08`, `a b`) are quoted.
 *
 * @internal
 */

export type Value = string | number | boolean | ReadonlyArray<Value> | { readonly [key: string]: Value }

// Outside YAML's printable set, or a line break to YAML 1.1, and left raw by JSON.stringify.
const unprintable = /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g
const reserved = /^(?:y|n|yes|no|true|false|on|off|null|~)$/i

export const quote = (text: string): string =>
  JSON.stringify(text).replace(unprintable, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

const key = (text: string): string => (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(text) && !reserved.test(text) ? text : quote(text))

const scalar = (value: string | number | boolean): string =>
  typeof value === "string" ? quote(value) : typeof value === "number" ? (Number.isFinite(value) ? String(value) : quote(String(value))) : String(value)

const isEmpty = (value: Value) =>
  Array.isArray(value) ? value.length === 0 : typeof value === "object" && Object.keys(value).length === 0

const emit = (value: Value, indent: string, lines: Array<string>, prefix: string): void => {
  if (typeof value !== "object") {
    lines.push(`${prefix}${scalar(value)}`)
    return
  }
  if (isEmpty(value)) {
    lines.push(`${prefix}${Array.isArray(value) ? "[]" : "{}"}`)
    return
  }
  if (prefix.trim() !== "") lines.push(prefix.trimEnd())
  if (Array.isArray(value)) {
    for (const item of value as ReadonlyArray<Value>) {
      if (typeof item === "object" && !isEmpty(item) && !Array.isArray(item)) {
        const nested: Array<string> = []
        emit(item, `${indent}  `, nested, "")
        lines.push(`${indent}- ${nested[0]!.trimStart()}`, ...nested.slice(1))
      } else emit(item, `${indent}  `, lines, `${indent}- `)
    }
    return
  }
  for (const [name, child] of Object.entries(value)) {
    if (typeof child !== "object" || isEmpty(child)) emit(child, `${indent}  `, lines, `${indent}${key(name)}: `)
    else emit(child, `${indent}  `, lines, `${indent}${key(name)}:`)
  }
}

export const stringify = (value: { readonly [key: string]: Value }): string => {
  const lines: Array<string> = []
  emit(value, "", lines, "")
  return `${lines.join("\n")}\n`
}
