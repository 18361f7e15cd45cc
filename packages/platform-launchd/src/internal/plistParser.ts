/**
 * A strict reader of XML property lists: the XML 1.0 subset Apple's tools and
 * our writer produce (declaration, comments, a DOCTYPE without internal
 * subset, elements, character and the five predefined entity references,
 * CDATA), with XML's line-end normalization, and the plist element grammar
 * on top.
 *
 * @internal
 */
import type { Value } from "../Plist.js"

export type Parsed = { readonly value: Value } | { readonly line: number; readonly column: number; readonly reason: string }

const maxDepth = 512

class Failure {
  constructor(readonly at: number, readonly reason: string) {}
}

const isXmlChar = (code: number) =>
  code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) ||
  (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff)

const predefined: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'" }

const valueNames = new Set(["dict", "array", "string", "integer", "real", "true", "false", "date", "data"])

interface Tag {
  readonly name: string
  readonly attributes: ReadonlyMap<string, string>
  readonly empty: boolean
  readonly at: number
}

class Reader {
  pos = 0
  constructor(readonly text: string) {}

  fail(reason: string, at = this.pos): never {
    throw new Failure(at, reason)
  }

  startsWith(s: string) {
    return this.text.startsWith(s, this.pos)
  }

  expect(s: string, what = `"${s}"`) {
    if (!this.startsWith(s)) this.fail(`expected ${what}`)
    this.pos += s.length
  }

  skipSpace() {
    while (this.pos < this.text.length && /[ \t\r\n]/.test(this.text[this.pos]!)) this.pos++
  }

  /** Comments and whitespace. */
  skipMisc() {
    for (;;) {
      this.skipSpace()
      if (this.startsWith("<!--")) this.comment()
      else return
    }
  }

  comment() {
    const start = this.pos
    this.pos += 4
    const end = this.text.indexOf("--", this.pos)
    if (end < 0) this.fail("a comment is not closed", start)
    if (this.text[end + 2] !== ">") this.fail(`"--" inside a comment`, end)
    this.checkChars(this.pos, end)
    this.pos = end + 3
  }

  checkChars(from: number, to: number) {
    for (let i = from; i < to; i++) {
      let code = this.text.charCodeAt(i)
      if (code >= 0xd800 && code <= 0xdbff) {
        const low = this.text.charCodeAt(i + 1)
        if (i + 1 < to && low >= 0xdc00 && low <= 0xdfff) {
          i++
          continue
        }
        this.fail("a lone surrogate", i)
      }
      if (code >= 0xdc00 && code <= 0xdfff) code = 0
      if (!isXmlChar(code)) this.fail(`U+${code.toString(16).toUpperCase().padStart(4, "0")} is not allowed in XML`, i)
    }
  }

  name(): string {
    const match = /^[A-Za-z_:][A-Za-z0-9_:.-]*/.exec(this.text.slice(this.pos, this.pos + 256))
    if (match === null) this.fail("expected a name")
    this.pos += match[0].length
    return match[0]
  }

  /** `<name attr="v" ...>` or `<name .../>`, at `<`. */
  openTag(): Tag {
    const at = this.pos
    this.expect("<")
    const name = this.name()
    const attributes = new Map<string, string>()
    for (;;) {
      const before = this.pos
      this.skipSpace()
      if (this.startsWith("/>")) {
        this.pos += 2
        return { name, attributes, empty: true, at }
      }
      if (this.startsWith(">")) {
        this.pos += 1
        return { name, attributes, empty: false, at }
      }
      if (this.pos === before) this.fail(`expected ">" or an attribute in <${name}>`)
      const attribute = this.name()
      this.skipSpace()
      this.expect("=")
      this.skipSpace()
      const quote = this.text[this.pos]
      if (quote !== "\"" && quote !== "'") this.fail("expected a quoted attribute value")
      const end = this.text.indexOf(quote, this.pos + 1)
      if (end < 0) this.fail("an attribute value is not closed")
      const raw = this.text.slice(this.pos + 1, end)
      if (raw.includes("<")) this.fail(`"<" in an attribute value`)
      if (attributes.has(attribute)) this.fail(`attribute ${attribute} appears twice`)
      attributes.set(attribute, raw)
      this.pos = end + 1
    }
  }

  closeTag(name: string) {
    if (!this.startsWith(`</${name}`)) this.fail(`expected </${name}>`)
    this.pos += name.length + 2
    this.skipSpace()
    this.expect(">", `">" closing </${name}>`)
  }

  /** Character data up to the closing tag of `name`: references decoded, line ends normalized. */
  content(name: string): string {
    let out = ""
    for (;;) {
      if (this.pos >= this.text.length) this.fail(`<${name}> is not closed`)
      const c = this.text[this.pos]!
      if (c === "<") {
        if (this.startsWith("<![CDATA[")) {
          const start = this.pos + 9
          const end = this.text.indexOf("]]>", start)
          if (end < 0) this.fail("a CDATA section is not closed")
          this.checkChars(start, end)
          out += normalize(this.text.slice(start, end))
          this.pos = end + 3
          continue
        }
        if (this.startsWith("<!--")) {
          this.comment()
          continue
        }
        if (this.startsWith("</")) {
          this.closeTag(name)
          return out
        }
        this.fail(`an element inside <${name}>`)
      }
      if (c === "&") {
        out += this.reference()
        continue
      }
      markup.lastIndex = this.pos
      const next = markup.exec(this.text)
      const end = next === null ? this.text.length : next.index
      const raw = this.text.slice(this.pos, end)
      const cdataEnd = raw.indexOf("]]>")
      if (cdataEnd >= 0) this.fail(`"]]>" in text (write it as "]]&gt;")`, this.pos + cdataEnd)
      this.checkChars(this.pos, end)
      out += normalize(raw)
      this.pos = end
    }
  }

  reference(): string {
    const start = this.pos
    const end = this.text.indexOf(";", this.pos)
    if (end < 0 || end - start > 12) this.fail("an entity reference is not closed")
    const body = this.text.slice(start + 1, end)
    this.pos = end + 1
    if (body.startsWith("#")) {
      const digits = body.slice(1)
      const code = /^x[0-9A-Fa-f]+$/.test(digits)
        ? Number.parseInt(digits.slice(1), 16)
        : /^[0-9]+$/.test(digits)
        ? Number.parseInt(digits, 10)
        : Number.NaN
      if (!Number.isFinite(code) || !isXmlChar(code)) this.fail(`&${body}; is not a character XML allows`, start)
      return String.fromCodePoint(code)
    }
    const char = predefined[body]
    if (char === undefined) this.fail(`unknown entity &${body};`, start)
    return char
  }

  /** Whitespace and comments only, between elements of a dict or an array. */
  between(container: string) {
    this.skipMisc()
    if (this.pos < this.text.length && this.text[this.pos] !== "<") this.fail(`text inside <${container}> outside any value`)
  }

  value(depth: number): Value {
    if (depth > maxDepth) this.fail(`nested deeper than ${maxDepth} levels`)
    const tag = this.openTag()
    if (!valueNames.has(tag.name)) this.fail(`<${tag.name}> is not a plist value`, tag.at)
    if (tag.attributes.size > 0) this.fail(`<${tag.name}> takes no attributes`, tag.at)
    switch (tag.name) {
      case "true":
      case "false":
        if (!tag.empty) {
          this.skipSpace()
          this.closeTag(tag.name)
        }
        return { _tag: "bool", value: tag.name === "true" }
      case "array": {
        const items: Array<Value> = []
        if (tag.empty) return { _tag: "array", items }
        for (;;) {
          this.between("array")
          if (this.startsWith("</")) {
            this.closeTag("array")
            return { _tag: "array", items }
          }
          items.push(this.value(depth + 1))
        }
      }
      case "dict": {
        const entries: Array<readonly [string, Value]> = []
        const keys = new Set<string>()
        if (tag.empty) return { _tag: "dict", entries }
        for (;;) {
          this.between("dict")
          if (this.startsWith("</")) {
            this.closeTag("dict")
            return { _tag: "dict", entries }
          }
          const keyTag = this.openTag()
          if (keyTag.name !== "key") this.fail(`expected <key> in <dict>, got <${keyTag.name}>`, keyTag.at)
          const key = keyTag.empty ? "" : this.content("key")
          if (keys.has(key)) this.fail(`the key ${JSON.stringify(key)} appears twice in one dict`, keyTag.at)
          keys.add(key)
          this.between("dict")
          if (this.startsWith("</")) this.fail(`missing value for key ${JSON.stringify(key)}`)
          entries.push([key, this.value(depth + 1)])
        }
      }
      default: {
        const text = tag.empty ? "" : this.content(tag.name)
        return this.scalar(tag, text)
      }
    }
  }

  scalar(tag: Tag, text: string): Value {
    switch (tag.name) {
      case "string":
        return { _tag: "string", value: text }
      case "integer": {
        const t = text.trim()
        if (/^[+-]?[0-9]+$/.test(t)) return { _tag: "integer", value: BigInt(t) }
        if (/^[+-]?0x[0-9A-Fa-f]+$/.test(t)) {
          const negative = t.startsWith("-")
          const magnitude = BigInt(t.replace(/^[+-]/, ""))
          return { _tag: "integer", value: negative ? -magnitude : magnitude }
        }
        return this.fail(`<integer> holds ${JSON.stringify(t)}, not a whole number`, tag.at)
      }
      case "real": {
        const t = text.trim()
        if (/^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(t)) return { _tag: "real", value: Number(t) }
        if (/^[+-]?(?:inf|infinity)$/i.test(t)) return { _tag: "real", value: t.startsWith("-") ? -Infinity : Infinity }
        if (/^nan$/i.test(t)) return { _tag: "real", value: Number.NaN }
        return this.fail(`<real> holds ${JSON.stringify(t)}, not a number`, tag.at)
      }
      case "date": {
        const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/.exec(text.trim())
        const d = m === null ? undefined : new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`)
        if (m === null || d === undefined || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 19) !== text.trim().slice(0, 19)) {
          return this.fail(`<date> holds ${JSON.stringify(text)}, not YYYY-MM-DDTHH:MM:SSZ`, tag.at)
        }
        return { _tag: "date", value: d }
      }
      default: {
        // data
        const compact = text.replace(/[ \t\r\n]+/g, "")
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
          return this.fail("<data> does not hold base64", tag.at)
        }
        return { _tag: "data", value: new Uint8Array(Buffer.from(compact, "base64")) }
      }
    }
  }

  document(): Value {
    if (this.startsWith("\uFEFF")) this.pos++
    if (this.startsWith("<?xml")) {
      const end = this.text.indexOf("?>", this.pos)
      if (end < 0) this.fail("the XML declaration is not closed")
      const declaration = this.text.slice(this.pos, end)
      const encoding = /encoding\s*=\s*["']([^"']*)["']/.exec(declaration)?.[1]
      if (encoding !== undefined && !/^utf-?8$/i.test(encoding)) this.fail(`encoding ${encoding} (only UTF-8 is read)`)
      this.pos = end + 2
    }
    this.skipMisc()
    if (this.startsWith("<!DOCTYPE")) {
      const end = this.text.indexOf(">", this.pos)
      if (end < 0) this.fail("the DOCTYPE is not closed")
      if (this.text.slice(this.pos, end).includes("[")) this.fail("a DOCTYPE with an internal subset (entities are not read)")
      this.pos = end + 1
    }
    this.skipMisc()
    const root = this.openTag()
    if (root.name !== "plist") this.fail(`expected <plist>, got <${root.name}>`, root.at)
    if (root.empty) this.fail("an empty <plist/>", root.at)
    this.between("plist")
    const value = this.value(1)
    this.between("plist")
    this.closeTag("plist")
    this.skipMisc()
    if (this.pos < this.text.length) this.fail("text after </plist>")
    return value
  }
}

const markup = /[<&]/g

const normalize = (raw: string) => raw.replace(/\r\n?/g, "\n")

const position = (text: string, at: number) => {
  const before = text.slice(0, at)
  const line = before.split("\n").length
  return { line, column: at - before.lastIndexOf("\n") }
}

/** Parses a whole document. */
export const parseDocument = (text: string): Parsed => {
  const reader = new Reader(text)
  try {
    return { value: reader.document() }
  } catch (error) {
    if (error instanceof Failure) return { ...position(text, error.at), reason: error.reason }
    throw error
  }
}
