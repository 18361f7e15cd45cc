/**
 * The syntax of systemd unit files (systemd.syntax(7)): sections of
 * `Key=value` entries, with {@link render} and {@link parse} that round-trip,
 * and the escaping rules for values that come from users:
 *
 * - specifiers: `%` starts a specifier in most directives, so a literal `%`
 *   is written `%%` ({@link escapeSpecifiers});
 * - quoting: `ExecStart=` and `Environment=` split their value into words;
 *   a word in double quotes may hold spaces, quotes, backslashes, newlines and
 *   tabs as C escapes ({@link quote}, {@link words});
 * - `$`: `ExecStart=` expands `$NAME` and `${NAME}` in the arguments when the
 *   command runs, so a literal `$` is written `$$` there; the executable's path
 *   is taken verbatim ({@link exec});
 * - paths in lists (`ReadWritePaths=`, `IOReadBandwidthMax=`…) are unquoted
 *   but not C-unescaped: only `\"` and `\\` exist there ({@link quotePath});
 * - lines: an entry is one line of at most 1,048,575 bytes; a value that would
 *   start a new line, end with a backslash (which continues the line) or make
 *   a longer line is refused by {@link render}.
 *
 * No input reaching a unit through these functions can add a directive.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import * as Limits from "./internal/limits.js"
import { show } from "./internal/show.js"

/**
 * A value that has no unit-file spelling (a NUL character, a lone UTF-16
 * surrogate, a newline in a verbatim value…), or a unit file that does not
 * parse.
 *
 * @example
 * ```ts
 * import { UnitFile } from "@duende/platform-systemd/adapter"
 * import { Either } from "effect"
 *
 * const result = UnitFile.quote("a\0b") // Left(UnitFileError: a unit file cannot hold NUL or a lone surrogate: "a\u0000b")
 * if (Either.isLeft(result)) console.error(result.left.message)
 * ```
 *
 * @since 0.1.0
 */
export class UnitFileError extends Data.TaggedError("UnitFileError")<{
  readonly reason: string
  readonly line?: number
}> {
  override get message(): string {
    return this.line === undefined ? this.reason : `line ${this.line}: ${this.reason}`
  }
}

/**
 * One `Key=value` line; `value` is the text after `=` exactly as written in the file.
 *
 * @since 0.1.0
 */
export interface Entry {
  readonly key: string
  readonly value: string
}

/**
 * A `[Name]` section and its entries, in order (a key may repeat).
 *
 * @since 0.1.0
 */
export interface Section {
  readonly name: string
  readonly entries: ReadonlyArray<Entry>
}

/**
 * A unit file: comment lines at the top, then sections.
 *
 * @since 0.1.0
 */
export interface UnitFile {
  readonly header: ReadonlyArray<string>
  readonly sections: ReadonlyArray<Section>
}

const fail = (reason: string, line?: number) =>
  Either.left(new UnitFileError(line === undefined ? { reason } : { reason, line }))

// Lone surrogates cannot be written as UTF-8; NUL ends a C string.
const unencodable = /[\0]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const control = /[\0-\x08\x0a-\x1f\x7f]/
const sectionName = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/
const keyName = /^[A-Za-z][A-Za-z0-9_-]*$/

// systemd's WHITESPACE: only these are stripped around keys and values.
const strip = (text: string) => text.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, "")
const stripStart = (text: string) => text.replace(/^[ \t\n\r]+/, "")

const oddTrailingBackslashes = (text: string) => {
  let count = 0
  for (let i = text.length - 1; i >= 0 && text[i] === "\\"; i--) count++
  return count % 2 === 1
}

const checkValue = (key: string, value: string): Either.Either<void, UnitFileError> => {
  const bytes = Buffer.byteLength(key) + 1 + Buffer.byteLength(value)
  if (bytes > Limits.lineBytes) {
    return fail(`${key}= would be a line of ${bytes} bytes; systemd reads lines of at most ${Limits.lineBytes} bytes`)
  }
  if (unencodable.test(value)) return fail(`${key}= cannot hold NUL or a lone surrogate: ${show(value)}`)
  if (control.test(value)) return fail(`${key}= cannot hold a newline or control character verbatim: ${show(value)}`)
  if (value !== strip(value)) return fail(`${key}= would lose its leading or trailing whitespace: ${show(value)}`)
  if (oddTrailingBackslashes(value)) return fail(`${key}= cannot end with a backslash (it would continue the line)`)
  return Either.void
}

/**
 * Writes a unit file. Fails (instead of writing something that would read
 * back differently) on a bad section or key name, or a value with a line
 * break, a control character, leading/trailing whitespace or a trailing
 * backslash, or a line longer than systemd reads: build values with
 * {@link quote}, {@link quotePath}, {@link exec}, {@link environment} and
 * {@link escapeSpecifiers}.
 *
 * @example
 * ```ts
 * import { UnitFile } from "@duende/platform-systemd/adapter"
 * import { Either } from "effect"
 *
 * const text = UnitFile.render({
 *   header: ["written by duende"],
 *   sections: [{ name: "Service", entries: [{ key: "ExecStart", value: UnitFile.escapeSpecifiers(Either.getOrThrow(UnitFile.exec(["/usr/bin/node", "100%.js"]))) }] }]
 * })
 * // Right("# written by duende\n\n[Service]\nExecStart=\"/usr/bin/node\" \"100%%.js\"\n")
 * ```
 *
 * @since 0.1.0
 */
export const render = (unit: UnitFile): Either.Either<string, UnitFileError> => {
  const lines: Array<string> = []
  for (const comment of unit.header) {
    if (
      unencodable.test(comment) || control.test(comment) || comment !== comment.replace(/[ \t]+$/, "") ||
      Buffer.byteLength(comment) + 2 > Limits.lineBytes
    ) {
      return fail(`a header comment must be one short line without trailing whitespace: ${show(comment)}`)
    }
    lines.push(comment === "" ? "#" : `# ${comment}`)
  }
  for (const section of unit.sections) {
    if (!sectionName.test(section.name)) return fail(`not a section name: ${show(section.name)}`)
    if (lines.length > 0) lines.push("")
    lines.push(`[${section.name}]`)
    for (const { key, value } of section.entries) {
      if (!keyName.test(key)) return fail(`not a key name: ${show(key)}`)
      const checked = checkValue(key, value)
      if (Either.isLeft(checked)) return Either.left(checked.left)
      lines.push(`${key}=${value}`)
    }
  }
  return Either.right(`${lines.join("\n")}\n`)
}

const isComment = (line: string) => line.startsWith("#") || line.startsWith(";")

/**
 * Reads a unit file as systemd does: comments (`#`, `;`) and blank lines are
 * skipped (those before the first section become the header), a line ending
 * in an odd number of backslashes continues on the next line, whitespace
 * around keys and values is dropped. `parse(render(unit))` gives back `unit`.
 *
 * @example
 * ```ts
 * import { UnitFile } from "@duende/platform-systemd/adapter"
 *
 * const unit = UnitFile.parse("[Service]\nExecStart=/usr/bin/node \\\n  server.js\n")
 * // Right({ header: [], sections: [{ name: "Service", entries: [{ key: "ExecStart", value: "/usr/bin/node    server.js" }] }] })
 * ```
 *
 * @since 0.1.0
 */
export const parse = (text: string): Either.Either<UnitFile, UnitFileError> => {
  const header: Array<string> = []
  const sections: Array<{ name: string; entries: Array<Entry> }> = []
  let continued: string | undefined
  let continuedFrom = 0
  const raw = text.split("\n")
  for (let index = 0; index < raw.length; index++) {
    const number = index + 1
    const line = raw[index]!.replace(/\r$/, "")
    if (continued !== undefined && isComment(stripStart(line))) continue
    if (continued === undefined && isComment(stripStart(line))) {
      if (sections.length === 0) header.push(strip(line).slice(1).replace(/^ /, ""))
      continue
    }
    let logical = continued === undefined ? line : continued + line
    if (oddTrailingBackslashes(logical)) {
      if (continued === undefined) continuedFrom = number
      continued = `${logical.slice(0, -1)} `
      if (index < raw.length - 1) continue
      logical = continued
    }
    const from = continued === undefined ? number : continuedFrom
    continued = undefined
    const stripped = strip(logical)
    if (stripped === "") continue
    if (stripped.startsWith("[")) {
      if (!stripped.endsWith("]")) return fail(`a section header must end with "]": ${show(stripped)}`, from)
      sections.push({ name: stripped.slice(1, -1), entries: [] })
      continue
    }
    const equals = stripped.indexOf("=")
    if (equals < 0) return fail(`expected Key=value, got ${show(stripped)}`, from)
    const current = sections[sections.length - 1]
    if (current === undefined) return fail(`an entry before any section: ${show(stripped)}`, from)
    current.entries.push({ key: strip(stripped.slice(0, equals)), value: strip(stripped.slice(equals + 1)) })
  }
  return Either.right({ header, sections })
}

/**
 * Every value of `key` in `section`, in order (as written: still escaped).
 *
 * @example
 * ```ts
 * import { UnitFile } from "@duende/platform-systemd/adapter"
 *
 * const unit: UnitFile.UnitFile = { header: [], sections: [{ name: "Service", entries: [{ key: "Type", value: "notify" }] }] }
 * UnitFile.values(unit, "Service", "Type") // ["notify"]
 * ```
 *
 * @since 0.1.0
 */
export const values = (unit: UnitFile, section: string, key: string): ReadonlyArray<string> =>
  unit.sections.filter((s) => s.name === section).flatMap((s) => s.entries.filter((e) => e.key === key).map((e) => e.value))

/**
 * Writes `%` as `%%`, so a directive that expands specifiers reads the text back unchanged.
 *
 * @example
 * ```ts
 * import { UnitFile } from "@duende/platform-systemd/adapter"
 *
 * UnitFile.escapeSpecifiers("100% sure") // "100%% sure"
 * ```
 *
 * @since 0.1.0
 */
export const escapeSpecifiers = (text: string): string => text.replaceAll("%", "%%")

/**
 * Reads `%%` as `%`. Any other specifier (`%n`, `%h`…) depends on the unit
 * and the host, so it is refused.
 *
 * @example
 * ```ts
 * import { UnitFile } from "@duende/platform-systemd/adapter"
 *
 * UnitFile.unescapeSpecifiers("100%% sure") // Right("100% sure")
 * ```
 *
 * @since 0.1.0
 */
export const unescapeSpecifiers = (text: string): Either.Either<string, UnitFileError> => {
  let out = ""
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c !== "%") {
      out += c
      continue
    }
    if (text[i + 1] !== "%") return fail(`the specifier %${text[i + 1] ?? ""} depends on the host: ${show(text)}`)
    out += "%"
    i++
  }
  return Either.right(out)
}

const escapes: Record<string, string> = { "\\": "\\\\", "\"": "\\\"", "\n": "\\n", "\t": "\\t", "\r": "\\r" }

/**
 * One word in double quotes with C escapes: spaces, quotes, backslashes and
 * line breaks stay inside the word. Fails for NUL and lone surrogates, which
 * no unit file can hold.
 *
 * @example
 * ```ts
 * import { UnitFile } from "@duende/platform-systemd/adapter"
 *
 * UnitFile.quote('say "hi"\nbye') // Right('"say \\"hi\\"\\nbye"')
 * ```
 *
 * @since 0.1.0
 */
export const quote = (word: string): Either.Either<string, UnitFileError> => {
  if (unencodable.test(word)) return fail(`a unit file cannot hold NUL or a lone surrogate: ${show(word)}`)
  let out = "\""
  for (const c of word) {
    const code = c.codePointAt(0)!
    out += escapes[c] ?? (code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, "0")}` : c)
  }
  return Either.right(`${out}"`)
}

/**
 * One path in double quotes for the directives that unquote their words but
 * do not decode C escapes (`ReadWritePaths=`, `BindReadOnlyPaths=`,
 * `IOReadBandwidthMax=`…): there `\\x41` reads as `x41`, so a control
 * character has no spelling and is refused; `"` and `\\` are escaped.
 *
 * @example
 * ```ts
 * import { UnitFile } from "@duende/platform-systemd/adapter"
 *
 * UnitFile.quotePath('/srv/my "data"') // Right('"/srv/my \\"data\\""')
 * UnitFile.quotePath("/srv/a\tb") // Left: a control character
 * ```
 *
 * @since 0.1.0
 */
export const quotePath = (path: string): Either.Either<string, UnitFileError> =>
  /[\0-\x1f\x7f]/.test(path)
    ? fail(`a path in a list of paths cannot hold a control character: ${show(path)}`)
    : quote(path)

const simpleEscapes: Record<string, string> = {
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  s: " ",
  t: "\t",
  v: "\v",
  "\\": "\\",
  "\"": "\"",
  "'": "'"
}

/** One C escape after a backslash at `text[i]`: the character and how many characters it used. */
const unescapeOne = (text: string, i: number): { readonly char: string; readonly length: number } | string => {
  const c = text[i]
  if (c === undefined) return "a backslash at the end"
  const simple = simpleEscapes[c]
  if (simple !== undefined) return { char: simple, length: 1 }
  const hex = (digits: number) => {
    const part = text.slice(i + 1, i + 1 + digits)
    if (part.length !== digits || !/^[0-9a-fA-F]+$/.test(part)) return undefined
    return Number.parseInt(part, 16)
  }
  if (c === "x" || c === "u" || c === "U") {
    const digits = c === "x" ? 2 : c === "u" ? 4 : 8
    const code = hex(digits)
    if (code === undefined || code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      return `a bad escape \\${text.slice(i, i + 1 + digits)}`
    }
    return { char: String.fromCodePoint(code), length: 1 + digits }
  }
  if (/[0-7]/.test(c)) {
    const part = text.slice(i, i + 3)
    if (!/^[0-7]{3}$/.test(part) || Number.parseInt(part, 8) === 0 || Number.parseInt(part, 8) > 0xff) {
      return `a bad escape \\${part}`
    }
    return { char: String.fromCharCode(Number.parseInt(part, 8)), length: 3 }
  }
  return `an unknown escape \\${c}`
}

/**
 * Splits a value into words as systemd does for `ExecStart=` and
 * `Environment=`: whitespace separates words, double or single quotes group,
 * C escapes (`\n`, `\t`, `\"`, `\\`, `\xNN`, `\uNNNN`, octal) are decoded. With
 * `cEscapes: false`, as for lists of paths, a backslash takes the next
 * character as it is.
 *
 * @example
 * ```ts
 * import { UnitFile } from "@duende/platform-systemd/adapter"
 *
 * UnitFile.words(`"A=has space" B='x y' C=z\\tw`) // Right(["A=has space", "B=x y", "C=z\tw"])
 * UnitFile.words(`"/a b" /c\\x41`, { cEscapes: false }) // Right(["/a b", "/cx41"])
 * ```
 *
 * @since 0.1.0
 */
export const words = (
  text: string,
  options: { readonly cEscapes?: boolean } = {}
): Either.Either<ReadonlyArray<string>, UnitFileError> => {
  const cEscapes = options.cEscapes ?? true
  const out: Array<string> = []
  let word: string | undefined
  let quoteChar: string | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoteChar === undefined && (c === " " || c === "\t" || c === "\n" || c === "\r")) {
      if (word !== undefined) out.push(word)
      word = undefined
      continue
    }
    word ??= ""
    if (quoteChar !== undefined && c === quoteChar) {
      quoteChar = undefined
    } else if (quoteChar === undefined && (c === "\"" || c === "'")) {
      quoteChar = c
    } else if (c === "\\" && !cEscapes) {
      if (i + 1 >= text.length) return fail(`a backslash at the end in ${show(text)}`)
      word += text[++i]
    } else if (c === "\\") {
      const escaped = unescapeOne(text, i + 1)
      if (typeof escaped === "string") return fail(`${escaped} in ${show(text)}`)
      word += escaped.char
      i += escaped.length
    } else {
      word += c
    }
  }
  if (quoteChar !== undefined) return fail(`an unterminated ${quoteChar} quote in ${show(text)}`)
  if (word !== undefined) out.push(word)
  return Either.right(out)
}

// systemd runs no executable whose path holds a quote, a backslash or a control character
// ("Executable name contains special characters"): string_is_safe().
const unsafeExecutable = /[\0-\x1f\x7f"'\\]/

/**
 * Whether systemd accepts `path` as the executable of an `Exec…=` line: an
 * absolute path, not a directory, without quotes, backslashes or control
 * characters (systemd refuses those: "Executable name contains special
 * characters"). Run such a program through a shell instead.
 *
 * @example
 * ```ts
 * import { UnitFile } from "@duende/platform-systemd/adapter"
 *
 * UnitFile.isExecutablePath("/opt/my app/bin/$run") // true
 * UnitFile.isExecutablePath('/opt/"app"/run') // false
 * ```
 *
 * @since 0.1.0
 */
export const isExecutablePath = (path: string): boolean =>
  path.startsWith("/") && !path.endsWith("/") && !unsafeExecutable.test(path) && !unencodable.test(path)

const doubleDollars = (word: string) => word.replaceAll("$", "$$$$")

/**
 * The value of `ExecStart=` (and the other `Exec…=`) for a command line,
 * before specifier escaping: every word quoted, and `$` written `$$` in the
 * arguments, so nothing is expanded. systemd takes the executable's path
 * verbatim but expands argv[0] like any argument: for a path with a `$`, the
 * `@` form gives argv[0] on its own (`@"/a$b" "/a$$b" …`), so both are
 * exactly the path. Fails for a relative program (a leading `@`, `-`, `:`,
 * `+` or `!` would be read as a flag), and for a path systemd refuses (see
 * {@link isExecutablePath}).
 *
 * @example
 * ```ts
 * import { UnitFile } from "@duende/platform-systemd/adapter"
 *
 * UnitFile.exec(["/usr/bin/node", "server.js", "--greeting=$HOME"])
 * // Right('"/usr/bin/node" "server.js" "--greeting=$$HOME"')
 * UnitFile.exec(["/opt/$app/run", "x"])
 * // Right('@"/opt/$app/run" "/opt/$$app/run" "x"')
 * ```
 *
 * @since 0.1.0
 */
export const exec = (argv: ReadonlyArray<string>): Either.Either<string, UnitFileError> => {
  const [program] = argv
  if (program === undefined || !program.startsWith("/")) {
    return fail(`a command must start with an absolute program path, got ${show(program ?? "")}`)
  }
  if (!isExecutablePath(program)) {
    return fail(
      `systemd runs no executable whose path is a directory or holds a quote, a backslash, a control character, NUL or a lone surrogate: ${
        show(program)
      }`
    )
  }
  const separateArgv0 = program.includes("$")
  const quoted: Array<string> = []
  for (const word of separateArgv0 ? [program, ...argv] : argv) {
    const q = quote(quoted.length === 0 ? word : doubleDollars(word))
    if (Either.isLeft(q)) return Either.left(q.left)
    quoted.push(q.right)
  }
  return Either.right(`${separateArgv0 ? "@" : ""}${quoted.join(" ")}`)
}

/**
 * A command line as systemd runs it: the executable's path and the argv it
 * gets (argv[0] first).
 *
 * @since 0.1.0
 */
export interface Command {
  readonly path: string
  readonly argv: ReadonlyArray<string>
}

/** `$$` as `$`; a word that systemd would fill in from the environment is refused. */
const unescapeVariables = (word: string): Either.Either<string, UnitFileError> => {
  if (/^\$[^{$]/.test(word) || word === "$") return fail(`the word ${show(word)} is replaced by an environment variable`)
  let out = ""
  for (let i = 0; i < word.length; i++) {
    const c = word[i]!
    if (c === "$" && word[i + 1] === "$") {
      out += "$"
      i++
    } else if (c === "$" && word[i + 1] === "{") {
      return fail(`${show(word)} expands an environment variable`)
    } else {
      out += c
    }
  }
  return Either.right(out)
}

/**
 * Reads an `Exec…=` value (after specifier unescaping) as systemd does: flag
 * prefixes dropped, words split, the first word the executable's path as it
 * is, and in the argv `$$` read as `$` (a `${NAME}`, or a word `$NAME`, which
 * systemd fills in when the command runs, is refused). With the `@` prefix the
 * second word is argv[0].
 *
 * @example
 * ```ts
 * import { UnitFile } from "@duende/platform-systemd/adapter"
 *
 * UnitFile.parseExec('-"/usr/bin/node" "a b" $$HOME')
 * // Right({ path: "/usr/bin/node", argv: ["/usr/bin/node", "a b", "$HOME"] })
 * UnitFile.parseExec('@"/opt/$app" "/opt/$$app" x')
 * // Right({ path: "/opt/$app", argv: ["/opt/$app", "x"] })
 * ```
 *
 * @since 0.1.0
 */
export const parseExec = (text: string): Either.Either<Command, UnitFileError> => {
  const prefix = /^[@\-:+!]*/.exec(text)![0]
  return Either.flatMap(words(text.slice(prefix.length)), (split) => {
    const [path] = split
    const argvWords = prefix.includes("@") ? split.slice(1) : split
    if (path === undefined || argvWords.length === 0) return fail(`no command in ${show(text)}`)
    const argv: Array<string> = []
    for (const word of argvWords) {
      const unescaped = unescapeVariables(word)
      if (Either.isLeft(unescaped)) return Either.left(unescaped.left)
      argv.push(unescaped.right)
    }
    return Either.right({ path, argv })
  })
}

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * The value of one `Environment=` line for a variable, before specifier
 * escaping: `"NAME=value"` quoted (`$` has no meaning there).
 *
 * @example
 * ```ts
 * import { UnitFile } from "@duende/platform-systemd/adapter"
 *
 * UnitFile.environment("GREETING", 'say "hi"') // Right('"GREETING=say \\"hi\\""')
 * ```
 *
 * @since 0.1.0
 */
export const environment = (name: string, value: string): Either.Either<string, UnitFileError> =>
  envName.test(name) ? quote(`${name}=${value}`) : fail(`not an environment variable name: ${show(name)}`)

/**
 * Reads an `Environment=` value (after specifier unescaping) into its assignments.
 *
 * @example
 * ```ts
 * import { UnitFile } from "@duende/platform-systemd/adapter"
 *
 * UnitFile.parseEnvironment('"A=x y" B=z') // Right([["A", "x y"], ["B", "z"]])
 * ```
 *
 * @since 0.1.0
 */
export const parseEnvironment = (
  text: string
): Either.Either<ReadonlyArray<readonly [string, string]>, UnitFileError> =>
  Either.flatMap(words(text), (assignments) => {
    const pairs: Array<readonly [string, string]> = []
    for (const assignment of assignments) {
      const equals = assignment.indexOf("=")
      if (equals <= 0 || !envName.test(assignment.slice(0, equals))) {
        return fail(`not an assignment NAME=value: ${show(assignment)}`)
      }
      pairs.push([assignment.slice(0, equals), assignment.slice(equals + 1)])
    }
    return Either.right(pairs)
  })
