// Deterministic manager scenarios on the test platform.
import { DaemonManager } from "@duende/core/manager"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { describe, expect, it } from "@effect/vitest"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Behavior from "../src/Behavior.js"
import * as Simulation from "../src/Simulation.js"
import * as TestPlatform from "../src/TestPlatform.js"

const live = DaemonManager.layer.pipe(Layer.provide(TestPlatform.layer()))

const events = Effect.gen(function*() {
  const manager = yield* DaemonManager.DaemonManager
  const seen: Array<DaemonManager.ManagerEvent & { at: number }> = []
  yield* Effect.forkScoped(Stream.runForEach(yield* manager.events, (event) =>
    Effect.map(TestClock.currentTimeMillis, (at) => void seen.push({ ...event, at }))))
  return seen
})

describe("TestPlatform with DaemonManager", () => {
  it.scoped("resets the backoff after a run that lasted minUptime", () =>
    Effect.gen(function*() {
      const manager = yield* DaemonManager.DaemonManager
      const seen = yield* events
      // Crashes after 2s three times, then after 20s (longer than minUptime 10s), then 2s again.
      yield* manager.add(decodeSync({
        name: "flaky",
        command: ["simulated"],
        env: Behavior.toEnv({ exitAfterMs: 2_000 }),
        restart: { policy: "always", backoff: { initial: "1s", multiplier: 2, jitter: 0 }, minUptime: "10s" }
      }))
      yield* Effect.fork(manager.start("flaky"))
      yield* TestClock.adjust("13 seconds")
      const delays = seen.filter((e) => e._tag === "Restarting").map((e) => (e as { delayMs: number }).delayMs)
      expect(delays).toEqual([1000, 2000, 4000]) // each run lasted 2s < minUptime: no reset
      yield* manager.add(decodeSync({
        name: "flaky",
        command: ["simulated"],
        env: Behavior.toEnv({ exitAfterMs: 20_000 }),
        restart: { policy: "always", backoff: { initial: "1s", multiplier: 2, jitter: 0 }, minUptime: "10s" }
      }))
      yield* TestClock.adjust("30 seconds")
      const after = seen.filter((e) => e._tag === "Restarting").map((e) => (e as { delayMs: number }).delayMs)
      expect(after[3]).toBe(8000) // the run that was already going with the old behaviour
      yield* TestClock.adjust("30 seconds")
      const reset = seen.filter((e) => e._tag === "Restarting").map((e) => (e as { delayMs: number }).delayMs)
      expect(reset[4]).toBe(1000) // that run lasted 20s ≥ minUptime: back to the initial delay
    }).pipe(Effect.provide(live)))

  it.scoped("counts uptime from the process's start, not the start request (a 20s boot is no uptime)", () =>
    Effect.gen(function*() {
      const manager = yield* DaemonManager.DaemonManager
      const seen = yield* events
      // Each start takes 20s before the process exists (a VM booting), longer than minUptime;
      // the process then crashes after 2s: a crash loop whose backoff must keep growing.
      yield* manager.add(decodeSync({
        name: "booting",
        command: ["simulated"],
        env: Behavior.toEnv({ spawnAfterMs: 20_000, exitAfterMs: 2_000 }),
        restart: { policy: "always", backoff: { initial: "1s", multiplier: 2, jitter: 0 }, minUptime: "10s" }
      }))
      yield* Effect.fork(manager.start("booting"))
      yield* TestClock.adjust("80 seconds")
      const delays = seen.filter((e) => e._tag === "Restarting").map((e) => (e as { delayMs: number }).delayMs)
      expect(delays.slice(0, 3)).toEqual([1000, 2000, 4000])
    }).pipe(Effect.provide(live)))

  it.scoped("kills a daemon that stops pinging its watchdog and restarts it", () =>
    Effect.gen(function*() {
      const manager = yield* DaemonManager.DaemonManager
      const seen = yield* events
      yield* manager.add(decodeSync({
        name: "hangs",
        command: ["simulated"],
        env: Behavior.toEnv({ hangAfterMs: 5_000 }),
        watchdogInterval: "4s",
        restart: { policy: "on-failure", backoff: { initial: "1s", jitter: 0 } }
      }))
      yield* Effect.fork(manager.start("hangs"))
      yield* TestClock.adjust("12 seconds")
      const tags = seen.map((e) => (e._tag === "Daemon" ? e.event._tag : e._tag))
      expect(tags).toContain("WatchdogMissed")
      const exit = seen.find((e) => e._tag === "Daemon" && e.event._tag === "Exited")
      expect(exit).toMatchObject({ event: { exit: { signal: "SIGABRT", description: "killed by SIGABRT (watchdog timeout)" } } })
      expect(seen.find((e) => e._tag === "Restarting")).toMatchObject({ reason: "killed by SIGABRT (watchdog timeout)" })
    }).pipe(Effect.provide(live)))

  it.scoped("restarts a daemon that turns unhealthy", () =>
    Effect.gen(function*() {
      const manager = yield* DaemonManager.DaemonManager
      const seen = yield* events
      yield* manager.add(decodeSync({
        name: "sickly",
        command: ["simulated"],
        env: Behavior.toEnv({ unhealthyAfterMs: 15_000 }),
        health: { interval: "10s", retries: 2 }
      }))
      yield* Effect.fork(manager.start("sickly"))
      yield* TestClock.adjust("35 seconds")
      const restart = seen.find((e) => e._tag === "Restarting")
      expect(restart).toMatchObject({ reason: "unhealthy (main: unhealthy)", at: 30_000 })
    }).pipe(Effect.provide(live)))

  it.scoped("drive moves the test clock until manager.start returns (ready after 3s)", () =>
    Effect.gen(function*() {
      const manager = yield* DaemonManager.DaemonManager
      yield* manager.add(decodeSync({
        name: "slow",
        command: ["simulated"],
        env: Behavior.toEnv({ readyAfterMs: 3_000, shutdownMs: 1_500 }),
        health: { interval: "10s" }
      }))
      yield* TestPlatform.drive(manager.start("slow"))
      expect(yield* TestClock.currentTimeMillis).toBe(3_000)
      expect((yield* manager.get("slow")).state.status._tag).toBe("Running")
      yield* TestPlatform.drive(manager.stop("slow"))
      expect(yield* TestClock.currentTimeMillis).toBe(4_500)
      expect((yield* manager.get("slow")).state.status._tag).toBe("Stopped")
    }).pipe(Effect.provide(live)))

  it.scoped("drive fails clearly instead of hanging", () =>
    Effect.gen(function*() {
      const never = yield* Effect.flip(TestPlatform.drive(Effect.never))
      expect(never).toBeInstanceOf(TestPlatform.DriveStalled)
      expect(never.message).toBe("waiting at 0 ms with nothing asleep: it waits for something other than time")
      const long = yield* Effect.flip(TestPlatform.drive(Effect.sleep("2 days"), { budget: "1 hour" }))
      expect(long.message).toBe("still waiting after 1h of test time (next wake-up at 172800000 ms)")
      // Its own failures pass through unchanged.
      const failed = yield* Effect.flip(TestPlatform.drive(Effect.zipRight(Effect.sleep("5 seconds"), Effect.fail("boom"))))
      expect(failed).toBe("boom")
      expect(yield* TestClock.currentTimeMillis).toBe(5_000)
    }))

  it("simulates 24 hours of a crash-looping daemon in virtual time", async () => {
    const started = performance.now()
    const restarts = await Simulation.runPromise(
      Effect.gen(function*() {
        const manager = yield* DaemonManager.DaemonManager
        yield* manager.add(decodeSync({
          name: "doomed",
          command: ["simulated"],
          env: Behavior.toEnv({ exitAfterMs: 5_000 }),
          // the crash-loop limit at its highest: this test is about the backoff, not giving up
          restart: { policy: "always", backoff: { initial: "1s", max: "1m", jitter: 0.2 }, crashLoop: { burst: 10_000, interval: "1m" } }
        }))
        yield* Effect.fork(manager.start("doomed"))
        yield* Simulation.advance("24 hours")
        return (yield* manager.get("doomed")).restarts
      }).pipe(Logger.withMinimumLogLevel(LogLevel.None), Effect.provide(live))
    )
    // After the first few, each cycle is 5s running + 1m of backoff (capped): about 1,330 restarts a day.
    expect(restarts).toBeGreaterThan(1_300)
    expect(restarts).toBeLessThan(1_400)
    expect(performance.now() - started).toBeLessThan(120_000) // 24 h in far less: generous for a loaded 2-core machine; bench/test-platform.mjs reports the figure
  })
})
