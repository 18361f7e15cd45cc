import { Daemon, HealthStatus, type PromiseDaemon } from "@duende/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { test } from "vitest"
import * as TestHarness from "../src/TestHarness.js"

// The README's example: a user's own daemon, tested on TestClock.
let healthy = true
const api = Daemon.make({
  name: "api",
  init: (ctx) => ctx.status("serving"),
  run: () => Effect.never,
  health: () => Effect.sync(() => (healthy ? HealthStatus.healthy() : HealthStatus.unhealthy("db down"))),
  shutdown: () => Effect.sleep("2 seconds") // drains for 2s: inside its 5s deadline
})

describe("TestHarness", () => {
  it.scoped("drives a daemon's lifecycle on the test clock", () =>
    Effect.gen(function*() {
      healthy = true
      const harness = yield* TestHarness.start(api, {
        config: { health: { interval: "10s", retries: 2 }, shutdownTimeout: "5s" }
      })
      yield* harness.waitFor("READY")
      expect((yield* harness.status)._tag).toBe("Running")
      healthy = false
      yield* harness.advance("20 seconds")
      expect(yield* harness.health).toBe("unhealthy")
      const ended = yield* harness.stop()
      expect(ended.code).toBe(143)
      expect(yield* harness.log).toEqual([
        "0 STATUS=starting",
        "0 STATUS=serving",
        "0 READY",
        "0 STATUS=serving",
        "10000 HEALTH=starting/1",
        "20000 HEALTH=unhealthy/2",
        "20000 STOPPING",
        "20000 STATUS=stopping: stopped by SIGTERM, shutdown completed",
        "22000 STATUS=stopped by SIGTERM, shutdown completed"
      ])
    }))

  it.scoped("catches a daemon whose shutdown ignores its deadline", () =>
    Effect.gen(function*() {
      const stuck = Daemon.make({ name: "stuck", run: () => Effect.never, shutdown: () => Effect.never })
      const harness = yield* TestHarness.start(stuck, { config: { shutdownTimeout: "5s" } })
      yield* harness.waitFor("READY")
      const error = yield* Effect.flip(harness.stop())
      expect(error).toBeInstanceOf(TestHarness.HarnessError)
      expect(error.message).toBe(
        "stuck did not shut down within its 5s deadline: it was still running shutdown when the exit was forced (exit 4)"
      )
    }))

  it.scoped("records watchdog pings and reloads", () =>
    Effect.gen(function*() {
      const harness = yield* TestHarness.start(
        Daemon.make({ name: "pinger", run: () => Effect.never, reload: () => Effect.void }),
        { watchdogTimeout: "10 seconds" }
      )
      yield* harness.waitFor("READY")
      yield* harness.advance("20 seconds")
      yield* harness.signal("SIGHUP")
      const log = yield* harness.log
      expect(log.filter((l) => l.endsWith("WATCHDOG"))).toEqual([
        "0 WATCHDOG",
        "5000 WATCHDOG",
        "10000 WATCHDOG",
        "15000 WATCHDOG",
        "20000 WATCHDOG"
      ])
      expect(log.slice(-4)).toEqual(["20000 RELOADING", "20000 STATUS=reloading", "20000 READY", "20000 STATUS=running"])
    }))
})

class Worker implements PromiseDaemon.PromiseDaemon {
  readonly name = "worker"
  stoppedWith: number | undefined
  async run(ctx: PromiseDaemon.RunContext) {
    await ctx.untilShutdown()
  }
  async shutdown(timeoutMs: number) {
    this.stoppedWith = timeoutMs
  }
}

test("the Promise harness drives a class daemon without Effect", async () => {
  const worker = new Worker()
  const harness = await TestHarness.startPromise(worker, { config: { shutdownTimeout: "3s" } })
  await harness.waitFor("READY")
  expect((await harness.status())._tag).toBe("Running")
  const ended = await harness.stop()
  expect(ended.code).toBe(143)
  expect(worker.stoppedWith).toBe(3000)
  await harness.dispose()
})
