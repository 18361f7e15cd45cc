// Hostile strings for the generators' tests, and compose's interpolation as a reader applies it.
import * as fc from "fast-check"

/** Characters that have broken generators somewhere, mixed into arbitrary code points (lone surrogates included). */
const special = fc.constantFrom(
  "$", "$$", "${X}", "$HOME", "%", "%%", "\\", "\"", "'", "`", "\n", "\r", "\t", " ", ",", ":", "=", "/", "-", "#", "&", "*",
  "\u0000", "\u0001", "\u001b", "\u007f", "\u0085", "\u009b", "\u00a0", "\u2028", "\u2029", "\ufeff", "\ufffe",
  "\u{1F680}", "\u{10FFFF}", "\ud800", "\udc00", "no", "on", "~", "08", "null"
)

/** Arbitrary full-Unicode strings, biased towards the characters above. */
export const hostile = fc.string({ unit: fc.oneof(special, fc.string({ unit: "binary", minLength: 1, maxLength: 1 })), maxLength: 12 })

/** Values every generator must carry unchanged: `$` forms, non-BMP, YAML 1.1 line breaks, controls, quotes, YAML 1.1 words. */
export const hostileValues: Readonly<Record<string, string>> = {
  DOLLAR: "$HOME ${HOME} ${HOME:-x} $$ $ a$ $1 %s %%",
  ROCKET: "lift-off \u{1F680} \u{10FFFF} \u{1D11E}",
  BREAKS: "nel\u0085ls\u2028ps\u2029cr\rlf\n\n\r",
  CONTROL: "\u0001\u001b[31m\u007f\u009b\ufeff\ufffe\uffff\t",
  QUOTES: `"double" 'single' \\back\\slash \\"`,
  no: "on",
  NULL: "~",
  y: "08"
}

/** What compose interpolation does to a string: `$$` is one `$`; any other `$` would be a variable, which must not happen. */
export const interpolate = (text: string): string =>
  text.replace(/\$(\$|[^$]|$)/g, (match, next: string) => {
    if (next === "$") return "$"
    throw new Error(`compose would interpolate ${JSON.stringify(match)} in ${JSON.stringify(text)}`)
  })

/** {@link interpolate} on every string value (compose does not interpolate keys). */
export const interpolateAll = (value: unknown): unknown =>
  typeof value === "string"
    ? interpolate(value)
    : Array.isArray(value)
    ? value.map(interpolateAll)
    : value !== null && typeof value === "object"
    ? Object.fromEntries(Object.entries(value).map(([key, child]) => [key, interpolateAll(child)]))
    : value

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** {@link hostile} without what every config refuses (NUL, lone surrogates): for tests of what is accepted. */
export const accepted = hostile.filter((text) => !text.includes("\u0000") && !loneSurrogate.test(text))

/** An absolute path a mount takes: {@link accepted} text without control characters, ",", ":" or '"'. */
export const mountPath = accepted.map((text) => `/${text.replace(/[\u0000-\u001f\u007f,:"]/g, "_")}`)
