/**
 * A value quoted for an error message: JSON string syntax, so control
 * characters, DEL, C1 controls, line and paragraph separators and lone
 * surrogates are all escapes (a hostile value cannot move the cursor or start
 * a line), cut to `max` characters.
 *
 * @internal
 */
const unsafe = /[\x7f-\x9f\u2028\u2029]/g

export const show = (text: string, max = 60): string => {
  let cut = text
  if (text.length > max) {
    cut = text.slice(0, max - 3)
    // Never end on the first half of a surrogate pair.
    if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1)
    cut += "..."
  }
  return JSON.stringify(cut).replace(unsafe, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
}
