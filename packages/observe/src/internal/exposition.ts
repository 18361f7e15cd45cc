/**
 * The Prometheus text exposition format, version 0.0.4: names, escaping and
 * number formatting.
 *
 * @internal
 */

export const metricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
export const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** Label values: backslash, double quote and line feed are escaped. */
export const escapeLabelValue = (value: string): string =>
  /[\\"\n]/.test(value) ? value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n") : value

/** HELP text: backslash and line feed are escaped. */
export const escapeHelp = (help: string): string =>
  /[\\\n]/.test(help) ? help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n") : help

/** A sample value: Go's float syntax for the special values. */
export const formatValue = (value: number): string =>
  Number.isFinite(value) ? String(value) : value > 0 ? "+Inf" : value < 0 ? "-Inf" : "NaN"

/** `{a="1",b="2"}`, or "" without labels. */
export const labelText = (names: ReadonlyArray<string>, values: ReadonlyArray<string>): string => {
  if (names.length === 0) return ""
  let text = "{"
  for (let i = 0; i < names.length; i++) {
    if (i > 0) text += ","
    text += `${names[i]}="${escapeLabelValue(values[i]!)}"`
  }
  return `${text}}`
}

/** The `# HELP` and `# TYPE` lines of a family. */
export const header = (name: string, help: string | undefined, type: string): string =>
  `${help === undefined ? "" : `# HELP ${name} ${escapeHelp(help)}\n`}# TYPE ${name} ${type}\n`

/** A name made valid: invalid characters become "_", and a leading digit gets a "_" before it. */
export const sanitizeName = (name: string, pattern: RegExp): string => {
  if (pattern.test(name)) return name
  const cleaned = name.replace(pattern === metricNamePattern ? /[^a-zA-Z0-9_:]/g : /[^a-zA-Z0-9_]/g, "_")
  return /^[0-9]/.test(cleaned) || cleaned === "" ? `_${cleaned}` : cleaned
}
