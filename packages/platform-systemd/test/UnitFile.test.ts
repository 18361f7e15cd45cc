import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import fc from "fast-check"
import * as UnitFile from "../src/UnitFile.js"
import { envName, rawValue, text } from "./helpers/arbitraries.js"

const right = <A, E>(either: Either.Either<A, E>): A => {
  if (Either.isLeft(either)) throw new Error(`expected Right, got Left(${String(either.left)})`)
  return either.right
}

describe("UnitFile: escaping", () => {
  it("quote → words gives back the word, whatever it holds", () => {
    fc.assert(fc.property(text(), (word) => {
      expect(right(UnitFile.words(right(UnitFile.quote(word))))).toEqual([word])
    }), { numRuns: 2000 })
  })

  it("a quoted word is one line of printable characters", () => {
    fc.assert(fc.property(text(), (word) => {
      expect(right(UnitFile.quote(word))).not.toMatch(/[\0-\x1f\x7f]/)
    }), { numRuns: 1000 })
  })

  it("exec → parseExec gives back the command line; $ never expands", () => {
    fc.assert(fc.property(fc.array(text(), { maxLength: 6 }), text(), (args, program) => {
      const argv = [`/opt/${program}`, ...args]
      const line = right(UnitFile.exec(argv))
      expect(line).toMatch(/^"\//)
      expect(right(UnitFile.parseExec(right(UnitFile.unescapeSpecifiers(UnitFile.escapeSpecifiers(line)))))).toEqual(argv)
      // Every $ is doubled: no $NAME or ${NAME} is left for systemd to expand.
      expect(line.replaceAll("$$", "")).not.toContain("$")
    }), { numRuns: 1000 })
  })

  it("exec refuses a relative program and what no file can hold", () => {
    expect(Either.isLeft(UnitFile.exec(["node", "x.js"]))).toBe(true)
    expect(Either.isLeft(UnitFile.exec(["-/bin/true"]))).toBe(true)
    expect(Either.isLeft(UnitFile.exec([]))).toBe(true)
    expect(Either.isLeft(UnitFile.exec(["/bin/echo", "a\0b"]))).toBe(true)
    expect(Either.isLeft(UnitFile.quote("\uD800"))).toBe(true)
    expect(UnitFile.exec(["/bin/echo", "a b", "$HOME", "50%"])).toEqual(Either.right(`"/bin/echo" "a b" "$$HOME" "50%"`))
  })

  it("environment → parseEnvironment gives back the assignment", () => {
    fc.assert(fc.property(envName, text(), (name, value) => {
      const raw = right(UnitFile.environment(name, value))
      expect(right(UnitFile.parseEnvironment(right(UnitFile.unescapeSpecifiers(UnitFile.escapeSpecifiers(raw)))))).toEqual([[name, value]])
    }), { numRuns: 1000 })
    expect(Either.isLeft(UnitFile.environment("1BAD", "x"))).toBe(true)
    expect(Either.isLeft(UnitFile.environment("A B", "x"))).toBe(true)
  })

  it("specifiers: %% is read back as %, other specifiers are refused", () => {
    fc.assert(fc.property(text(), (s) => {
      expect(UnitFile.unescapeSpecifiers(UnitFile.escapeSpecifiers(s))).toEqual(Either.right(s))
    }))
    expect(Either.isLeft(UnitFile.unescapeSpecifiers("%n"))).toBe(true)
    expect(Either.isLeft(UnitFile.unescapeSpecifiers("100%"))).toBe(true)
  })

  it("words reads systemd's quoting and escapes", () => {
    expect(UnitFile.words(`a "b c" 'd e' f\\x41 "\\u00e9\\101" x"y z"w`)).toEqual(
      Either.right(["a", "b c", "d e", "fA", "éA", "xy zw"])
    )
    expect(Either.isLeft(UnitFile.words(`"open`))).toBe(true)
    expect(Either.isLeft(UnitFile.words(`bad\\q`))).toBe(true)
    expect(Either.isLeft(UnitFile.words(`nul\\x00`))).toBe(true)
  })
})

const sectionName = fc.stringMatching(/^[A-Z][A-Za-z]{0,8}$/)
const keyName = fc.stringMatching(/^[A-Z][A-Za-z0-9]{0,12}$/)
const value = fc.oneof(
  rawValue,
  text().map((t) => right(UnitFile.quote(t))),
  fc.array(text(), { minLength: 1, maxLength: 3 }).map((ws) => UnitFile.escapeSpecifiers(right(UnitFile.exec(["/bin/x", ...ws]))))
)
const unitFile: fc.Arbitrary<UnitFile.UnitFile> = fc.record({
  header: fc.array(rawValue, { maxLength: 2 }),
  sections: fc.array(
    fc.record({ name: sectionName, entries: fc.array(fc.record({ key: keyName, value }), { maxLength: 6 }) }),
    { maxLength: 4 }
  )
})

describe("UnitFile: render and parse", () => {
  it("parse(render(unit)) is the unit, for every unit render accepts", () => {
    fc.assert(fc.property(unitFile, (unit) => {
      expect(right(UnitFile.parse(right(UnitFile.render(unit))))).toEqual(unit)
    }), { numRuns: 1000 })
  })

  it("render refuses values that would read back differently or add a line", () => {
    const one = (value: string) =>
      UnitFile.render({ header: [], sections: [{ name: "Service", entries: [{ key: "Description", value }] }] })
    for (const bad of ["a\nExecStartPre=/bin/evil", "a\rb", "trailing\\", " leading", "trailing ", "nul\0", "\x1b[31m"]) {
      expect(Either.isLeft(one(bad))).toBe(true)
    }
    expect(one("even\\\\")).toEqual(Either.right("[Service]\nDescription=even\\\\\n"))
    expect(Either.isLeft(UnitFile.render({ header: [], sections: [{ name: "Se]rvice", entries: [] }] }))).toBe(true)
    expect(Either.isLeft(UnitFile.render({ header: [], sections: [{ name: "Service", entries: [{ key: "A=B", value: "" }] }] }))).toBe(true)
    expect(Either.isLeft(UnitFile.render({ header: ["two\nlines"], sections: [] }))).toBe(true)
  })

  it("parse follows systemd: continuations, comments inside them, CRLF, whitespace", () => {
    const text = [
      "# header line",
      "",
      "[Unit]",
      "Description = spaced  ",
      "[Service]\r",
      "ExecStart=/bin/echo \\",
      "# a comment inside the continuation",
      "  one \\",
      "two",
      "; another comment",
      "Environment=\"A=1\""
    ].join("\n")
    expect(UnitFile.parse(text)).toEqual(Either.right({
      header: ["header line"],
      sections: [
        { name: "Unit", entries: [{ key: "Description", value: "spaced" }] },
        { name: "Service", entries: [{ key: "ExecStart", value: "/bin/echo    one  two" }, { key: "Environment", value: "\"A=1\"" }] }
      ]
    }))
    expect(Either.isLeft(UnitFile.parse("Key=before any section"))).toBe(true)
    expect(Either.isLeft(UnitFile.parse("[Service]\nno equals sign"))).toBe(true)
    expect(Either.isLeft(UnitFile.parse("[Service"))).toBe(true)
    expect(UnitFile.values(Either.getOrThrow(UnitFile.parse(text)), "Service", "Environment")).toEqual(["\"A=1\""])
  })
})
