// wos-ctl: a kernel's control channel on a unix socket, with the Rust adapter's verbs, against
// real WebAssembly processes; `wos-ctl boot` as a real foreground process.
import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import * as NodeWosHost from "../src/NodeWosHost.js"
import * as WosCtl from "../src/WosCtl.js"
import { compileAll, gate } from "./helpers/wasm.js"

const socketDir = () =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "wos-ctl-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** Retries `check` every 20 ms for up to 10 s. */
const eventually = <A>(check: Effect.Effect<A, unknown>) =>
  Effect.retry(check, Schedule.intersect(Schedule.spaced("20 millis"), Schedule.recurs(500)))

describe.runIf(gate.ok)(`wos-ctl${gate.label}`, () => {
  let wasm: Awaited<ReturnType<typeof compileAll>>
  beforeAll(async () => {
    wasm = await compileAll()
  })

  it.scopedLive("spawn, status --json, ps --format, renice, signal, logs through the socket", () =>
    Effect.gen(function*() {
      const socket = join(yield* socketDir(), "wos.sock")
      const host = yield* NodeWosHost.make()
      yield* WosCtl.serve(host, socket)
      const ctl = (verb: string, ...args: Array<string>) => WosCtl.run([verb, "--socket", socket, ...args])

      const pid = Number(yield* ctl("spawn", "--name", "counter", "--priority", "2", "--", wasm.counter))
      expect(pid).toBeGreaterThan(1)
      const isReady = (out: string) => (JSON.parse(out) as { ready: boolean }).ready
      yield* eventually(Effect.filterOrFail(ctl("status", "--pid", String(pid), "--json"), isReady))
      expect(JSON.parse(yield* ctl("status", "--pid", String(pid), "--json"))).toMatchObject({
        pid,
        ppid: 1,
        name: "counter",
        priority: 2,
        healthy: true
      })
      expect((yield* ctl("ps", "--format", "pid,name")).split("\n")).toEqual(["0 kernel", "1 init", `${pid} counter`])
      yield* ctl("renice", "--pid", String(pid), "--priority", "0")
      expect(JSON.parse(yield* ctl("status", "--pid", String(pid), "--json")).priority).toBe(0)
      yield* ctl("signal", "--pid", String(pid), "--signal", "15")
      const stopped = yield* eventually(Effect.filterOrFail(
        ctl("status", "--pid", String(pid)),
        (out) => out.includes("Terminated")
      ))
      expect(stopped).toBe(`${pid} counter Terminated (0)`)
      expect((yield* ctl("logs", "--pid", String(pid))).split("\n").at(-1)).toMatch(/^stdout: signal 15: stopping after/)
    }))

  it.scopedLive("bad requests are answered with the field that is wrong; a second kernel on the socket is refused", () =>
    Effect.gen(function*() {
      const socket = join(yield* socketDir(), "wos.sock")
      const host = yield* NodeWosHost.make()
      yield* WosCtl.serve(host, socket)
      const ctl = (verb: string, ...args: Array<string>) => Effect.flip(WosCtl.run([verb, "--socket", socket, ...args]))
      expect((yield* ctl("signal", "--pid", "2", "--signal", "3")).message).toMatch(/3 is not a WOS signal number/)
      expect((yield* ctl("renice", "--priority", "1")).message).toMatch(/\["pid"\]\n\s+└─ is missing/)
      expect((yield* ctl("spawn", "--name", "x", "--", "/nonexistent.wasm")).message).toMatch(/cannot be read: ENOENT/)
      expect((yield* ctl("status", "--pid", "77")).message).toBe("no process 77")
      expect((yield* ctl("ps", "--format", "pid,color")).message).toBe("ps --format: no column color")
      expect((yield* ctl("frobnicate")).message).toMatch(/^unknown verb "frobnicate"\nusage: wos-ctl/)
      expect((yield* Effect.flip(WosCtl.serve(host, socket))).message).toBe(`a kernel already listens on ${socket}`)
      expect((yield* Effect.flip(WosCtl.run(["ps", "--socket", join(tmpdir(), "no-such.sock")]))).message).toMatch(
        /no kernel listens on .*: run wos-ctl boot/
      )
    }))

  it.scopedLive("wos-ctl boot runs a kernel in the foreground; TERM ends it and removes its socket", () =>
    Effect.gen(function*() {
      const socket = join(yield* socketDir(), "wos.sock")
      const tsx = resolve(__dirname, "../../../node_modules/.bin/tsx")
      const boot = spawn(tsx, [resolve(__dirname, "../src/wos-ctl.ts"), "boot", "--socket", socket, "--cpus", "2"], {
        stdio: ["ignore", "ignore", "pipe"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => boot.kill("SIGKILL")))
      const ps = yield* eventually(WosCtl.run(["ps", "--format", "pid,name", "--socket", socket]))
      expect(ps).toBe("0 kernel\n1 init")
      const pid = yield* WosCtl.run(["spawn", "--name", "out", "--socket", socket, "--", wasm.output, "hi"])
      const logs = yield* eventually(Effect.filterOrFail(
        WosCtl.run(["logs", "--pid", pid, "--socket", socket]),
        (out) => out.includes("no newline at the end")
      ))
      expect(logs.split("\n")[0]).toBe("stdout: hello from out with 1 args: hi")
      const code = yield* Effect.async<number | null>((resume) => {
        boot.once("exit", (exitCode) => resume(Effect.succeed(exitCode)))
        boot.kill("SIGTERM")
      })
      expect(code).toBe(0)
      expect(existsSync(socket)).toBe(false)
    }))
})
