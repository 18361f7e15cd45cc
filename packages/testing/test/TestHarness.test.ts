import { Daemon, HealthStatus, type PromiseDaemon } from "@duende/core"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
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

// A daemon that needs a service: the harness takes the layer that provides it.
class Db extends Context.Tag("test/Db")<Db, {
  readonly count: (table: string) => Effect.Effect<number>
  readonly ping: Effect.Effect<boolean>
}>() {}

const orders = Daemon.make({
  name: "orders",
  init: () => Effect.flatMap(Db, (db) => db.count("orders")),
  run: (ctx) => Effect.zipRight(ctx.status(`${ctx.state} orders`), Effect.never),
  health: () =>
    Effect.map(Effect.flatMap(Db, (db) => db.ping), (up) => (up ? HealthStatus.healthy() : HealthStatus.unhealthy("db down"))),
  shutdown: () => Effect.flatMap(Db, (db) => Effect.asVoid(db.count("pending")))
})

const fakeDb = (calls: Array<string>, up: () => boolean) =>
  Layer.scoped(
    Db,
    Effect.acquireRelease(
      Effect.sync(() => {
        calls.push("open")
        return {
          count: (table: string) => Effect.sync(() => (calls.push(`count ${table}`), 42)),
          ping: Effect.sync(up)
        }
      }),
      () => Effect.sync(() => void calls.push("close"))
    )
  )

describe("TestHarness with a layer", () => {
  it.scoped("provides the daemon's services, and releases them after its shutdown", () =>
    Effect.gen(function*() {
      const calls: Array<string> = []
      let up = true
      const harness = yield* TestHarness.start(orders, {
        layer: fakeDb(calls, () => up),
        config: { health: { interval: "5s", retries: 1 } }
      })
      yield* harness.waitFor("READY")
      yield* harness.waitFor("STATUS=42 orders")
      up = false
      yield* harness.advance("5 seconds")
      expect(yield* harness.health).toBe("unhealthy")
      expect((yield* harness.stop()).code).toBe(143)
      expect(calls).toEqual(["open", "count orders", "count pending", "close"])
    }))

  it.scoped("a layer that fails to build fails init (exit 3)", () =>
    Effect.gen(function*() {
      const harness = yield* TestHarness.start(orders, { layer: Layer.fail("no database") })
      yield* harness.advance("1 second")
      const ended = yield* harness.ended
      expect(ended._tag === "Some" && ended.value.code).toBe(3)
      expect(ended._tag === "Some" && ended.value.reason._tag).toBe("InitFailed")
    }))

  it("is required by the types when the daemon needs a service", () => {
    // @ts-expect-error: orders needs Db, and no layer provides it
    const missing = () => TestHarness.start(orders)
    // @ts-expect-error: a layer for another service does not do
    const wrong = () => TestHarness.start(orders, { layer: Layer.succeed(Context.GenericTag<string>("other"), "x") })
    expect([typeof missing, typeof wrong]).toEqual(["function", "function"])
  })

  test("the Promise harness takes the layer too", async () => {
    const calls: Array<string> = []
    const harness = await TestHarness.startPromise(orders, { layer: fakeDb(calls, () => true) })
    await harness.waitFor("READY")
    expect((await harness.stop()).code).toBe(143)
    await harness.dispose()
    expect(calls).toEqual(["open", "count orders", "count pending", "close"])
  })
})
