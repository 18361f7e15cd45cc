// The WOS process model: pids, states, scheduling with aging, signals, exit and reaping, limits.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as WosKernel from "../src/WosKernel.js"
import { numbers } from "../src/WosSignal.js"

const { KILL, TERM, USR1, USR2, INT, CHLD } = numbers
const passes = (kernel: WosKernel.WosKernel, n: number) =>
  Effect.forEach(Array.from({ length: n }), () => kernel.schedule)
const stateOf = (kernel: WosKernel.WosKernel, pid: number) => Effect.map(kernel.get(pid), (p) => p.state)

describe("WosKernel", () => {
  it.effect("boots with the kernel as PID 0 and init as PID 1; pids are monotonic and never reused", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const boot = yield* kernel.ps
      expect(boot.map((p) => [p.pid, p.name])).toEqual([[0, "kernel"], [1, "init"]])
      const a = yield* kernel.spawn({ name: "a" })
      const b = yield* kernel.spawn({ name: "b" })
      yield* kernel.exit(b, 0)
      const c = yield* kernel.spawn({ name: "c" })
      expect([a, b, c]).toEqual([2, 3, 4])
      const info = yield* kernel.get(a)
      expect(info).toMatchObject({ ppid: 1, priority: 4, state: { _tag: "Ready" } })
    }))

  it.effect("a bad spawn request is refused naming the field", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const error = yield* Effect.flip(kernel.spawn({ name: "a", priority: 9 }))
      expect(error._tag).toBe("InvalidRequest")
      expect(error.message).toMatch(/priority/)
      expect((yield* Effect.flip(kernel.spawn({ name: "" })))._tag).toBe("InvalidRequest")
      expect((yield* Effect.flip(kernel.spawn({ name: "a", parent: 77 })))._tag).toBe("NoSuchProcess")
    }))

  it.effect("the scheduler runs the lowest non-empty level", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      yield* kernel.spawn({ name: "low", priority: 6 })
      const high = yield* kernel.spawn({ name: "high", priority: 1 })
      yield* kernel.spawn({ name: "mid", priority: 4 })
      expect(yield* kernel.schedule).toEqual([high])
      expect(yield* stateOf(kernel, high)).toEqual(WosKernel.ProcessState.Running())
    }))

  it.effect("round-robin inside a level", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const a = yield* kernel.spawn({ name: "a", priority: 3 })
      const b = yield* kernel.spawn({ name: "b", priority: 3 })
      const c = yield* kernel.spawn({ name: "c", priority: 3 })
      expect((yield* passes(kernel, 6)).flat()).toEqual([a, b, c, a, b, c])
    }))

  it.effect("with N CPUs, N processes run per pass", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make({ cpus: 2 })
      const a = yield* kernel.spawn({ name: "a", priority: 0 })
      const b = yield* kernel.spawn({ name: "b", priority: 1 })
      const c = yield* kernel.spawn({ name: "c", priority: 2 })
      expect(yield* kernel.schedule).toEqual([a, b])
      expect(yield* stateOf(kernel, c)).toEqual(WosKernel.ProcessState.Ready())
    }))

  it.effect("a process not chosen ages by 1 per pass and at 5 is boosted one level; it runs once level with the other", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const high = yield* kernel.spawn({ name: "high", priority: 2 })
      const low = yield* kernel.spawn({ name: "low", priority: 5 })
      yield* passes(kernel, 4)
      expect(yield* kernel.get(low)).toMatchObject({ age: 4, effectivePriority: 5 })
      yield* kernel.schedule
      expect(yield* kernel.get(low)).toMatchObject({ age: 0, effectivePriority: 4 })
      // 5 → 4 → 3 → 2 takes 15 passes; then it is level with high and waited longer.
      const order = (yield* passes(kernel, 11)).flat()
      expect(order.slice(0, 10).every((pid) => pid === high)).toBe(true)
      expect(order[10]).toBe(low)
      // Once it ran it is back at its own priority.
      expect(yield* kernel.get(low)).toMatchObject({ effectivePriority: 5, age: 0, slices: 1 })
    }))

  it.effect("blocked processes and init are never scheduled; a signal unblocks", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const a = yield* kernel.spawn({ name: "a" })
      yield* kernel.block(a)
      expect(yield* kernel.schedule).toEqual([])
      yield* kernel.sigaction(a, USR1, true)
      yield* kernel.signal(a, USR1)
      expect(yield* kernel.schedule).toEqual([a])
      expect((yield* Effect.flip(kernel.block(1)))._tag).toBe("InvalidRequest")
    }))

  it.effect("time slices come from Clock: run schedules once per quantum", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make({ quantum: "10 millis" })
      const a = yield* kernel.spawn({ name: "a" })
      const seen: Array<ReadonlyArray<number>> = []
      const fiber = yield* Effect.fork(kernel.run((running) => Effect.sync(() => seen.push(running))))
      yield* TestClock.adjust("1 millis")
      expect(seen).toHaveLength(1)
      yield* TestClock.adjust("30 millis")
      expect(seen).toEqual([[a], [a], [a], [a]])
      yield* Fiber.interrupt(fiber)
      expect((yield* kernel.get(a)).slices).toBe(4)
    }))

  it.effect("KILL terminates at once with code 9", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const parent = yield* kernel.spawn({ name: "parent" })
      const a = yield* kernel.spawn({ name: "a", parent })
      yield* kernel.signal(a, TERM)
      yield* kernel.signal(a, KILL)
      expect(yield* stateOf(kernel, a)).toEqual(WosKernel.ProcessState.Terminated({ code: 9 }))
      expect((yield* kernel.get(a)).pending).toEqual([])
    }))

  it.effect("other signals queue and are delivered lowest number first, each once", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const a = yield* kernel.spawn({ name: "a" })
      for (const signal of [TERM, USR2, INT, USR1]) yield* kernel.sigaction(a, signal, true)
      for (const signal of [TERM, USR2, INT, USR1, TERM]) yield* kernel.signal(a, signal)
      expect((yield* kernel.get(a)).pending).toEqual([INT, USR1, USR2, TERM])
      const delivered: Array<number> = []
      for (;;) {
        const next = yield* kernel.deliver(a)
        if (Option.isNone(next)) break
        expect(next.value.action).toBe("handler")
        delivered.push(next.value.signal)
      }
      expect(delivered).toEqual([INT, USR1, USR2, TERM])
      expect(yield* stateOf(kernel, a)).toEqual(WosKernel.ProcessState.Ready())
    }))

  it.effect("the default action terminates with the signal number; CHLD is ignored by default", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const parent = yield* kernel.spawn({ name: "parent" })
      const a = yield* kernel.spawn({ name: "a", parent })
      yield* kernel.signal(a, CHLD)
      yield* kernel.signal(a, USR2)
      expect(yield* kernel.deliver(a)).toEqual(Option.some({ signal: USR2, action: "terminate" }))
      expect(yield* stateOf(kernel, a)).toEqual(WosKernel.ProcessState.Terminated({ code: USR2 }))
      const b = yield* kernel.spawn({ name: "b" })
      yield* kernel.signal(b, CHLD)
      expect(yield* kernel.deliver(b)).toEqual(Option.some({ signal: CHLD, action: "ignore" }))
      expect(yield* stateOf(kernel, b)).toEqual(WosKernel.ProcessState.Ready())
    }))

  it.effect("KILL cannot be handled; unknown signals and signals to init are refused", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const a = yield* kernel.spawn({ name: "a" })
      expect((yield* Effect.flip(kernel.sigaction(a, KILL, true))).message).toMatch(/KILL cannot be handled/)
      expect((yield* Effect.flip(kernel.signal(a, 3))).message).toMatch(/WOS signal number/)
      expect((yield* Effect.flip(kernel.signal(1, KILL))).message).toMatch(/init/)
      expect((yield* Effect.flip(kernel.signal(99, TERM)))._tag).toBe("NoSuchProcess")
    }))

  it.effect("exit sends CHLD to the parent, which reaps the zombie with wait", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const parent = yield* kernel.spawn({ name: "parent" })
      const child = yield* kernel.spawn({ name: "child", parent })
      yield* kernel.exit(child, 3)
      expect((yield* kernel.get(parent)).pending).toEqual([CHLD])
      expect(yield* stateOf(kernel, child)).toEqual(WosKernel.ProcessState.Terminated({ code: 3 }))
      expect(yield* kernel.wait(parent)).toEqual(Option.some({ pid: child, code: 3 }))
      expect((yield* Effect.flip(kernel.get(child)))._tag).toBe("NoSuchProcess")
      expect(yield* kernel.wait(parent)).toEqual(Option.none())
    }))

  it.effect("init reaps its children at once", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const a = yield* kernel.spawn({ name: "a" })
      yield* kernel.exit(a, 0)
      expect((yield* kernel.ps).map((p) => p.pid)).toEqual([0, 1])
    }))

  it.effect("orphans are re-parented to init; zombie orphans are reaped", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const parent = yield* kernel.spawn({ name: "parent" })
      const live = yield* kernel.spawn({ name: "live", parent })
      const dead = yield* kernel.spawn({ name: "dead", parent })
      const grandchild = yield* kernel.spawn({ name: "grandchild", parent: live })
      yield* kernel.exit(dead, 1)
      yield* kernel.exit(parent, 0)
      expect((yield* kernel.get(live)).ppid).toBe(1)
      expect((yield* kernel.get(grandchild)).ppid).toBe(live)
      expect((yield* kernel.ps).map((p) => p.pid)).toEqual([0, 1, live, grandchild])
    }))

  it.effect("renice changes the level; out of range is refused", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const a = yield* kernel.spawn({ name: "a", priority: 4 })
      const b = yield* kernel.spawn({ name: "b", priority: 5 })
      yield* kernel.renice(b, 0)
      expect(yield* kernel.schedule).toEqual([b])
      expect((yield* Effect.flip(kernel.renice(a, -1))).message).toMatch(/renice/)
    }))

  it.effect("the process limit counts every entry of the table", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make({ limits: { processes: 10 } })
      for (let i = 0; i < 8; i++) yield* kernel.spawn({ name: `p${i}` })
      const error = yield* Effect.flip(kernel.spawn({ name: "one too many" }))
      expect(error).toMatchObject({ _tag: "ProcessLimitReached", limit: 10 })
      expect(error.message).toBe("the process table is full (10 processes)")
    }))

  it.effect("1000 processes by default", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      let spawned = 0
      for (;;) {
        const result = yield* Effect.either(kernel.spawn({ name: "p" }))
        if (result._tag === "Left") {
          expect(result.left._tag).toBe("ProcessLimitReached")
          break
        }
        spawned++
      }
      expect(spawned).toBe(998)
    }))

  it.effect("the zombie limit stops spawns until zombies are reaped", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const parent = yield* kernel.spawn({ name: "parent" })
      for (let i = 0; i < 100; i++) yield* kernel.exit(yield* kernel.spawn({ name: "z", parent }), 0)
      expect((yield* Effect.flip(kernel.spawn({ name: "one more", parent })))._tag).toBe("ZombieLimitReached")
      yield* kernel.wait(parent)
      yield* kernel.spawn({ name: "now it fits", parent })
    }))

  it.effect("memory: 256 MiB reserved in all; an exit gives its memory back", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const MiB = 1024 * 1024
      const a = yield* kernel.spawn({ name: "a", memory: 200 * MiB })
      const error = yield* Effect.flip(kernel.spawn({ name: "b", memory: 64 * MiB }))
      expect(error).toMatchObject({ _tag: "MemoryLimitReached", requested: 64 * MiB, available: 56 * MiB })
      yield* kernel.exit(a, 0)
      yield* kernel.spawn({ name: "b", memory: 64 * MiB })
    }))

  it.effect("fds: 256 per process", () =>
    Effect.gen(function*() {
      const kernel = yield* WosKernel.make()
      const a = yield* kernel.spawn({ name: "a" })
      for (let i = 3; i < 256; i++) yield* kernel.openFd(a)
      expect(yield* Effect.flip(kernel.openFd(a))).toMatchObject({ _tag: "FdLimitReached", pid: a, limit: 256 })
      yield* kernel.closeFd(a)
      yield* kernel.openFd(a)
      expect((yield* Effect.flip(kernel.spawn({ name: "b", fds: 300 })))._tag).toBe("FdLimitReached")
    }))
})
