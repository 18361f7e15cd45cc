// restart.cron on the test platform, driven by TestClock: the daemon is restarted at the schedule's
// times (local time, as cron has it), only while it is meant to run, and the schedule ends with the daemon.
import { DaemonManager } from "@duende/core/manager"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as TestPlatform from "../src/TestPlatform.js"

const live = DaemonManager.layer.pipe(Layer.provide(TestPlatform.layer()))

/** The times (local wall clock, "HH:MM") of the restarts asked for by the schedule. */
const cronRestarts = Effect.gen(function*() {
  const manager = yield* DaemonManager.DaemonManager
  const seen: Array<{ name: string; at: string; reason: string }> = []
  yield* Effect.forkScoped(Stream.runForEach(yield* manager.events, (event) =>
    Effect.map(TestClock.currentTimeMillis, (at) => {
      if (event._tag !== "Restarting" || !event.reason.startsWith("cron")) return
      const local = new Date(at)
      seen.push({ name: event.name, at: `${local.getDate()} ${String(local.getHours()).padStart(2, "0")}:${String(local.getMinutes()).padStart(2, "0")}`, reason: event.reason })
    })))
  return seen
})

// 2026-12-04 02:58 in the machine's own time zone: cron reads the local clock.
const before3am = new Date(2026, 11, 4, 2, 58).getTime()

describe("restart.cron (TestClock)", () => {
  it.scoped("restarts a running daemon at each time of its schedule, gracefully, with the schedule as reason", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(before3am)
      const manager = yield* DaemonManager.DaemonManager
      const seen = yield* cronRestarts
      // No health checks: a day of them on the TestClock would be 2,880 runs.
      yield* manager.add(decodeSync({ name: "nightly", command: ["simulated"], health: { enabled: false }, restart: { cron: "0 3 * * *" } }))
      yield* manager.start("nightly")
      const first = (yield* manager.get("nightly")).state.pid
      yield* TestClock.adjust("1 minute")
      expect(seen).toEqual([])
      yield* TestClock.adjust("2 minutes")
      expect(seen).toEqual([{ name: "nightly", at: "4 03:00", reason: 'cron "0 3 * * *"' }])
      const after = yield* manager.get("nightly")
      expect(after.state.status._tag).toBe("Running")
      expect(after.state.pid).not.toBe(first)
      yield* TestClock.adjust("1 day")
      expect(seen.map((each) => each.at)).toEqual(["4 03:00", "5 03:00"])
    }).pipe(Effect.provide(live)))

  it.scoped("does not start a stopped daemon, and ends with the daemon's removal", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(before3am)
      const manager = yield* DaemonManager.DaemonManager
      const seen = yield* cronRestarts
      yield* manager.add(decodeSync({ name: "quarterly", command: ["simulated"], restart: { cron: "*/15 * * * *" } }))
      yield* manager.start("quarterly")
      yield* TestClock.adjust("20 minutes") // 03:00 and 03:15
      expect(seen.map((each) => each.at)).toEqual(["4 03:00", "4 03:15"])
      yield* manager.stop("quarterly")
      yield* TestClock.adjust("30 minutes")
      expect(seen).toHaveLength(2)
      expect((yield* manager.get("quarterly")).state.status._tag).toBe("Stopped")
      yield* manager.start("quarterly")
      yield* TestClock.adjust("15 minutes")
      expect(seen).toHaveLength(3)
      yield* manager.remove("quarterly")
      yield* TestClock.adjust("1 hour")
      expect(seen).toHaveLength(3)
    }).pipe(Effect.provide(live)))

  it.scoped("a changed schedule replaces the old one; a config without one has none", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(before3am)
      const manager = yield* DaemonManager.DaemonManager
      const seen = yield* cronRestarts
      yield* manager.add(decodeSync({ name: "moved", command: ["simulated"], health: { enabled: false }, restart: { cron: "0 3 * * *" } }))
      yield* manager.start("moved")
      yield* manager.add(decodeSync({ name: "moved", command: ["simulated"], health: { enabled: false }, restart: { cron: "30 4 * * *" } }))
      yield* manager.add(decodeSync({ name: "plain", command: ["simulated"], health: { enabled: false } }))
      yield* manager.start("plain")
      yield* TestClock.adjust("3 hours")
      expect(seen).toEqual([{ name: "moved", at: "4 04:30", reason: 'cron "30 4 * * *"' }])
    }).pipe(Effect.provide(live)))

  it("refuses an expression cron cannot run, naming the field and what is wrong", () => {
    expect(() => decodeSync({ name: "bad", command: ["x"], restart: { cron: "61 * * * *" } })).toThrow(
      /restart\.cron.*expected a cron expression such as "0 3 \* \* \*".*minute: 61/s
    )
    expect(() => decodeSync({ name: "bad", command: ["x"], restart: { cron: 3 } })).toThrow(/restart\.cron.*got 3/s)
  })
})
