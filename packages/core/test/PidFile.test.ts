import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, readdirSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as PidFile from "../src/PidFile.js"

const dir = mkdtempSync(join(tmpdir(), "duende-pid-"))

/** A real process that lives until killed. */
const sleeper = () => {
  const child = spawn("sleep", ["60"], { stdio: "ignore" })
  return { pid: child.pid!, stop: () => child.kill("SIGKILL") }
}

describe("PidFile", () => {
  it.effect("exists holding our pid while the scope is open, and is gone after", () =>
    Effect.gen(function*() {
      const path = join(dir, "a", "nested", "daemon.pid")
      const scope = yield* Scope.make()
      yield* Scope.extend(PidFile.acquire(path), scope)
      expect(readFileSync(path, "utf8")).toBe(`${process.pid}\n`)
      yield* Scope.close(scope, Exit.void)
      expect(existsSync(path)).toBe(false)
      expect(readdirSync(join(dir, "a", "nested"))).toEqual([]) // no temporary file left
    }))

  it.effect("refuses a second instance while the owner lives", () =>
    Effect.gen(function*() {
      const path = join(dir, "live.pid")
      const other = sleeper()
      writeFileSync(path, `${other.pid}\n`)
      const error = yield* Effect.flip(Effect.scoped(PidFile.acquire(path)))
      other.stop()
      expect(error).toBeInstanceOf(PidFile.AlreadyRunning)
      expect(error.message).toBe(`another instance is running as pid ${other.pid} (PID file ${path}); stop it first`)
      expect(readFileSync(path, "utf8")).toBe(`${other.pid}\n`) // untouched
    }))

  it.effect("replaces a file whose process is dead", () =>
    Effect.gen(function*() {
      const path = join(dir, "dead.pid")
      const gone = sleeper()
      gone.stop()
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 100)))
      writeFileSync(path, `${gone.pid}\n`)
      expect(PidFile.owner(path)).toEqual({ _tag: "Stale", pid: gone.pid, why: `pid ${gone.pid} is not running` })
      yield* Effect.scoped(Effect.zipRight(
        PidFile.acquire(path),
        Effect.sync(() => expect(readFileSync(path, "utf8")).toBe(`${process.pid}\n`))
      ))
    }))

  it("treats a reused pid, our own pid and garbage as stale", () => {
    const reused = join(dir, "reused.pid")
    const other = sleeper()
    writeFileSync(reused, `${other.pid}\n`)
    // The file claims to be an hour older than the process now holding that pid.
    const anHourAgo = new Date(Date.now() - 3_600_000)
    utimesSync(reused, anHourAgo, anHourAgo)
    expect(PidFile.owner(reused)).toMatchObject({ _tag: "Stale", why: expect.stringMatching(/was reused/) })
    other.stop()

    const own = join(dir, "own.pid")
    writeFileSync(own, `${process.pid}\n`)
    expect(PidFile.owner(own)).toMatchObject({ _tag: "Stale", why: "it names this process, which did not write it" })

    const garbage = join(dir, "garbage.pid")
    writeFileSync(garbage, "hello")
    expect(PidFile.owner(garbage)).toMatchObject({ _tag: "Stale", pid: undefined })
    expect(PidFile.owner(join(dir, "none.pid"))).toEqual({ _tag: "None" })
  })

  it("treats a zombie (ended, not yet reaped) as not running", async () => {
    // The child of `sh` ends at once; sh has exec'd into sleep, which never reaps it.
    const parent = spawn("sh", ["-c", "sleep 0.01 & echo $!; exec sleep 5"], { stdio: ["ignore", "pipe", "ignore"] })
    const zombie = await new Promise<number>((resolve) => parent.stdout!.once("data", (d) => resolve(Number(String(d).trim()))))
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(readFileSync(`/proc/${zombie}/stat`, "utf8")).toMatch(/^\d+ \(sleep\) Z /)
    const path = join(dir, "zombie.pid")
    writeFileSync(path, `${zombie}\n`)
    expect(PidFile.owner(path)).toEqual({ _tag: "Stale", pid: zombie, why: `pid ${zombie} is not running` })
    parent.kill("SIGKILL")
  })

  it.effect("reports a directory it cannot write", () =>
    Effect.gen(function*() {
      const file = join(dir, "not-a-dir")
      writeFileSync(file, "")
      const error = yield* Effect.flip(Effect.scoped(PidFile.acquire(join(file, "x.pid"))))
      expect(error).toBeInstanceOf(PidFile.PidFileError)
      expect(error.message).toMatch(/^cannot create PID file .*x\.pid: /)
    }))

  it.effect.each([["no file", false], ["a stale file left by a killed instance", true]] as const)(
    "lets only one of many racing processes win, over %s",
    ([, stale]) =>
    Effect.promise(async () => {
      const path = join(dir, stale ? "race-stale.pid" : "race.pid")
      // A dead pid: each racer finds the file stale, and must not remove the one another just wrote.
      if (stale) writeFileSync(path, "999999999\n")
      const script = `
        const { Effect, Scope, Exit } = require("effect")
        const PidFile = require(${JSON.stringify(join(__dirname, "..", "dist", "index.cjs"))}).PidFile
        Effect.runPromise(Effect.gen(function*() {
          const scope = yield* Scope.make()
          const won = yield* Effect.either(Scope.extend(PidFile.acquire(${JSON.stringify(path)}), scope))
          process.stdout.write(won._tag === "Right" ? "won" : won.left._tag)
          // Hold the file until every racer has tried (the test closes stdin then), however slow the machine.
          yield* Effect.async((resume) => void process.stdin.on("end", () => resume(Effect.void)).resume())
          yield* Scope.close(scope, Exit.void)
        }))`
      const children = Array.from({ length: 24 }, () => {
        const child = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "inherit"] })
        let out = ""
        const tried = new Promise<string>((resolve) => child.stdout.on("data", (d) => resolve(out += d)))
        const exited = new Promise<string>((resolve) => child.on("exit", () => resolve(out)))
        return { child, tried, exited }
      })
      await Promise.all(children.map((c) => c.tried))
      for (const { child } of children) child.stdin.end()
      const results = await Promise.all(children.map((c) => c.exited))
      // The winner over a stale file also logs that it replaced it (before its verdict).
      // On a failure, every racer's output says what it saw.
      expect(results.filter((r) => r.endsWith("won")), JSON.stringify(results)).toHaveLength(1)
      // A loser may have removed the stale file itself (and logged it) before another racer linked its own.
      expect(results.filter((r) => r.endsWith("AlreadyRunning")), JSON.stringify(results)).toHaveLength(23)
      expect(existsSync(path)).toBe(false)
    }))
})
