// The strace output parser: documented line forms (whole calls, <unfinished ...>/resumed> pairs under -f,
// signals, exits, errno results, strings with escapes), and property tests: calls rendered as strace
// prints them (split across threads at random points) are read back exactly; no input makes it throw.
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { argumentsEnd, StraceParser, type StraceEvent } from "../src/internal/straceParser.js"

const parseAll = (lines: ReadonlyArray<string>, tid = 1) => {
  const parser = new StraceParser(tid)
  const events = lines.map((line) => parser.feed(line)).filter((e): e is StraceEvent => e !== undefined)
  return { events, parser }
}

describe("StraceParser", () => {
  it("reads whole calls with results, errnos, notes and durations", () => {
    const { events, parser } = parseAll([
      `[pid  2435] 1796356447.707583 accept4(19, NULL, NULL, SOCK_CLOEXEC|SOCK_NONBLOCK) = 20 <0.040229>`,
      `2435  1796356447.768290 read(20, "GET / HTTP/1.1\\r\\nHost: localhost\\r\\n"..., 65536) = 79 <0.000030>`,
      `1796356447.800000 openat(AT_FDCWD, "/nope", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory) <0.000012>`,
      `[pid 7] 1796356447.900000 epoll_wait(3, [], 1024, 0) = 0 (Timeout) <0.000005>`,
      `[pid 7] 1796356447.950000 mmap(NULL, 8392704, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f8bcd338000 <0.001852>`,
      `[pid 7] 1796356448.000000 exit_group(0) = ?`
    ], 99)
    expect(parser.unparsed).toBe(0)
    expect(events).toEqual([
      { _tag: "Syscall", tid: 2435, at: 1796356447707.583, name: "accept4", args: "19, NULL, NULL, SOCK_CLOEXEC|SOCK_NONBLOCK", result: "20", errno: undefined, detail: undefined, durationUs: 40229 },
      { _tag: "Syscall", tid: 2435, at: 1796356447768.29, name: "read", args: `20, "GET / HTTP/1.1\\r\\nHost: localhost\\r\\n"..., 65536`, result: "79", errno: undefined, detail: undefined, durationUs: 30 },
      { _tag: "Syscall", tid: 99, at: 1796356447800, name: "openat", args: `AT_FDCWD, "/nope", O_RDONLY|O_CLOEXEC`, result: "-1", errno: "ENOENT", detail: "No such file or directory", durationUs: 12 },
      { _tag: "Syscall", tid: 7, at: 1796356447900, name: "epoll_wait", args: "3, [], 1024, 0", result: "0", errno: undefined, detail: "Timeout", durationUs: 5 },
      { _tag: "Syscall", tid: 7, at: 1796356447950, name: "mmap", args: "NULL, 8392704, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0", result: "0x7f8bcd338000", errno: undefined, detail: undefined, durationUs: 1852 },
      { _tag: "Syscall", tid: 7, at: 1796356448000, name: "exit_group", args: "0", result: "?", errno: undefined, detail: undefined, durationUs: undefined }
    ])
  })

  it("pairs <unfinished ...> with its resumed> half per thread, across other threads' lines", () => {
    const { events, parser } = parseAll([
      `[pid  10] 1.000001 epoll_pwait(14,  <unfinished ...>`,
      `[pid  11] 1.000002 futex(0x3c4ff0f0, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, FUTEX_BITSET_MATCH_ANY <unfinished ...>`,
      `[pid  12] 1.000003 write(1, ") = 5 <0.1>", 11) = 11 <0.000004>`,
      `[pid  10] 2.000000 <... epoll_pwait resumed>[{events=EPOLLIN, data={u32=19, u64=19}}], 1024, 29287, NULL, 8) = 1 <0.999999>`,
      `[pid  11] 2.500000 <... futex resumed>) = -1 EAGAIN (Resource temporarily unavailable) <1.499998>`
    ])
    expect(parser.unparsed).toBe(0)
    expect(parser.waiting).toBe(0)
    expect(events.map((e) => e._tag === "Syscall" && [e.tid, e.name, e.args, e.result, e.errno, e.durationUs, e.at])).toEqual([
      [12, "write", `1, ") = 5 <0.1>", 11`, "11", undefined, 4, 1000.003],
      [10, "epoll_pwait", "14, [{events=EPOLLIN, data={u32=19, u64=19}}], 1024, 29287, NULL, 8", "1", undefined, 999999, 1000.001],
      [11, "futex", "0x3c4ff0f0, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, FUTEX_BITSET_MATCH_ANY", "-1", "EAGAIN", 1499998, 1000.002]
    ])
  })

  it("reads a half whose first half was before the attach, nested structures and strings with escapes", () => {
    const { events, parser } = parseAll([
      `[pid 5] 3.000000 <... read resumed>"a\\"b)\\\\", 4096) = 6 <0.000010>`,
      `[pid 5] 3.100000 clone3({flags=CLONE_VM|CLONE_FS, child_tid=0x7f8b, exit_signal=0} => {parent_tid=[2518]}, 88) = 2518 <0.000109>`,
      `[pid 5] 3.200000 restart_syscall(<... resuming interrupted read ...>) = 0 <0.5>`.replace("<0.5>", "<0.500000>"),
      `[pid 5] 3.300000 epoll_wait(4,  <unfinished ...>`,
      `[pid 5] 3.400000 <... epoll_wait resumed>[], 1024, 100) = ? ERESTARTSYS (To be restarted if SA_RESTART is set) <0.100000>`
    ])
    expect(parser.unparsed).toBe(0)
    expect(events.map((e) => e._tag === "Syscall" && [e.name, e.args, e.result, e.errno, e.detail])).toEqual([
      ["read", `"a\\"b)\\\\", 4096`, "6", undefined, undefined],
      ["clone3", "{flags=CLONE_VM|CLONE_FS, child_tid=0x7f8b, exit_signal=0} => {parent_tid=[2518]}, 88", "2518", undefined, undefined],
      ["restart_syscall", "<... resuming interrupted read ...>", "0", undefined, undefined],
      ["epoll_wait", "4, [], 1024, 100", "?", "ERESTARTSYS", "To be restarted if SA_RESTART is set"]
    ])
  })

  it("reads signals and exits", () => {
    const { events, parser } = parseAll([
      `[pid 8] 4.000000 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=9, si_uid=0, si_status=0} ---`,
      `[pid 9] 4.100000 +++ exited with 3 +++`,
      `[pid 8] 4.200000 +++ killed by SIGKILL +++`,
      `[pid 10] 4.300000 +++ killed by SIGSEGV (core dumped) +++`
    ])
    expect(parser.unparsed).toBe(0)
    expect(events).toEqual([
      { _tag: "Signal", tid: 8, at: 4000, signal: "SIGCHLD", info: "{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=9, si_uid=0, si_status=0}" },
      { _tag: "Exited", tid: 9, at: 4100, code: 3, killedBy: undefined },
      { _tag: "Exited", tid: 8, at: 4200, code: undefined, killedBy: "SIGKILL" },
      { _tag: "Exited", tid: 10, at: 4300, code: undefined, killedBy: "SIGSEGV" }
    ])
  })

  it("counts what is no event and keeps it out", () => {
    const { events, parser } = parseAll([
      "",
      "strace: Process 1 attached",
      "[pid 1] 1.000000 read(3, \"unterminated",
      "[pid 1] 1.000000 read(3) = 5 trailing junk",
      "[pid 1] 1.000000 <... read resumed> garbage",
      "[pid 1] 1.000000 --- stopped by SIGSTOP ---"
    ])
    expect(events).toEqual([])
    expect(parser.unparsed).toBe(6)
  })

  it("finds where the arguments end, outside strings and brackets", () => {
    expect(argumentsEnd(`a, "x)y", {b=(1)}) = 0`, 0)).toBe(17)
    expect(argumentsEnd(`"\\")") = 0`, 0)).toBe(5)
    expect(argumentsEnd(`unclosed "`, 0)).toBe(-1)
    expect(argumentsEnd(`]`, 0)).toBe(-1)
  })
})

/** A string as strace prints it: quoted, with C escapes, maybe truncated (`...`). */
const quoted = (text: string, truncated: boolean) =>
  `"${
    [...text].map((c) => {
      const code = c.charCodeAt(0)
      if (c === "\"") return "\\\""
      if (c === "\\") return "\\\\"
      if (c === "\n") return "\\n"
      if (c === "\t") return "\\t"
      if (code < 32 || code > 126) return `\\x${(code & 0xff).toString(16).padStart(2, "0")}`
      return c
    }).join("")
  }"${truncated ? "..." : ""}`

const argument: fc.Arbitrary<string> = fc.letrec<{ arg: string }>((tie) => ({
  arg: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.integer().map(String),
    fc.constantFrom("NULL", "AT_FDCWD", "O_RDONLY|O_CLOEXEC", "0x7ffc1234", "~[]", "<... resuming interrupted read ...>"),
    fc.tuple(fc.string({ unit: "binary", maxLength: 30 }), fc.boolean()).map(([s, t]) => quoted(s, t)),
    fc.array(tie("arg"), { maxLength: 3 }).map((items) => `[${items.join(", ")}]`),
    fc.array(fc.tuple(fc.constantFrom("st_mode", "events", "data", "u32"), tie("arg")), { maxLength: 3 })
      .map((fields) => `{${fields.map(([k, v]) => `${k}=${v}`).join(", ")}}`)
  )
})).arg

const call = fc.record({
  tid: fc.integer({ min: 1, max: 5 }),
  name: fc.constantFrom("read", "write", "accept4", "openat", "epoll_pwait", "futex", "clone3", "sendto"),
  args: fc.array(argument, { maxLength: 5 }),
  result: fc.oneof(fc.integer({ min: 0, max: 1 << 20 }).map(String), fc.constant("-1")),
  errno: fc.constantFrom("ENOENT", "EAGAIN", "EINTR"),
  detail: fc.constantFrom("No such file or directory", "Resource temporarily unavailable (or not)", "Timeout"),
  micros: fc.integer({ min: 0, max: 99_999_999 }),
  split: fc.option(fc.nat(), { nil: undefined })
})

const duration = (micros: number) => `${Math.floor(micros / 1_000_000)}.${String(micros % 1_000_000).padStart(6, "0")}`

describe("StraceParser properties", () => {
  it("reads back every call rendered as strace prints it, split across threads", () => {
    fc.assert(
      fc.property(fc.array(call, { maxLength: 30 }), (calls) => {
        const lines: Array<string> = []
        const open = new Map<number, { readonly rest: string; readonly at: string }>()
        const expected: Array<unknown> = []
        const resume = (tid: number, name: string) => {
          const held = open.get(tid)
          if (held === undefined) return
          lines.push(`[pid ${tid}] 2.000000 <... ${name} resumed>${held.rest}`)
          open.delete(tid)
        }
        calls.forEach((c, index) => {
          const args = c.args.join(", ")
          const failed = c.result === "-1"
          const tail = `) = ${c.result}${failed ? ` ${c.errno} (${c.detail})` : ""} <${duration(c.micros)}>`
          const at = `1.${String(index).padStart(6, "0")}`
          expected.push({
            tid: c.tid,
            name: c.name,
            args,
            result: c.result,
            errno: failed ? c.errno : undefined,
            detail: failed ? c.detail : undefined,
            durationUs: c.micros
          })
          // A thread's pending call is resumed before its next one starts (strace's order).
          for (const [tid, held] of open) if (tid === c.tid) resume(tid, held.at)
          if (c.split !== undefined && c.args.length > 1) {
            // Split between two arguments, as strace does when another thread interleaves.
            const cut = 1 + (c.split % (c.args.length - 1))
            const first = c.args.slice(0, cut).join(", ")
            lines.push(`[pid ${c.tid}] ${at} ${c.name}(${first},  <unfinished ...>`)
            open.set(c.tid, { rest: `${c.args.slice(cut).join(", ")}${tail}`, at: c.name })
          } else lines.push(`[pid ${c.tid}] ${at} ${c.name}(${args}${tail}`)
        })
        for (const [tid, held] of [...open]) resume(tid, held.at)
        const { events, parser } = parseAll(lines)
        expect(parser.unparsed).toBe(0)
        const sortKey = (e: { tid: number; name: string; args: string }) => `${e.tid} ${e.name} ${e.args}`
        const got = events.map((e) =>
          e._tag === "Syscall"
            ? { tid: e.tid, name: e.name, args: e.args, result: e.result, errno: e.errno, detail: e.detail, durationUs: e.durationUs }
            : e
        )
        expect([...got].sort((a, b) => sortKey(a as never).localeCompare(sortKey(b as never)))).toEqual(
          [...expected].sort((a, b) => sortKey(a as never).localeCompare(sortKey(b as never)))
        )
      }),
      { numRuns: 300 }
    )
  })

  it("never throws and never keeps more than one pending call per thread, whatever it is fed", () => {
    const line = fc.oneof(
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.tuple(fc.integer({ min: 1, max: 50 }), fc.string({ maxLength: 120 })).map(([tid, body]) => `[pid ${tid}] 1.000000 ${body}`),
      fc.tuple(fc.integer({ min: 1, max: 50 }), fc.string({ maxLength: 60 })).map(([tid, body]) => `[pid ${tid}] 1.000000 read(${body} <unfinished ...>`),
      fc.tuple(fc.integer({ min: 1, max: 50 }), fc.string({ maxLength: 60 })).map(([tid, body]) => `[pid ${tid}] 1.000000 <... read resumed>${body}`)
    )
    fc.assert(
      fc.property(fc.array(line, { maxLength: 60 }), (lines) => {
        const parser = new StraceParser(1)
        let events = 0
        for (const l of lines) if (parser.feed(l) !== undefined) events++
        expect(parser.waiting).toBeLessThanOrEqual(50)
        expect(events + parser.unparsed).toBeLessThanOrEqual(lines.length)
      }),
      { numRuns: 500 }
    )
  })
})
