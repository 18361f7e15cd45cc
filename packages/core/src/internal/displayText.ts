/**
 * Makes text from a config or a client safe to print on a terminal: control
 * characters (C0, DEL, C1 — ESC and CSI start terminal escape sequences), line
 * and paragraph separators, bidirectional overrides and lone surrogates are
 * written as `\u{…}` escapes, so a hostile value can neither move the cursor,
 * recolour the screen, forge a new line of output nor reorder what is shown.
 *
 * @internal
 */

const unsafe =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

const escape = (char: string) => `\\u{${char.charCodeAt(0).toString(16).toUpperCase()}}`

/** Escapes what a terminal would act on, keeping tabs and newlines. */
export const displayText = (text: string): string => text.replace(unsafe, escape)

/** Escapes what a terminal would act on, newlines and tabs included: for one line of output. */
export const displayLine = (text: string): string => displayText(text).replace(/[\n\t]/g, escape)
