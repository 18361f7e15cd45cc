/**
 * A small YAML emitter for compose files: block mappings and sequences, every
 * string double-quoted with JSON escapes (plus the characters YAML does not
 * allow unescaped), keys quoted unless they are plain words no YAML version
 * reads as anything but a string. No input can add a key or a document.
 *
 * @internal
 */

export type Value = string | number | boolean | ReadonlyArray<Value> | { readonly [key: string]: Value }

// YAML 1.2 printable set, minus what JSON.stringify already escapes.
const unprintable = /[\u007f-\u0084\u0086-\u009f\ud800-\udfff\ufffe\uffff]/g
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
