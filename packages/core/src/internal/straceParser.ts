/**
 * A parser of strace's text output as `strace -f -ttt -T` writes it
 * (strace(1), Debian 12's strace 6.1, which has no JSON output): one line per
 * event, each `[pid TID] SECONDS.MICROS ` (`TID  SECONDS.MICROS ` with `-o
 * FILE`; no tid while strace traces one thread only) then one of
 *
 * - a whole call: `read(3, "abc\n"..., 4096) = 3 <0.000010>`
 * - its first half, when another thread's event came between entry and exit:
 *   `read(3,  <unfinished ...>`, and later its second half
 *   `<... read resumed>"abc", 4096) = 3 <0.000010>` (one pending call per thread)
 * - a signal: `--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, …} ---`
 * - an end: `+++ exited with 0 +++`, `+++ killed by SIGKILL +++`
 *
 * Results are `= N`, `= 0x…`, `= ?`, optionally followed by an errno name and
 * its text (`= -1 ENOENT (No such file or directory)`) or a note (`= 0 (Timeout)`).
 * Arguments are kept as strace printed them (strings with their escapes); the
 * end of the arguments is found by reading them: quotes (with `\"` escapes),
 * brackets, braces and parentheses, so `") = "` inside a string is no end.
 *
 * @internal
 */

/** One event as strace wrote it. `tid` is the thread strace names (the process's pid for its main thread). */
export type StraceEvent =
  | {
    readonly _tag: "Syscall"
    readonly tid: number
    /** Epoch milliseconds (microsecond precision). */
    readonly at: number
    readonly name: string
    readonly args: string
    readonly result: string
    readonly errno: string | undefined
    /** The text in parentheses after the result: an errno's description, "Timeout", flags. */
    readonly detail: string | undefined
    /** Time spent in the call (µs), undefined where strace could not tell (`exit_group`, a detach in the middle). */
    readonly durationUs: number | undefined
  }
  | { readonly _tag: "Signal"; readonly tid: number; readonly at: number; readonly signal: string; readonly info: string }
  | {
    readonly _tag: "Exited"
    readonly tid: number
    readonly at: number
    readonly code: number | undefined
    readonly killedBy: string | undefined
  }

interface Pending {
  readonly name: string
  readonly args: string
  readonly at: number
}

/** How many threads may have a call in the middle at once (a thread has at most one). */
const maxPending = 65_536
/** What is kept of one call's arguments. */
const maxArgs = 8192

const prefix = /^(?:\[pid +(\d+)\] |(\d+) +)?(\d+)\.(\d{6}) (.*)$/
const call = /^([a-z_][a-z0-9_]*)\(/
const resumed = /^<\.\.\. ([a-z_][a-z0-9_]*) resumed>/
const signal = /^--- (SIG[A-Z0-9+]+|\{[^}]*\}|[A-Z0-9]+) (.*) ---$/
const exited = /^\+\+\+ exited with (\d+) \+\+\+$/
const killed = /^\+\+\+ killed by (SIG[A-Z0-9]+)(?: \(core dumped\))? \+\+\+$/
const unfinished = " <unfinished ...>"
const result = /^= (\S+)(?: ([A-Z][A-Z0-9_]*))?(?: \((.*?)\))?(?: <(\d+)\.(\d{6})>)?$/

/**
 * Where the argument list ends: the index of the `)` that closes it, reading
 * from `from` at `depth` (1 = just inside the call's parenthesis), or -1 when
 * the text ends first.
 */
export const argumentsEnd = (text: string, from: number, depth = 1): number => {
  let level = depth
  let inString = false
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92 /* \ */) i++
      else if (c === 34 /* " */) inString = false
      continue
    }
    if (c === 34) inString = true
    else if (c === 40 /* ( */ || c === 91 /* [ */ || c === 123 /* { */) level++
    else if (c === 41 /* ) */ || c === 93 /* ] */ || c === 125 /* } */) {
      level--
      if (level === 0) return c === 41 ? i : -1
    }
  }
  return -1
}

const seconds = (whole: string, micros: string) => Number(whole) * 1000 + Number(micros) / 1000

/**
 * Reads `= result [ERRNO] [(detail)] [<duration>]` after a call's arguments.
 * A call whose process ended in it shows no duration (`exit_group(0) = ?`).
 */
const readResult = (rest: string) => {
  const matched = result.exec(rest.trim())
  if (matched === null) return undefined
  return {
    result: matched[1]!,
    errno: matched[2],
    detail: matched[3],
    durationUs: matched[4] === undefined ? undefined : Number(matched[4]) * 1_000_000 + Number(matched[5])
  }
}

/**
 * A stateful parser: feed it lines in order; it pairs each `<unfinished ...>`
 * with its `resumed>` half (per thread) and counts what it could not read.
 */
export class StraceParser {
  private readonly pending = new Map<number, Pending>()
  /** `tid`: the thread of lines that name none (strace traces one thread). */
  constructor(private readonly tid: number) {}
  /** Lines that were no event strace documents (kept out of the events, counted). */
  unparsed = 0

  /** The event a line completes, or undefined (half a call, or a line that is no event). */
  feed(line: string): StraceEvent | undefined {
    const head = prefix.exec(line)
    if (head === null) return this.skip()
    const tid = Number(head[1] ?? head[2] ?? this.tid)
    const at = seconds(head[3]!, head[4]!)
    const body = head[5]!
    if (body.startsWith("<... ")) return this.resume(tid, at, body)
    if (body.startsWith("--- ")) {
      const matched = signal.exec(body)
      return matched === null ? this.skip() : { _tag: "Signal", tid, at, signal: matched[1]!, info: matched[2]! }
    }
    if (body.startsWith("+++ ")) {
      this.pending.delete(tid)
      const code = exited.exec(body)
      if (code !== null) return { _tag: "Exited", tid, at, code: Number(code[1]), killedBy: undefined }
      const by = killed.exec(body)
      return by === null ? this.skip() : { _tag: "Exited", tid, at, code: undefined, killedBy: by[1]! }
    }
    const named = call.exec(body)
    if (named === null) return this.skip()
    const name = named[1]!
    const open = named[0].length
    if (body.endsWith(unfinished)) {
      if (this.pending.size >= maxPending && !this.pending.has(tid)) this.pending.clear()
      this.pending.set(tid, { name, args: body.slice(open, body.length - unfinished.length).trimEnd(), at })
      return undefined
    }
    const close = argumentsEnd(body, open)
    if (close < 0) return this.skip()
    const tail = readResult(body.slice(close + 1))
    if (tail === undefined) return this.skip()
    return { _tag: "Syscall", tid, at, name, args: body.slice(open, close).slice(0, maxArgs), ...tail }
  }

  /** How many calls wait for their second half. */
  get waiting(): number {
    return this.pending.size
  }

  private resume(tid: number, at: number, body: string): StraceEvent | undefined {
    const named = resumed.exec(body)
    if (named === null) return this.skip()
    const first = this.pending.get(tid)
    this.pending.delete(tid)
    const rest = body.slice(named[0].length)
    // The second half continues inside the call's parenthesis, at the depth the first half left open.
    const depth = first === undefined ? 1 : 1 + openDepth(first.args)
    const close = argumentsEnd(rest, 0, depth)
    if (close < 0) return this.skip()
    const tail = readResult(rest.slice(close + 1))
    if (tail === undefined) return this.skip()
    const before = first === undefined || first.name !== named[1] ? "" : first.args
    const joined = before === "" ? rest.slice(0, close) : `${before}${before.endsWith(",") ? " " : ""}${rest.slice(0, close)}`
    return {
      _tag: "Syscall",
      tid,
      // A call resumed without its first half (attached in the middle) starts when its second half was written.
      at: first?.at ?? at,
      name: named[1]!,
      args: joined.slice(0, maxArgs),
      ...tail
    }
  }

  private skip(): undefined {
    this.unparsed++
    return undefined
  }
}

/** How many brackets a first half leaves open (outside strings). */
const openDepth = (text: string): number => {
  let level = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++
      else if (c === 34) inString = false
      continue
    }
    if (c === 34) inString = true
    else if (c === 40 || c === 91 || c === 123) level++
    else if (c === 41 || c === 93 || c === 125) level = Math.max(0, level - 1)
  }
  return level
}
