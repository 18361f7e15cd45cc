// fast-check generators weighted towards what breaks unit files: quotes, backslashes,
// `$`, `%`, line breaks, control characters, separators, non-ASCII and astral characters.
import fc from "fast-check"

const dangerous = [
  "\"",
  "'",
  "\\",
  "$",
  "%",
  "\n",
  "\r",
  "\t",
  " ",
  ";",
  "#",
  "=",
  "[",
  "]",
  "\x01",
  "\x1b",
  "\x7f",
  "é",
  "\u00a0",
  "\u2028",
  "💥",
  "${HOME}",
  "$HOME",
  "%n",
  "%%",
  "\\n",
  "\\",
  "\\\\",
  "\nExecStartPre=/bin/sh -c 'touch /tmp/pwned'\n",
  "\n[Service]\nUser=root"
]

const unit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...dangerous) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 4, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) }
)

const encodable = (s: string) => !s.includes("\0") && !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)

/** Any text a unit file can hold (no NUL, no lone surrogate), hostile characters likely. */
export const text = (maxLength = 24) => fc.string({ unit, maxLength }).filter(encodable)

/** Environment variable names. */
export const envName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/)

/** Raw values a unit file keeps verbatim (what render accepts). */
export const rawValue = fc.string({ unit, maxLength: 24 }).map((s) =>
  s.replace(/[\0-\x08\x0a-\x1f\x7f]/g, "").replace(/^[ \t]+|[ \t]+$/g, "").replace(/\\+$/, "")
).filter((s) => encodable(s) && !/\\$/.test(s) && s === s.replace(/^[ \t]+|[ \t]+$/g, ""))
