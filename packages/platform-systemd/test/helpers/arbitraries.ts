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
  "\u2029",
  "\u0085",
  "\u009b",
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

// Everything a string in a config can hold, and what it cannot: lone surrogates, NUL, NEL,
// line and paragraph separators, C0 and C1 controls, astral characters, quotes, `$`, `%`, `\`.
const hostileUnit = fc.oneof(
  { weight: 4, arbitrary: unit },
  {
    weight: 2,
    arbitrary: fc.constantFrom("\0", "\u0085", "\u2028", "\u2029", "\u009b", "\ud800", "\udfff", "\ud83d", "\ude80", "🚀", "$$", "%i", "\\x41", "@", "-", "+", "!", ":", "..")
  },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) }
)

/**
 * Any JavaScript string, hostile characters likely: mostly text a unit can hold (quotes, `$`,
 * `%`, `\\`, line breaks, controls, NEL, U+2028, astral characters), sometimes ill-formed UTF-16
 * or NUL, so that a config with several such fields is still often valid.
 */
export const hostile = (maxLength = 16) =>
  fc.oneof({ weight: 5, arbitrary: text(maxLength) }, { weight: 1, arbitrary: fc.string({ unit: hostileUnit, maxLength }) })

/** A daemon or unit name that is usually valid, sometimes hostile. */
export const maybeName = fc.oneof(
  { weight: 8, arbitrary: fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/) },
  { weight: 1, arbitrary: hostile(12) }
)

/** An absolute path below `root` with a hostile last part. */
export const hostilePath = (root: string) => hostile(14).map((part) => `${root}/${part}`)
