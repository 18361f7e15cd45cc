// What the command prints reaches a slow pipe whole (a pipe holds 64 KiB; the rest waits in the
// process, and exiting early cut it there), a reader that closes early ends the command quietly,
// help has no colors in a pipe, and bad config paths are one line with exit 2.
import { execFile, spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { logLine } from "../src/internal/format.js"

const bin = join(__dirname, "..", "bin", "duende.js")
const scratch = mkdtempSync(join(tmpdir(), "duende-output-"))

afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/** A config whose systemd unit is about `variables` × 500 bytes (100 KiB by default). */
const bigConfig = (variables = 200) => {
  const env: Record<string, string> = {}
  for (let i = 0; i < variables; i++) env[`VAR_${i}`] = `${i}-${"v".repeat(496)}`
  const path = join(scratch, "big.json")
  writeFileSync(path, JSON.stringify({ name: "big", command: [process.execPath, join(scratch, "main.js")], env }))
  return path
}

const duende = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [bin, ...args], { env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }))
  })

/** Runs the command with stdout a real pipe that nobody reads for `pauseMs`, then reads it all. */
const throughSlowPipe = (args: ReadonlyArray<string>, pauseMs: number) =>
  new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    const chunks: Array<Buffer> = []
    let stderr = ""
    child.stdout.pause()
    setTimeout(() => child.stdout.resume(), pauseMs)
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.once("error", reject)
    child.once("close", (code) => resolve({ code, stdout: Buffer.concat(chunks), stderr }))
  })

describe("output", () => {
  it("writes a render larger than a pipe's buffer whole, byte for byte what -o writes", async () => {
    const config = bigConfig()
    const written = await duende(["render", "systemd", config, "--systemd-version", "252", "-o", join(scratch, "out")])
    expect(written.code).toBe(0)
    const file = readFileSync(join(scratch, "out", "big.service"))
    expect(file.length).toBeGreaterThan(96 * 1024)
    expect(file.toString()).toMatch(/^ProtectSystem=strict$/m)

    const piped = await throughSlowPipe(["render", "systemd", config, "--systemd-version", "252"], 1500)
    expect(piped.code).toBe(0)
    expect(piped.stderr).toBe("")
    expect(piped.stdout.length).toBe(file.length)
    expect(piped.stdout.equals(file)).toBe(true)
  })

  it("ends quietly with 141 when the reader closes the pipe early (| head -c 10)", async () => {
    // 1 MiB: the reader takes one chunk (≤ 64 KiB) before it closes and the pipe holds 64 KiB more,
    // so the command cannot have written everything first (at 100 KiB it sometimes had, and ended 0).
    const config = bigConfig(2000)
    const result = await new Promise<{ code: number | null; head: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, "render", "systemd", config, "--systemd-version", "252"], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      let head = ""
      let stderr = ""
      child.stdout.once("data", (chunk: Buffer) => {
        head = chunk.subarray(0, 10).toString()
        child.stdout.destroy()
      })
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
      child.once("error", reject)
      child.once("close", (code) => resolve({ code, head, stderr }))
    })
    expect(result.head).toBe("# big.serv")
    expect(result.stderr).toBe("")
    expect(result.code).toBe(141)
  })

  it("prints help without ANSI escapes into a pipe and under NO_COLOR", async () => {
    const help = await duende(["--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("USAGE")
    expect(help.stdout).not.toContain("\u001b[")
    const usage = await duende(["render", "--nope"], { ...process.env, NO_COLOR: "1" })
    expect(usage.code).toBe(2)
    expect(usage.stdout + usage.stderr).not.toContain("\u001b[")
  })

  it("says in one line what is wrong with a config path, with exit 2", async () => {
    const loop = join(scratch, "loop-a.json")
    symlinkSync(join(scratch, "loop-b.json"), loop)
    symlinkSync(loop, join(scratch, "loop-b.json"))
    symlinkSync(join(scratch, "nowhere.json"), join(scratch, "dangling.json"))
    mkdirSync(join(scratch, "dir.json"))
    const cases: ReadonlyArray<[ReadonlyArray<string>, string]> = [
      [["render", "systemd", loop], `duende: ${loop}: too many levels of symbolic links (a loop)\n`],
      [["install", loop], `duende: ${loop}: too many levels of symbolic links (a loop)\n`],
      [["start", loop], `duende: ${loop}: too many levels of symbolic links (a loop)\n`],
      [["run", loop], `duende: ${loop}: too many levels of symbolic links (a loop)\n`],
      [["render", "oci", join(scratch, "dangling.json")], `duende: ${join(scratch, "dangling.json")} is a symbolic link to nothing\n`],
      [["start", join(scratch, "dir.json")], `duende: ${join(scratch, "dir.json")} is a directory, not a config file\n`],
      [["install", join(scratch, "missing.json")], `duende: no such config file: ${join(scratch, "missing.json")}\n`],
      [["render", "oci", "line\nbreak.json"], `duende: no such config file: "line\\nbreak.json"\n`]
    ]
    for (const [args, stderr] of cases) {
      const result = await duende(args, { ...process.env, DUENDE_HOME: join(scratch, "home") })
      expect({ args, ...result }).toEqual({ args, code: 2, stdout: "", stderr })
    }
  })
})

describe("logLine", () => {
  it("shows a daemon's own log entry with its time and level, once", () => {
    const at = Date.parse("2026-03-01T10:00:01.000Z")
    expect(logLine({ at, stream: "stderr", text: "2026-03-01T10:00:00.123Z INFO  [api] serving on :8080" })).toBe(
      "2026-03-01T10:00:00.123Z info [api] serving on :8080"
    )
    expect(logLine({ at, stream: "stderr", text: "2026-03-01T10:00:00.123Z ERROR [api] lost the database" })).toBe(
      "2026-03-01T10:00:00.123Z error [api] lost the database"
    )
    expect(logLine({ at, stream: "stdout", text: "tick 3" })).toBe("2026-03-01T10:00:01.000Z out tick 3")
    expect(logLine({ at, stream: "stderr", text: "    at main (x.js:1:1)" })).toBe("2026-03-01T10:00:01.000Z err     at main (x.js:1:1)")
  })
})
