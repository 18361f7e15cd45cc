// Hostile config input: every string field, odd Unicode, sizes past what the
// platforms take, depth, duplicate keys, bad bytes and bad paths. Each case is
// refused with one clear problem naming the field — never a stack trace — or
// decoded to exactly the value that was written.
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fc from "fast-check"
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { ConfigError } from "../src/ConfigError.js"
import * as DaemonConfig from "../src/DaemonConfig.js"
import { decodeEither } from "../src/DaemonConfigSchema.js"
import { fixture, spawnNode } from "./helpers/process.js"

const dir = mkdtempSync(join(tmpdir(), "duende-hostile-"))
const base = { name: "api", command: ["node", "server.js"] }

const refused = (input: unknown): ConfigError => {
  const result = decodeEither(input)
  if (Either.isRight(result)) throw new Error(`accepted: ${JSON.stringify(input).slice(0, 200)}`)
  return result.left
}

const load = (file: string) => Effect.runPromise(Effect.either(DaemonConfig.load(file)))

/** Sets a value at a path like ["env", "A"] in a copy of `config`. */
const setAt = (config: Record<string, unknown>, path: ReadonlyArray<string | number>, value: unknown) => {
  const root = structuredClone(config)
  let node: Record<string | number, unknown> = root
  for (const key of path.slice(0, -1)) {
    node[key] ??= typeof path[path.indexOf(key) + 1] === "number" ? [] : {}
    node = node[key] as Record<string | number, unknown>
  }
  node[path[path.length - 1]!] = value
  return root
}

// Every string leaf a user can write, as [path in the input, path as the error names it].
const stringLeaves: ReadonlyArray<readonly [ReadonlyArray<string | number>, string]> = [
  [["description"], "description"],
  [["command", 1], "command[1]"],
  [["env", "A"], "env.A"],
  [["workingDirectory"], "workingDirectory"],
  [["pidFile"], "pidFile"],
  [["$schema"], "$schema"],
  [["platform", "systemd", "readWritePaths", 0], "platform.systemd.readWritePaths[0]"],
  [["platform", "container", "healthCommand", 0], "platform.container.healthCommand[0]"],
  [["platform", "container", "mounts", 0, "target"], "platform.container.mounts[0].target"],
  [["platform", "pepita", "kernel"], "platform.pepita.kernel"],
  [["platform", "launchd", "label"], "platform.launchd.label"]
]

/** Full Unicode, biased to what breaks generators: non-BMP, separators, escapes, quotes, controls. */
const hostileChar = fc.oneof(
  fc.constantFrom(
    "$",
    "%",
    "\\",
    "\"",
    "'",
    "`",
    "\n",
    "\r",
    "\t",
    "\u0085",
    "\u2028",
    "\u2029",
    "\u001b",
    "\u009b",
    "\u007f",
    "\ufeff",
    "\u202e",
    "🚀",
    "𝄞",
    "ß",
    "\u0301",
    " ",
    "#",
    ":",
    "${X}",
    "%n"
  ),
  fc.string({ unit: "grapheme", maxLength: 3 }),
  fc.string({ unit: "binary", maxLength: 3 })
)
const hostileString = fc.array(hostileChar, { maxLength: 12 }).map((parts) => parts.join(""))

describe("hostile strings in every field", () => {
  it("a lone surrogate anywhere is refused, naming the field", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...stringLeaves),
        fc.constantFrom("\ud800", "\udfff", "a\ud83d", "\ude80b"),
        hostileString,
        ([path, name], surrogate, rest) => {
          const error = refused(setAt(base, path, `/x${rest}${surrogate}`))
          expect(error.problems).toHaveLength(1)
          expect(error.problems[0]!.path).toBe(name)
          expect(error.problems[0]!.message).toMatch(/lone surrogate/)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("a lone surrogate in a key is refused too", () => {
    const error = refused({ ...base, env: { ["A\ud800"]: "1" } })
    expect(error.problems[0]!.message).toMatch(/lone surrogate/)
  })

  it("any well-formed string is refused with the field named, or decoded to exactly itself", () => {
    fc.assert(
      fc.property(hostileString, (value) => {
        const config = {
          ...base,
          description: value,
          command: ["node", value],
          env: { A: value }
        }
        const result = decodeEither(config)
        if (Either.isLeft(result)) {
          for (const problem of result.left.problems) expect(["description", "command[1]", "env.A"]).toContain(problem.path)
          expect(value).toMatch(/\u0000|[\ud800-\udfff]/)
        } else {
          expect(result.right.description).toBe(value)
          expect(result.right.command.args).toEqual([value])
          expect(result.right.env.A).toBe(value)
        }
      }),
      { numRuns: 500 }
    )
  })
})

describe("sizes and durations the platforms take", () => {
  it("an environment string longer than Linux passes is refused with the limit", () => {
    const error = refused({ ...base, env: { BIG: "x".repeat(131_071) } })
    expect(error.problems).toEqual([{ path: "env.BIG", message: expect.stringMatching(/at most 131071 bytes/) }])
    expect(Either.isRight(decodeEither({ ...base, env: { BIG: "x".repeat(131_071 - 4) } }))).toBe(true)
  })

  it("counts bytes, not UTF-16 units", () => {
    // 50,000 rockets are 100,000 UTF-16 units but 200,000 bytes.
    const error = refused({ ...base, command: ["node", "🚀".repeat(50_000)] })
    expect(error.problems[0]).toEqual({ path: "command[1]", message: expect.stringMatching(/200000 bytes/) })
  })

  it("a path longer than PATH_MAX, or a part longer than NAME_MAX, is refused", () => {
    expect(refused({ ...base, workingDirectory: `/${"a/".repeat(2_100)}` }).problems[0]).toEqual({
      path: "workingDirectory",
      message: expect.stringMatching(/at most 4095 bytes \(PATH_MAX\)/)
    })
    expect(refused({ ...base, pidFile: `/run/${"p".repeat(256)}.pid` }).problems[0]).toEqual({
      path: "pidFile",
      message: expect.stringMatching(/at most 255 bytes \(NAME_MAX\)/)
    })
    expect(refused({ ...base, command: [`/${"b".repeat(300)}`] }).problems[0]!.path).toBe("command[0]")
  })

  it("durations longer than a timer can wait are refused with the limit", () => {
    for (const input of ["99999999999999999999d", "25d", 2_147_483_648, "1e30ms"]) {
      const error = refused({ ...base, shutdownTimeout: input })
      expect(error.problems[0]!.path).toBe("shutdownTimeout")
      if (input !== "1e30ms") expect(error.problems[0]!.message).toMatch(/at most 24d20h31m23s/)
    }
    const ok = decodeEither({ ...base, shutdownTimeout: "24d" })
    expect(Either.isRight(ok) && Duration.toMillis(ok.right.shutdownTimeout)).toBe(24 * 86_400_000)
  })

  it("a command line and environment too large to exec are refused as a whole", () => {
    const env = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`V${i}`, "x".repeat(60_000)]))
    const error = refused({ ...base, env })
    expect(error.problems).toEqual([{ path: "", message: expect.stringMatching(/command and env together take \d+ bytes/) }])
  })
})

describe("the shape of the input", () => {
  it("JSON nested 20,000 deep is refused with one line, not a stack overflow", () => {
    let deep: unknown = "x"
    for (let i = 0; i < 20_000; i++) deep = [deep]
    const error = refused({ ...base, env: { A: deep } })
    expect(error.problems).toHaveLength(1)
    expect(error.problems[0]!.message).toMatch(/nested more than 32 levels deep/)
  })

  it("a config of a million values is refused quickly", () => {
    const error = refused({ ...base, env: { A: Array.from({ length: 1_000_000 }, () => 1) } })
    expect(error.problems[0]!.message).toMatch(/more than 100000 values/)
  })

  it("an env key __proto__ is refused, never dropped", () => {
    const error = refused(JSON.parse(`{"name":"api","command":["x"],"env":{"__proto__":"v","B":"1"}}`))
    expect(error.problems).toEqual([{ path: "env.__proto__", message: expect.stringMatching(/__proto__.*rename it/) }])
  })

  it("error messages escape control characters, separators and bidi overrides from the input", () => {
    const error = refused({ ...base, name: "\u001b[31mred\u001b[0m\n  - forged: line\u2028\u009b2J\u202e" })
    const lines = error.message.split("\n")
    expect(lines).toHaveLength(2)
    expect(error.message).not.toMatch(/[\u001b\u009b\u2028\u202e]/)
    expect(lines[1]).toMatch(/^ {2}- name: /)
  })
})

describe("config files", () => {
  const file = (name: string, content: string | Buffer) => {
    const path = join(dir, name)
    writeFileSync(path, content)
    return path
  }

  it("duplicate keys are refused, naming both places", async () => {
    const path = file(
      "dup.json",
      `{\n  "name": "api",\n  "user": "nobody",\n  "command": ["x"],\n  "restart": { "policy": "always", "policy": "never" },\n  "user": "root"\n}\n`
    )
    const result = await load(path)
    expect(Either.isLeft(result)).toBe(true)
    const problems = Either.isLeft(result) ? result.left.problems : []
    expect(problems).toEqual([
      { path: "restart.policy", message: expect.stringMatching(/line 5, column 16 and at line 5, column 36/) },
      { path: "user", message: expect.stringMatching(/line 3, column 3 and at line 6, column 3/) }
    ])
  })

  it("the same key in different objects, or in strings, is fine", async () => {
    const path = file(
      "nodup.json",
      `{"name":"api","command":["\\"name\\":", "name"],"env":{"name":"1","X":"\\"user\\": 1"},"restart":{"policy":"always"}}`
    )
    const result = await load(path)
    expect(Either.isRight(result)).toBe(true)
  })

  it("invalid UTF-8 is refused with its place, never replaced", async () => {
    const path = file(
      "latin1.json",
      Buffer.concat([Buffer.from(`{"name":"api",\n"command":["x"],"env":{"A":"caf`), Buffer.from([0xe9]), Buffer.from(`"}}`)])
    )
    const result = await load(path)
    expect(Either.isLeft(result) && result.left.problems[0]!.message).toMatch(/not valid UTF-8 at byte 46 \(line 2\)/)
  })

  it("a UTF-8 byte order mark is accepted", async () => {
    const path = file("bom.json", `\ufeff${JSON.stringify(base)}`)
    expect(Either.isRight(await load(path))).toBe(true)
  })

  it("a file over 1 MiB is refused before it is parsed", async () => {
    const path = file("huge.json", `{"name":"api","command":["x"],"description":"${"x".repeat(2 * 1_048_576)}"}`)
    const result = await load(path)
    expect(Either.isLeft(result) && result.left.problems[0]!.message).toMatch(/at most 1048576 bytes \(1 MiB\)/)
  })

  it("a symlink loop, a directory and a missing file are one clear line each", async () => {
    symlinkSync(join(dir, "loop-b.json"), join(dir, "loop-a.json"))
    symlinkSync(join(dir, "loop-a.json"), join(dir, "loop-b.json"))
    mkdirSync(join(dir, "adir.json"))
    const messages = await Promise.all(
      ["loop-a.json", "adir.json", "missing.json", "loop-a.json/x.json"].map(async (name) => {
        const result = await load(join(dir, name))
        return Either.isLeft(result) ? result.left.message : "accepted"
      })
    )
    expect(messages[0]).toMatch(/loop of symbolic links/)
    expect(messages[1]).toMatch(/is not a regular file/)
    expect(messages[2]).toMatch(/no such file/)
    expect(messages[3]).toMatch(/loop of symbolic links/)
    for (const message of messages) {
      expect(message.split("\n")).toHaveLength(2)
      expect(message).not.toMatch(/\n\s+at /)
    }
  })
})

describe("Daemon.runMain options", () => {
  it("pidFile \"\" (an empty environment variable) is refused at start: exit 78", async () => {
    const d = spawnNode(fixture("daemon.mjs"), { FIXTURE_PID_FILE: "" })
    const { code } = await d.exit
    expect(code).toBe(78)
    expect(d.stderr()).toMatch(/pidFile: expected a path, got ""/)
  })
})
