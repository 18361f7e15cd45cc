// Real WebAssembly processes (C compiled with clang for wasm32-wasi) in worker threads under the
// kernel: output, exit codes, ready, TERM handled, default actions, KILL of a spinner, the memory
// cap, modules refused, priorities with one CPU.
import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeWosHost from "../src/NodeWosHost.js"
import { numbers } from "../src/WosSignal.js"
import { compileAll, gate, sources } from "./helpers/wasm.js"

const MiB = 1024 * 1024

describe.runIf(gate.ok)(`NodeWosHost${gate.label}`, () => {
  let wasm: Awaited<ReturnType<typeof compileAll>>
  beforeAll(async () => {
    wasm = await compileAll()
  })

  it.scopedLive("runs a module with its args and env; stdout and stderr become log lines; the exit code is kept", () =>
    Effect.gen(function*() {
      const host = yield* NodeWosHost.make()
      const proc = yield* host.spawn({ name: "out", module: wasm.output, args: ["a", "b c"], env: { GREETING: "hola" } })
      const exit = yield* proc.awaitExit
      expect(exit).toMatchObject({ code: 7, signal: undefined, reason: "exit 7" })
      const lines = (yield* proc.logs).map((line) => `${line.stream}: ${line.text}`)
      expect(lines).toEqual([
        "stdout: hello from out with 2 args: a b c",
        "stdout: GREETING=hola",
        "stderr: to stderr",
        "stdout: no newline at the end"
      ])
      expect(yield* proc.ready).toBe(false)
      // init reaped it: only the kernel and init are left.
      expect((yield* host.kernel.ps).map((p) => p.pid)).toEqual([0, 1])
    }))

  it.scopedLive("a daemon reports ready and healthy, and on TERM stops gracefully with exit 0", () =>
    Effect.gen(function*() {
      const host = yield* NodeWosHost.make()
      const sandbox = mkdtempSync(join(tmpdir(), "wos-sandbox-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(sandbox, { recursive: true, force: true })))
      const proc = yield* host.spawn({ name: "counter", module: wasm.counter, sandbox })
      expect(yield* proc.awaitReady).toBe(true)
      expect(yield* proc.healthy).toBe(true)
      const info = yield* host.kernel.get(proc.pid)
      expect(info.handled).toEqual([numbers.INT, numbers.USR1, numbers.TERM])
      yield* host.signal(proc.pid, numbers.TERM)
      const exit = yield* proc.awaitExit
      expect(exit).toMatchObject({ code: 0, signal: undefined })
      const logs = (yield* proc.logs).map((line) => line.text)
      expect(logs[0]).toBe(`counter ${proc.pid} started`)
      expect(logs.at(-1)).toMatch(/^signal 15: stopping after \d+ counts$/)
      const counted = Number(logs.at(-1)!.match(/after (\d+)/)![1])
      expect(Number(readFileSync(join(sandbox, "count"), "utf8"))).toBe(counted)
    }))

  it.scopedLive("a handled signal runs its handler and the process goes on", () =>
    Effect.gen(function*() {
      const host = yield* NodeWosHost.make()
      const proc = yield* host.spawn({ name: "counter", module: wasm.counter })
      const events = yield* host.events
      yield* proc.awaitReady
      yield* host.signal(proc.pid, numbers.USR1)
      yield* events.pipe(Stream.filter((e) => e._tag === "Log" && e.line.text.startsWith("USR1: count")), Stream.take(1), Stream.runDrain)
      expect(yield* proc.exit).toEqual(Option.none())
      yield* host.signal(proc.pid, numbers.INT)
      expect((yield* proc.awaitExit).code).toBe(0)
      expect((yield* proc.logs).at(-1)?.text).toMatch(/^signal 2: stopping/)
    }))

  it.scopedLive("without a handler, TERM's default action ends the process with code 15", () =>
    Effect.gen(function*() {
      const host = yield* NodeWosHost.make()
      const proc = yield* host.spawn({ name: "work", module: wasm.work, args: ["100000000"] })
      yield* host.signal(proc.pid, numbers.TERM)
      expect(yield* proc.awaitExit).toMatchObject({ code: 15, signal: 15, reason: "terminated by signal 15" })
    }))

  it.scopedLive("a module that never calls the host ignores TERM; KILL stops it at once", () =>
    Effect.gen(function*() {
      const host = yield* NodeWosHost.make()
      const proc = yield* host.spawn({ name: "spin", module: wasm.spin })
      const events = yield* host.events
      yield* events.pipe(Stream.filter((e) => e._tag === "Log" && e.line.text === "spinning"), Stream.take(1), Stream.runDrain)
      yield* host.signal(proc.pid, numbers.TERM)
      yield* Effect.sleep("300 millis")
      expect(yield* proc.exit).toEqual(Option.none())
      expect((yield* host.kernel.get(proc.pid)).pending).toEqual([numbers.TERM])
      yield* host.signal(proc.pid, numbers.KILL)
      expect(yield* proc.awaitExit).toMatchObject({ code: 9, signal: 9, reason: "killed by KILL" })
      expect((yield* host.kernel.ps).map((p) => p.pid)).toEqual([0, 1])
    }))

  it.scopedLive("memory is capped for real: a module growing past its cap gets no more", () =>
    Effect.gen(function*() {
      const host = yield* NodeWosHost.make()
      const small = yield* host.spawn({ name: "grow", module: wasm.grow, memory: 4 * MiB })
      const large = yield* host.spawn({ name: "grow", module: wasm.grow, memory: 64 * MiB })
      expect((yield* small.awaitExit).code).toBe(12)
      expect((yield* large.awaitExit).code).toBe(12)
      const got = (proc: NodeWosHost.WosProcess) =>
        Effect.map(proc.logs, (lines) => Number(lines[0]!.text.match(/allocated (\d+) MiB/)![1]))
      expect(yield* got(small)).toBeLessThan(4)
      expect(yield* got(large)).toBeGreaterThanOrEqual(60)
      expect(yield* got(large)).toBeLessThan(64)
    }))

  it.scopedLive("file descriptors count against the kernel's limit of 256: past it open fails with EMFILE", () =>
    Effect.gen(function*() {
      const host = yield* NodeWosHost.make()
      const proc = yield* host.spawn({ name: "fds", module: wasm.fds })
      expect((yield* proc.awaitExit).code).toBe(0)
      expect((yield* proc.logs).map((line) => line.text)).toEqual(["opened 252: No file descriptors available"])
    }))

  it.scopedLive("the kernel's memory total is reserved per process cap", () =>
    Effect.gen(function*() {
      const host = yield* NodeWosHost.make()
      yield* host.spawn({ name: "big", module: wasm.counter, memory: 200 * MiB })
      const error = yield* Effect.flip(host.spawn({ name: "more", module: wasm.counter, memory: 100 * MiB }))
      expect(error).toMatchObject({ _tag: "MemoryLimitReached", requested: 100 * MiB, available: 56 * MiB })
    }))

  it.scopedLive("a module that exports its own memory is refused; so are bad requests, naming the field", () =>
    Effect.gen(function*() {
      const host = yield* NodeWosHost.make()
      const refused = yield* Effect.flip(host.spawn({ name: "own", module: wasm.ownMemory }))
      expect(refused._tag).toBe("ModuleRefused")
      expect(refused.message).toMatch(/exports its own memory.*-Wl,--import-memory/)
      const missing = yield* Effect.flip(host.spawn({ name: "x", module: "/nonexistent.wasm" }))
      expect(missing.message).toMatch(/cannot be read: ENOENT/)
      const notWasm = yield* Effect.flip(host.spawn({ name: "x", module: sources.counter }))
      expect(notWasm.message).toMatch(/not a WebAssembly module/)
      const bad = yield* Effect.flip(host.spawn({ name: "x", module: wasm.counter, priority: 9 }))
      expect(bad._tag).toBe("InvalidRequest")
      expect(bad.message).toMatch(/priority/)
      expect((yield* host.kernel.ps).map((p) => p.pid)).toEqual([0, 1])
    }))

  it.scopedLive("a process spawns children through the kernel, reaps one; init adopts and reaps the other", () =>
    Effect.gen(function*() {
      const host = yield* NodeWosHost.make({ cpus: 2 })
      const sandbox = mkdtempSync(join(tmpdir(), "wos-sandbox-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(sandbox, { recursive: true, force: true })))
      copyFileSync(wasm.fork, join(sandbox, "fork.wasm"))
      const events = yield* host.events
      const exits = yield* events.pipe(
        Stream.filter((e) => e._tag === "Exited"),
        Stream.map((e) => [e.pid, e.exit.code]),
        Stream.take(3),
        Stream.runCollect,
        Effect.fork
      )
      const parent = yield* host.spawn({ name: "fork", module: join(sandbox, "fork.wasm"), sandbox })
      expect((yield* parent.awaitExit).code).toBe(0)
      const lines = (yield* parent.logs).map((line) => line.text)
      const [quick, slow] = lines[0]!.match(/^spawned (\d+) and (\d+)$/)!.slice(1).map(Number) as [number, number]
      expect(lines.slice(1)).toEqual([`reaped ${quick}: exit 3`, `leaving ${slow} to init`])
      // The slow child outlived its parent: init is its parent now, and reaps it when it exits.
      expect((yield* host.kernel.get(slow)).ppid).toBe(1)
      expect((yield* host.kernel.get(slow)).state._tag).not.toBe("Terminated")
      expect(Chunk.toReadonlyArray(yield* Fiber.join(exits))).toEqual([[quick, 3], [parent.pid, 0], [slow, 4]])
      expect((yield* host.kernel.ps).map((p) => p.pid)).toEqual([0, 1])
      expect((yield* (yield* host.process(slow)).logs).map((line) => line.text)).toEqual([`child ${slow} exits with 4`])
    }))

  it.scopedLive("a child's module must be in the parent's sandbox", () =>
    Effect.gen(function*() {
      const host = yield* NodeWosHost.make()
      const sandbox = mkdtempSync(join(tmpdir(), "wos-sandbox-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(sandbox, { recursive: true, force: true })))
      // fork.wasm is not in this sandbox: both spawns fail, the parent exits 1.
      const parent = yield* host.spawn({ name: "fork", module: wasm.fork, sandbox })
      expect((yield* parent.awaitExit).code).toBe(1)
      const lines = (yield* parent.logs).map((line) => line.text)
      expect(lines[0]).toMatch(/^wos: spawn \/sandbox\/fork.wasm: .*cannot be read: ENOENT/)
    }))

  it.scopedLive("with one CPU the higher priority runs: started second, it finishes first", () =>
    Effect.gen(function*() {
      const host = yield* NodeWosHost.make({ cpus: 1, quantum: "5 millis" })
      const events = yield* host.events
      const exits = yield* events.pipe(
        Stream.filter((e) => e._tag === "Exited"),
        Stream.map((e) => e.pid),
        Stream.take(2),
        Stream.runCollect,
        Effect.fork
      )
      const low = yield* host.spawn({ name: "low", module: wasm.work, args: ["8000"], priority: 6 })
      const high = yield* host.spawn({ name: "high", module: wasm.work, args: ["8000"], priority: 1 })
      expect(Chunk.toReadonlyArray(yield* Fiber.join(exits))).toEqual([high.pid, low.pid])
      expect((yield* high.awaitExit).code).toBe(0)
      expect((yield* low.awaitExit).code).toBe(0)
    }))
})
