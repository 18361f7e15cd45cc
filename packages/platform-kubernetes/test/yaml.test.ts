// The YAML writer's rule for plain strings, checked exhaustively on short words: every word of up
// to three characters from an alphabet of the characters that decide how a reader resolves a plain
// scalar (letters of true/false/null/yes/no/on/off/inf/nan, exponents, digits, `_ . / - :`) is
// written so that a YAML 1.2 reader, a YAML 1.1 reader and PyYAML each read back that same string.
import { describe, expect, it } from "@effect/vitest"
import { parse } from "yaml"
import { scalar } from "../src/internal/yaml.js"
import { python, readWithPython } from "./helpers/yaml.js"

const alphabet = [..."aeEnoyYNxbifIlsu_./-019:+"]
const words: Array<string> = []
const extend = (prefix: string) => {
  if (prefix.length > 0) words.push(prefix)
  if (prefix.length < 3) for (const c of alphabet) extend(prefix + c)
}
extend("")

describe("YAML strings, every short word", () => {
  it(`each of ${words.length} words reads back as itself in YAML 1.2 and 1.1`, () => {
    const wrong = words.flatMap((word) =>
      (["1.1", "1.2"] as const).flatMap((version) => {
        const read = parse(`v: ${scalar(word)}\n`, { version }).v
        return read === word ? [] : [`${version}: ${JSON.stringify(word)} → ${JSON.stringify(read)}`]
      })
    )
    expect(wrong).toEqual([])
  })

  it("writes a bare exponent quoted (the yaml package's 1.1 schema reads `e0` as NaN)", () => {
    expect(scalar("e0")).toBe("\"e0\"")
    expect(scalar("E-5")).toBe("\"E-5\"")
    expect(scalar("e0x")).toBe("e0x")
  })

  it.skipIf(!python.ok)(`PyYAML reads each word back as itself${python.label}`, () => {
    const text = words.map((word, n) => `w${n}: ${scalar(word)}\n`).join("")
    const [[read]] = readWithPython([text]) as [[Record<string, unknown>]]
    const wrong = words.filter((word, n) => read[`w${n}`] !== word)
    expect(wrong).toEqual([])
  })
})
