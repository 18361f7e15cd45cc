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

  it("exec → parseExec gives back the path and the argv; $ never expands", () => {
    fc.assert(fc.property(fc.array(text(), { maxLength: 6 }), text(), (args, name) => {
      const program = `/opt/${name}x`
      const argv = [program, ...args]
      const line = UnitFile.exec(argv)
      if (!UnitFile.isExecutablePath(program)) {
        // systemd refuses such a path ("Executable name contains special characters").
        expect(Either.isLeft(line) && line.left.message).toMatch(/systemd runs no executable/)
        return
      }
      const read = right(UnitFile.parseExec(right(UnitFile.unescapeSpecifiers(UnitFile.escapeSpecifiers(right(line))))))
      // parseExec refuses any word systemd would expand, so equality means nothing expands.
      expect(read).toEqual({ path: program, argv })
    }), { numRuns: 2000 })
  })

  it("exec: a path with a $ is the executable verbatim and argv[0] on its own (the @ form)", () => {
    // systemd does not expand the executable's path: "$$" there is two dollars, and the start fails 203/EXEC.
    expect(UnitFile.exec(["/opt/a$b/run", "$HOME"])).toEqual(Either.right(`@"/opt/a$b/run" "/opt/a$$b/run" "$$HOME"`))
    expect(right(UnitFile.parseExec(`@"/opt/a$b/run" "/opt/a$$b/run" "$$HOME"`))).toEqual({
      path: "/opt/a$b/run",
      argv: ["/opt/a$b/run", "$HOME"]
    })
    // Without @, systemd takes the first word as the path as it is, and expands it as argv[0].
    expect(right(UnitFile.parseExec(`-"/bin/x$$y" a$$b`))).toEqual({ path: "/bin/x$$y", argv: ["/bin/x$y", "a$b"] })
    for (const expanding of [`/bin/echo $HOME`, `/bin/echo "\${HOME}"`, `/bin/echo a\${X}b`, `/bin/echo $`]) {
      expect(Either.isLeft(UnitFile.parseExec(expanding))).toBe(true)
    }
    expect(right(UnitFile.parseExec(`/bin/echo a$b c$`)).argv).toEqual(["/bin/echo", "a$b", "c$"])
  })

  it("exec refuses a relative program and what no file can hold", () => {
    expect(Either.isLeft(UnitFile.exec(["node", "x.js"]))).toBe(true)
    expect(Either.isLeft(UnitFile.exec(["-/bin/true"]))).toBe(true)
    expect(Either.isLeft(UnitFile.exec([]))).toBe(true)
    expect(Either.isLeft(UnitFile.exec(["/bin/echo", "a\0b"]))).toBe(true)
    expect(Either.isLeft(UnitFile.quote("\uD800"))).toBe(true)
    expect(UnitFile.exec(["/bin/echo", "a b", "$HOME", "50%"])).toEqual(Either.right(`"/bin/echo" "a b" "$$HOME" "50%"`))
    for (const program of [`/opt/a"b`, "/opt/a'b", "/opt/a\\b", "/opt/a\nb", "/opt/a\x7fb", "/opt/dir/", "/opt/\uDC00"]) {
      expect(UnitFile.isExecutablePath(program)).toBe(false)
      expect(Either.isLeft(UnitFile.exec([program]))).toBe(true)
    }
    expect(UnitFile.isExecutablePath("/opt/é 🚀 %i $x")).toBe(true)
  })

  it("quotePath → words without C escapes gives back the path; control characters are refused", () => {
    fc.assert(fc.property(text(), (name) => {
      const path = `/srv/${name}`
      const quoted = UnitFile.quotePath(path)
      if (/[\0-\x1f\x7f]/.test(path)) {
        expect(Either.isLeft(quoted)).toBe(true)
        return
      }
      expect(right(UnitFile.words(right(quoted), { cEscapes: false }))).toEqual([path])
    }), { numRuns: 1000 })
    // As systemd reads ReadWritePaths=: \x41 is "x41", \" and \\ are the characters.
    expect(UnitFile.words(`"/a b" /c\\x41 "/q\\"u\\\\o"`, { cEscapes: false })).toEqual(Either.right(["/a b", "/cx41", `/q"u\\o`]))
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

  it("render refuses a line longer than systemd reads (1,048,575 bytes: a longer one fails the whole unit)", () => {
    const line = (bytes: number) =>
      UnitFile.render({ header: [], sections: [{ name: "Service", entries: [{ key: "Description", value: "é".repeat((bytes - 12) / 2) }] }] })
    // "Description=" is 12 bytes, "é" 2 bytes in UTF-8.
    expect(Either.isRight(line(1_048_574))).toBe(true)
    const over = line(1_048_576)
    expect(Either.isLeft(over) && over.left.message).toBe(
      "Description= would be a line of 1048576 bytes; systemd reads lines of at most 1048575 bytes"
    )
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
