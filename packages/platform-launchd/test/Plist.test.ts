import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import fc from "fast-check"
import * as Plist from "../src/Plist.js"
import { value } from "./helpers/plistValues.js"

const written = (v: Plist.Value) => Either.getOrThrow(Plist.write(v))
const parsed = (text: string) => Either.getOrThrow(Plist.parse(text))
const refusal = (v: Plist.Value) => {
  const result = Plist.write(v)
  if (Either.isRight(result)) throw new Error("expected the writer to refuse")
  return result.left
}
const parseError = (text: string) => {
  const result = Plist.parse(text)
  if (Either.isRight(result)) throw new Error("expected the parser to refuse")
  return result.left.message
}
const wrap = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0">\n${body}\n</plist>\n`

describe("Plist.write", () => {
  it("writes Apple's prolog and DTD, tab-indented, every type", () => {
    const xml = written(
      Plist.dict({
        Label: Plist.string("com.example.api"),
        ProgramArguments: Plist.array([Plist.string("/usr/bin/node"), Plist.string("server.js")]),
        KeepAlive: Plist.dict({ SuccessfulExit: Plist.bool(false) }),
        ThrottleInterval: Plist.integer(10),
        Ratio: Plist.real(0.5),
        When: Plist.date(new Date("2026-01-02T03:04:05Z")),
        Blob: Plist.data(new Uint8Array([0xde, 0xad, 0xbe, 0xef])),
        Nothing: Plist.array([]),
        Empty: Plist.dict({})
      })
    )
    expect(xml).toBe(
      [
        `<?xml version="1.0" encoding="UTF-8"?>`,
        `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`,
        `<plist version="1.0">`,
        `<dict>`,
        `\t<key>Label</key>`,
        `\t<string>com.example.api</string>`,
        `\t<key>ProgramArguments</key>`,
        `\t<array>`,
        `\t\t<string>/usr/bin/node</string>`,
        `\t\t<string>server.js</string>`,
        `\t</array>`,
        `\t<key>KeepAlive</key>`,
        `\t<dict>`,
        `\t\t<key>SuccessfulExit</key>`,
        `\t\t<false/>`,
        `\t</dict>`,
        `\t<key>ThrottleInterval</key>`,
        `\t<integer>10</integer>`,
        `\t<key>Ratio</key>`,
        `\t<real>0.5</real>`,
        `\t<key>When</key>`,
        `\t<date>2026-01-02T03:04:05Z</date>`,
        `\t<key>Blob</key>`,
        `\t<data>3q2+7w==</data>`,
        `\t<key>Nothing</key>`,
        `\t<array/>`,
        `\t<key>Empty</key>`,
        `\t<dict/>`,
        `</dict>`,
        `</plist>`,
        ``
      ].join("\n")
    )
  })

  it("escapes & < > (so ]]> never appears) and writes CR, DEL, C1, U+2028/9 as references", () => {
    const xml = written(Plist.dict({ "a<b>&c": Plist.string("x]]>y & <z/> \r\n \u007f \u0085 \u2028 \u2029 \t 💥") }))
    expect(xml).toContain("<key>a&lt;b&gt;&amp;c</key>")
    expect(xml).toContain("<string>x]]&gt;y &amp; &lt;z/&gt; &#xD;\n &#x7F; &#x85; &#x2028; &#x2029; \t 💥</string>")
    expect(xml).not.toContain("]]>")
    expect(xml).not.toContain("\r")
  })

  it("refuses what XML 1.0 cannot carry, naming where it is", () => {
    expect(refusal(Plist.dict({ EnvironmentVariables: Plist.dict({ GREETING: Plist.string("hi\u0001") }) })).message)
      .toBe("EnvironmentVariables.GREETING: contains U+0001 (a control character) at index 2, which XML 1.0 cannot carry")
    expect(refusal(Plist.dict({ ProgramArguments: Plist.array([Plist.string("ok"), Plist.string("\u0000")]) })).path)
      .toBe("ProgramArguments[1]")
    expect(refusal(Plist.dict({ [`k\ud800`]: Plist.bool(true) })).message).toMatch(/^k\ud800 \(the key\): .*lone surrogate/)
    expect(refusal(Plist.string("\uffff")).message).toMatch(/U\+FFFF \(a noncharacter\)/)
    expect(refusal(Plist.string("\ufffe")).message).toMatch(/U\+FFFE/)
    expect(refusal(Plist.string("a\udc00")).message).toMatch(/lone surrogate/)
    for (const c of ["\u000b", "\u000c", "\u001f", "\u0008"]) expect(Plist.problem(c)).toMatch(/control character/)
    for (const c of ["\t", "\n", "\r", "\u007f", "\u0085", "💥", "\u{10ffff}"]) expect(Plist.problem(c)).toBeUndefined()
  })

  it("refuses duplicate keys, non-finite reals, integers beyond 64 bits and fractional dates", () => {
    expect(refusal(Plist.dict([["A", Plist.bool(true)], ["A", Plist.bool(false)]])).message).toMatch(/^A: the key appears twice/)
    expect(refusal(Plist.real(Number.POSITIVE_INFINITY)).message).toMatch(/not a finite number/)
    expect(refusal(Plist.real(Number.NaN)).message).toMatch(/not a finite number/)
    expect(refusal(Plist.integer(2n ** 63n)).message).toMatch(/64-bit/)
    expect(refusal(Plist.date(new Date(1500))).message).toMatch(/whole seconds/)
    expect(() => Plist.integer(0.5)).toThrow(RangeError)
  })

  it("keeps the comment well-formed whatever it says", () => {
    const xml = Either.getOrThrow(Plist.write(Plist.bool(true), { comment: ["a -- b", "ends with -", "bad \u0001"] }))
    const comment = xml.slice(xml.indexOf("<!--") + 4, xml.indexOf("-->"))
    expect(comment).not.toContain("--")
    expect(Plist.equals(parsed(xml), Plist.bool(true))).toBe(true)
  })
})

describe("Plist.parse", () => {
  it("reads back everything the writer writes (fuzzed)", () => {
    fc.assert(
      fc.property(value, (v) => {
        const back = parsed(written(v))
        expect(Plist.equals(back, v)).toBe(true)
      }),
      { numRuns: 400 }
    )
  })

  it("reads Apple-style input: comments, CDATA, empty elements, hex integers, wrapped base64, CRLF", () => {
    const text = [
      `<?xml version="1.0" encoding="UTF-8"?>\r`,
      `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`,
      `<!-- a comment -->`,
      `<plist version="1.0"><dict>`,
      `  <key>A</key><string/>`,
      `  <key>B</key><string><![CDATA[<raw> & ]]></string>`,
      `  <key>C</key><integer>0x1F</integer>`,
      `  <key>D</key><data>`,
      `    3q2+`,
      `    7w==`,
      `  </data>`,
      `  <key>E</key><string>line\r\nbreak &#13; &#x1F4A5; &quot;&apos;</string>`,
      `  <key>F</key><real>-1.5e3</real>`,
      `  <key>G</key><true></true>`,
      `</dict></plist>`
    ].join("\n")
    const v = parsed(text)
    expect(v._tag).toBe("dict")
    const d = v as Plist.PlistDict
    expect(Plist.get(d, "A")).toEqual(Plist.string(""))
    expect(Plist.get(d, "B")).toEqual(Plist.string("<raw> & "))
    expect(Plist.get(d, "C")).toEqual(Plist.integer(31))
    expect(Plist.get(d, "D")).toEqual(Plist.data(new Uint8Array([0xde, 0xad, 0xbe, 0xef])))
    expect(Plist.get(d, "E")).toEqual(Plist.string("line\nbreak \r 💥 \"'"))
    expect(Plist.get(d, "F")).toEqual(Plist.real(-1500))
    expect(Plist.get(d, "G")).toEqual(Plist.bool(true))
  })

  it("refuses broken plists, saying where and why", () => {
    expect(parseError(wrap("<dict><key>A</key></dict>"))).toMatch(/line 3, column \d+: missing value for key "A"/)
    expect(parseError(wrap("<dict><key>A</key><true/><key>A</key><true/></dict>"))).toMatch(/appears twice/)
    expect(parseError(wrap("<dict><string>x</string></dict>"))).toMatch(/expected <key>/)
    expect(parseError(wrap("<blob/>"))).toMatch(/not a plist value/)
    expect(parseError(wrap("<string>a]]>b</string>"))).toMatch(/"\]\]>" in text/)
    expect(parseError(wrap("<string>&nbsp;</string>"))).toMatch(/unknown entity/)
    expect(parseError(wrap("<string>&#0;</string>"))).toMatch(/not a character XML allows/)
    expect(parseError(wrap("<string>a\u0001</string>"))).toMatch(/U\+0001 is not allowed/)
    expect(parseError(wrap("<integer>1.5</integer>"))).toMatch(/not a whole number/)
    expect(parseError(wrap("<date>2026-13-01T00:00:00Z</date>"))).toMatch(/YYYY-MM-DDTHH:MM:SSZ/)
    expect(parseError(wrap("<data>!!</data>"))).toMatch(/base64/)
    expect(parseError(wrap("<string>x</string><string>y</string>"))).toMatch(/expected <\/plist>/)
    expect(parseError(`<!DOCTYPE plist [<!ENTITY e "boom">]><plist><string>&e;</string></plist>`)).toMatch(/internal subset/)
    expect(parseError(wrap("<string>x</string>") + "<x/>")).toMatch(/text after <\/plist>/)
    expect(parseError(wrap(`${"<array>".repeat(600)}${"</array>".repeat(600)}`))).toMatch(/deeper than 512/)
    expect(parseError(`<?xml version="1.0" encoding="UTF-16"?><plist><true/></plist>`)).toMatch(/only UTF-8/)
  })

  it("compares values by type and content", () => {
    expect(Plist.equals(Plist.real(0), Plist.real(-0))).toBe(false)
    expect(Plist.equals(Plist.date(new Date(0)), Plist.date(new Date(0)))).toBe(true)
    expect(Plist.equals(Plist.dict({ a: Plist.bool(true), b: Plist.bool(true) }), Plist.dict({ b: Plist.bool(true), a: Plist.bool(true) }))).toBe(false)
  })
})
