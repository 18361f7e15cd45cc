// fast-check generators of text that breaks XML: metacharacters, "]]>", every kind of
// control character, line and paragraph separators, NEL, astral characters, noncharacters,
// lone surrogates, and now and then a very long value.
import fc from "fast-check"

const pieces = [
  "&",
  "<",
  ">",
  "]]>",
  "]]",
  "<![CDATA[x]]>",
  "&amp;",
  "&#0;",
  "&#x1;",
  "</string>",
  "<key>Label</key>",
  "</dict><key>UserName</key><string>root</string>",
  "<!--",
  "-->",
  "\"",
  "'",
  "\t",
  "\n",
  "\r",
  "\r\n",
  "\u0000",
  "\u0001",
  "\u0008",
  "\u000b",
  "\u000c",
  "\u001b",
  "\u001f",
  "\u007f",
  "\u0085",
  "\u009f",
  "\u00a0",
  "\u2028",
  "\u2029",
  "\ufeff",
  "\ufffd",
  "\ufffe",
  "\uffff",
  "\ud800",
  "\udfff",
  "💥",
  "𝄞",
  "\u{10ffff}",
  "é",
  " ",
  "\\",
  "$HOME",
  "%n"
]

const unit = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...pieces) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 1 }) },
  { weight: 4, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) }
)

/** Hostile text, sometimes huge. */
export const hostile = (maxLength = 24) =>
  fc.oneof(
    { weight: 20, arbitrary: fc.string({ unit, maxLength }) },
    { weight: 1, arbitrary: fc.tuple(fc.string({ unit, maxLength: 4 }), fc.integer({ min: 10_000, max: 120_000 })).map(([s, n]) => (s || "x").repeat(Math.ceil(n / Math.max(1, s.length || 1)))) }
  )

/** Hostile text that is still a path component (no "/"). */
export const component = (maxLength = 16) => hostile(maxLength).map((s) => s.replaceAll("/", "_").slice(0, 200))

/** Environment variable names (what the config schema allows). */
export const envName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/).filter((n) => n !== "DUENDE_PLATFORM")
