import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import * as Daemon from "../src/Daemon.js"
import * as ExitReason from "../src/ExitReason.js"
import * as HealthStatus from "../src/HealthStatus.js"
import { decodeSync } from "../src/DaemonConfigSchema.js"
import { makeTrace, settle, start } from "./helpers/harness.js"

describe("lifecycle: the graceful path", () => {
  it.effect("init → ready → run; SIGTERM stops run, runs shutdown, then releases init resources; exit 143", () =>
    Effect.gen(function*() {
      const trace = yield* makeTrace
      const daemon = Daemon.make({
        name: "ordered",
        init: () =>
          Effect.acquireRelease(Effect.as(trace.add("init"), { connections: 3 }), () => trace.add("release")),
        run: (ctx) =>
          Effect.zipRight(trace.add(`run with ${ctx.state.connections}`), Effect.never).pipe(
            Effect.onInterrupt(() => trace.add("run interrupted"))
          ),
        shutdown: (ctx) =>
          Effect.gen(function*() {
            const left = yield* ctx.remaining
            yield* trace.add(`shutdown (${ctx.reason._tag}, ${Duration.toMillis(left)}ms left)`)
          })
      })
      const daemon_ = yield* start(daemon, { shutdownTimeout: "10s" })
      yield* daemon_.waitFor("READY")
      yield* settle
      yield* daemon_.signal("SIGTERM")
      const { code, reason } = yield* daemon_.exit
      expect(reason).toEqual(ExitReason.BySignal({ signal: "SIGTERM" }))
      expect(code).toBe(143)
      expect(yield* trace.get).toEqual([
        "init",
        "run with 3",
        "run interrupted",
        "shutdown (Signal, 10000ms left)",
        "release"
      ])
      expect(yield* daemon_.events).toEqual([
        "0 STATUS=starting",
        "0 READY",
        "0 STATUS=running",
        "0 STOPPING",
        "0 STATUS=stopping: stopped by SIGTERM, shutdown completed",
        "0 STATUS=stopped by SIGTERM, shutdown completed"
      ])
    }))

  it.effect("keeps the status text the daemon set over the lifecycle's generic one", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(Daemon.make({
        name: "talkative",
        init: (ctx) => ctx.status("serving http://127.0.0.1:8080"),
        run: () => Effect.never,
        reload: () => Effect.void
      }))
      yield* daemon_.waitFor("READY")
      yield* daemon_.signal("SIGHUP")
      yield* daemon_.waitFor("RELOADING")
      yield* settle
      yield* daemon_.signal("SIGTERM")
      yield* daemon_.exit
      const statuses = (yield* daemon_.events).filter((e) => e.includes("STATUS=")).map((e) => e.split(" ").slice(1).join(" "))
      expect(statuses).toEqual([
        "STATUS=starting",
        "STATUS=serving http://127.0.0.1:8080",
        "STATUS=serving http://127.0.0.1:8080", // after READY
        "STATUS=reloading",
        "STATUS=serving http://127.0.0.1:8080", // after the reload
        "STATUS=stopping: stopped by SIGTERM, shutdown completed",
        "STATUS=stopped by SIGTERM, shutdown completed"
      ])
    }))

  it.effect("SIGINT stops with exit 130", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(Daemon.make({ name: "interrupted", run: () => Effect.never }))
      yield* daemon_.waitFor("READY")
      yield* daemon_.signal("SIGINT")
      expect((yield* daemon_.exit).code).toBe(130)
    }))

  it.effect("a run that returns ends gracefully (exit 0) and still gets its shutdown", () =>
    Effect.gen(function*() {
      const trace = yield* makeTrace
      const daemon_ = yield* start(Daemon.make({
        name: "job",
        run: () => Effect.zipRight(Effect.sleep("2 seconds"), trace.add("work done")),
        shutdown: (ctx) => trace.add(`shutdown after ${ctx.reason._tag}`)
      }))
      yield* daemon_.waitFor("READY")
      yield* TestClock.adjust("2 seconds")
      const { code, reason } = yield* daemon_.exit
      expect(reason._tag).toBe("Graceful")
      expect(code).toBe(0)
      expect(yield* trace.get).toEqual(["work done", "shutdown after Graceful"])
    }))

  it.effect("a run loop that polls shouldShutdown finishes its unit of work when it is uninterruptible", () =>
    Effect.gen(function*() {
      const trace = yield* makeTrace
      let units = 0
      const daemon_ = yield* start(Daemon.make({
        name: "poller",
        run: (ctx) =>
          Effect.gen(function*() {
            while (!(yield* ctx.shouldShutdown)) {
              yield* Effect.uninterruptible(
                Effect.zipRight(Effect.sleep("1 second"), Effect.sync(() => units++))
              )
            }
          }).pipe(Effect.onInterrupt(() => trace.add(`stopped after ${units} units`)))
      }))
      yield* daemon_.waitFor("READY")
      yield* TestClock.adjust("2500 millis")
      yield* daemon_.signal("SIGTERM")
      yield* settle
      yield* TestClock.adjust("500 millis") // the third unit was in flight: it completes
      expect((yield* daemon_.exit).code).toBe(143)
      expect(yield* trace.get).toEqual(["stopped after 3 units"])
    }))
})

describe("lifecycle: failures", () => {
  it.effect("a failing run exits 1; shutdown and release still run", () =>
    Effect.gen(function*() {
      const trace = yield* makeTrace
      const daemon_ = yield* start(Daemon.make({
        name: "crasher",
        init: () => Effect.acquireRelease(Effect.void, () => trace.add("release")),
        run: () => Effect.zipRight(Effect.sleep("1 second"), Effect.fail(new Error("disk full"))),
        shutdown: () => trace.add("shutdown")
      }))
      yield* daemon_.waitFor("READY")
      yield* TestClock.adjust("1 second")
      const { code, reason } = yield* daemon_.exit
      expect(reason).toEqual(ExitReason.Error({ message: "run failed: disk full" }))
      expect(code).toBe(1)
      expect(yield* trace.get).toEqual(["shutdown", "release"])
    }))

  it.effect("a run may end with its own exit reason", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(Daemon.make({
        name: "own-reason",
        run: () => Effect.succeed(ExitReason.Error({ message: "lost the lease" }))
      }))
      const { code, reason } = yield* daemon_.exit
      expect(reason).toEqual(ExitReason.Error({ message: "lost the lease" }))
      expect(code).toBe(1)
    }))

  it.effect("a failing shutdown turns a graceful stop into exit 1", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(Daemon.make({
        name: "bad-shutdown",
        run: () => Effect.never,
        shutdown: () => Effect.fail(new Error("flush failed"))
      }))
      yield* daemon_.waitFor("READY")
      yield* daemon_.signal("SIGTERM")
      const { code, reason } = yield* daemon_.exit
      expect(reason).toEqual(ExitReason.Error({ message: "shutdown failed: flush failed" }))
      expect(code).toBe(1)
    }))

  it.effect("init failure exits 3 without running run or shutdown, releasing what init acquired", () =>
    Effect.gen(function*() {
      const trace = yield* makeTrace
      const daemon_ = yield* start(Daemon.make({
        name: "no-db",
        init: () =>
          Effect.zipRight(
            Effect.acquireRelease(trace.add("acquired pool"), () => trace.add("released pool")),
            Effect.fail(new Error("database unreachable"))
          ),
        run: () => trace.add("run"),
        shutdown: () => trace.add("shutdown")
      }))
      const { code, reason } = yield* daemon_.exit
      expect(reason).toEqual(ExitReason.InitFailed({ message: "database unreachable" }))
      expect(code).toBe(3)
      expect(yield* trace.get).toEqual(["acquired pool", "released pool"])
      expect((yield* daemon_.events).some((e) => e.endsWith("READY"))).toBe(false)
    }))

  it.effect("init that outlives initTimeout exits 3", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(
        Daemon.make({ name: "slow-init", init: () => Effect.never, run: () => Effect.never }),
        { initTimeout: "5s" }
      )
      yield* settle
      yield* TestClock.adjust("4999 millis")
      expect(yield* Fiber.poll(daemon_.fiber)).toEqual(expect.objectContaining({ _tag: "None" }))
      yield* TestClock.adjust("1 millis")
      const { code, reason } = yield* daemon_.exit
      expect(reason).toEqual(ExitReason.InitFailed({ message: "init did not finish within 5s" }))
      expect(code).toBe(3)
    }))

  it.effect("extendTimeout moves the init deadline and tells the manager", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(
        Daemon.make({
          name: "long-init",
          init: (ctx) => Effect.zipRight(ctx.extendTimeout("20 seconds"), Effect.sleep("15 seconds")),
          run: () => Effect.never
        }),
        { initTimeout: "5s" }
      )
      yield* daemon_.waitFor("EXTEND=20000")
      yield* TestClock.adjust("15 seconds")
      yield* daemon_.waitFor("READY")
      yield* daemon_.signal("SIGTERM")
      expect((yield* daemon_.exit).code).toBe(143)
    }))

  it.effect("SIGTERM during init interrupts it and releases what it acquired; shutdown is not called", () =>
    Effect.gen(function*() {
      const trace = yield* makeTrace
      const daemon_ = yield* start(Daemon.make({
        name: "stopped-early",
        init: () =>
          Effect.zipRight(
            Effect.acquireRelease(trace.add("acquired"), () => trace.add("released")),
            Effect.never
          ),
        run: () => trace.add("run"),
        shutdown: () => trace.add("shutdown")
      }))
      yield* settle
      yield* daemon_.signal("SIGTERM")
      expect((yield* daemon_.exit).code).toBe(143)
      expect(yield* trace.get).toEqual(["acquired", "released"])
    }))

  it.effect("an uncaught error stops the daemon gracefully with exit 1", () =>
    Effect.gen(function*() {
      const trace = yield* makeTrace
      const daemon_ = yield* start(Daemon.make({
        name: "fatal",
        run: () => Effect.never,
        shutdown: () => trace.add("shutdown")
      }))
      yield* daemon_.waitFor("READY")
      yield* daemon_.offer({ _tag: "Fatal", error: new TypeError("x is undefined") })
      const { code, reason } = yield* daemon_.exit
      expect(reason).toEqual(ExitReason.Error({ message: "uncaught TypeError: x is undefined" }))
      expect(code).toBe(1)
      expect(yield* trace.get).toEqual(["shutdown"])
    }))
})

describe("lifecycle: the shutdown deadline", () => {
  it.effect("a shutdown that hangs is forced at the deadline (exit 4) and not a moment before", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(
        Daemon.make({ name: "hangs", run: () => Effect.never, shutdown: () => Effect.never }),
        { shutdownTimeout: "3s" }
      )
      yield* daemon_.waitFor("READY")
      yield* daemon_.signal("SIGTERM")
      yield* settle
      yield* TestClock.adjust("2999 millis")
      expect((yield* Fiber.poll(daemon_.fiber))._tag).toBe("None")
      yield* TestClock.adjust("1 millis")
      const { code, reason } = yield* daemon_.exit
      expect(reason).toEqual(ExitReason.ForcedByDeadline({ phase: "running shutdown", timeoutMs: 3000 }))
      expect(code).toBe(4)
    }))

  it.effect("a run that refuses to be interrupted is forced at the deadline", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(
        Daemon.make({ name: "stubborn", run: () => Effect.uninterruptible(Effect.never) }),
        { shutdownTimeout: "2s" }
      )
      yield* daemon_.waitFor("READY")
      yield* daemon_.signal("SIGTERM")
      yield* settle
      yield* TestClock.adjust("2 seconds")
      expect((yield* daemon_.exit).reason).toEqual(
        ExitReason.ForcedByDeadline({ phase: "interrupting run", timeoutMs: 2000 })
      )
    }))

  it.effect("init resources that hang on release are forced too", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(
        Daemon.make({
          name: "sticky",
          init: () => Effect.acquireRelease(Effect.void, () => Effect.never),
          run: () => Effect.never
        }),
        { shutdownTimeout: "1s" }
      )
      yield* daemon_.waitFor("READY")
      yield* daemon_.signal("SIGTERM")
      yield* settle
      yield* TestClock.adjust("1 second")
      expect((yield* daemon_.exit).reason).toEqual(
        ExitReason.ForcedByDeadline({ phase: "releasing init resources", timeoutMs: 1000 })
      )
    }))

  it.effect("a second SIGTERM during shutdown forces the exit at once (exit 5)", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(
        Daemon.make({ name: "impatient", run: () => Effect.never, shutdown: () => Effect.never }),
        { shutdownTimeout: "30s" }
      )
      yield* daemon_.waitFor("READY")
      yield* daemon_.signal("SIGTERM")
      yield* daemon_.waitFor("STOPPING")
      yield* daemon_.signal("SIGTERM")
      const { code, reason } = yield* daemon_.exit
      expect(reason).toEqual(ExitReason.ForcedBySignal({ signal: "SIGTERM" }))
      expect(code).toBe(5)
    }))

  it.effect("shutdown can extend its own deadline", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(
        Daemon.make({
          name: "draining",
          run: () => Effect.never,
          shutdown: (ctx) => Effect.zipRight(ctx.extendTimeout("10 seconds"), Effect.sleep("8 seconds"))
        }),
        { shutdownTimeout: "2s" }
      )
      yield* daemon_.waitFor("READY")
      yield* daemon_.signal("SIGTERM")
      yield* daemon_.waitFor("EXTEND=10000")
      yield* TestClock.adjust("8 seconds")
      expect((yield* daemon_.exit).code).toBe(143)
    }))
})

describe("lifecycle: reload", () => {
  it.effect("SIGHUP reloads with the new config: RELOADING, then READY again", () =>
    Effect.gen(function*() {
      const trace = yield* makeTrace
      const next = decodeSync({ name: "reloader", command: ["test"], env: { LEVEL: "debug" } })
      const daemon_ = yield* start(
        Daemon.make({
          name: "reloader",
          run: () => Effect.never,
          reload: (ctx) => trace.add(`reload ${ctx.previousConfig.env.LEVEL ?? "-"} → ${ctx.config.env.LEVEL}`)
        }),
        {},
        { reloadConfig: Effect.succeed(next) }
      )
      yield* daemon_.waitFor("READY")
      yield* daemon_.signal("SIGHUP")
      yield* daemon_.waitFor("RELOADING")
      yield* settle
      yield* daemon_.signal("SIGTERM")
      expect((yield* daemon_.exit).code).toBe(143)
      expect(yield* trace.get).toEqual(["reload - → debug"])
      const events = (yield* daemon_.events).map((e) => e.split(" ").slice(1).join(" "))
      expect(events.slice(0, 6)).toEqual([
        "STATUS=starting",
        "READY",
        "STATUS=running",
        "RELOADING",
        "STATUS=reloading",
        "READY"
      ])
    }))

  it.effect("a failed reload keeps the daemon running on the previous config", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(Daemon.make({
        name: "reload-fails",
        run: () => Effect.never,
        reload: () => Effect.fail(new Error("bad certificate"))
      }))
      yield* daemon_.waitFor("READY")
      yield* daemon_.signal("SIGHUP")
      yield* daemon_.waitFor("STATUS=running (reload failed: bad certificate)")
      expect((yield* Fiber.poll(daemon_.fiber))._tag).toBe("None")
      yield* daemon_.signal("SIGTERM")
      expect((yield* daemon_.exit).code).toBe(143)
    }))

  it.effect("an invalid new config is rejected before reload is called", () =>
    Effect.gen(function*() {
      const trace = yield* makeTrace
      const daemon_ = yield* start(
        Daemon.make({ name: "strict", run: () => Effect.never, reload: () => trace.add("reload") }),
        {},
        { reloadConfig: Effect.fail(new Error("health.retries: expected a whole number")) }
      )
      yield* daemon_.waitFor("READY")
      yield* daemon_.signal("SIGHUP")
      yield* daemon_.waitFor("STATUS=running (reload rejected: invalid config)")
      expect(yield* trace.get).toEqual([])
      yield* daemon_.signal("SIGTERM")
      yield* daemon_.exit
    }))

  it.effect("without a reload hook SIGHUP is ignored and the daemon keeps running", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(Daemon.make({ name: "no-reload", run: () => Effect.never }))
      yield* daemon_.waitFor("READY")
      yield* daemon_.signal("SIGHUP")
      yield* settle
      expect((yield* daemon_.events).some((e) => e.endsWith("RELOADING"))).toBe(false)
      expect((yield* Fiber.poll(daemon_.fiber))._tag).toBe("None")
      yield* daemon_.signal("SIGTERM")
      expect((yield* daemon_.exit).code).toBe(143)
    }))
})

describe("lifecycle: health and watchdog", () => {
  it.effect("counts consecutive failures and reports unhealthy after `retries`, healthy again on success", () =>
    Effect.gen(function*() {
      let healthy = true
      const daemon_ = yield* start(
        Daemon.make({
          name: "flaky",
          run: () => Effect.never,
          health: () => Effect.sync(() => healthy ? HealthStatus.healthy() : HealthStatus.unhealthy("queue stuck"))
        }),
        { health: { interval: "10s", timeout: "1s", retries: 3 } }
      )
      yield* daemon_.waitFor("READY")
      yield* TestClock.adjust("10 seconds")
      yield* daemon_.waitFor("HEALTH=healthy/0")
      healthy = false
      yield* TestClock.adjust("10 seconds")
      yield* daemon_.waitFor("HEALTH=healthy/1")
      yield* TestClock.adjust("10 seconds")
      yield* daemon_.waitFor("HEALTH=healthy/2")
      yield* TestClock.adjust("10 seconds")
      yield* daemon_.waitFor("HEALTH=unhealthy/3")
      healthy = true
      yield* TestClock.adjust("10 seconds")
      yield* settle
      const health = (yield* daemon_.events).filter((e) => e.includes("HEALTH="))
      expect(health).toEqual([
        "10000 HEALTH=healthy/0",
        "20000 HEALTH=healthy/1",
        "30000 HEALTH=healthy/2",
        "40000 HEALTH=unhealthy/3",
        "50000 HEALTH=healthy/0"
      ])
      yield* daemon_.signal("SIGTERM")
      yield* daemon_.exit
    }))

  it.effect("a check that outlives its timeout is a failure", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(
        Daemon.make({ name: "slow-health", run: () => Effect.never, health: () => Effect.never }),
        { health: { interval: "5s", timeout: "2s", retries: 1 } }
      )
      yield* daemon_.waitFor("READY")
      yield* TestClock.adjust("5 seconds")
      yield* settle
      yield* TestClock.adjust("2 seconds")
      yield* daemon_.waitFor("HEALTH=unhealthy/1")
      yield* daemon_.signal("SIGTERM")
      yield* daemon_.exit
    }))

  it.effect("failures in the start period do not count until the first success", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(
        Daemon.make({
          name: "warming-up",
          run: () => Effect.never,
          health: () => Effect.succeed(HealthStatus.unhealthy("cache cold"))
        }),
        { health: { interval: "10s", retries: 1, startPeriod: "25s" } }
      )
      yield* daemon_.waitFor("READY")
      yield* TestClock.adjust("30 seconds")
      yield* daemon_.waitFor("HEALTH=unhealthy/1")
      const health = (yield* daemon_.events).filter((e) => e.includes("HEALTH="))
      expect(health).toEqual(["10000 HEALTH=starting/0", "20000 HEALTH=starting/0", "30000 HEALTH=unhealthy/1"])
      yield* daemon_.signal("SIGTERM")
      yield* daemon_.exit
    }))

  it.effect("pings the watchdog every half timeout, and withholds pings while unhealthy", () =>
    Effect.gen(function*() {
      let healthy = true
      const daemon_ = yield* start(
        Daemon.make({
          name: "watched",
          run: () => Effect.never,
          health: () => Effect.sync(() => healthy ? HealthStatus.healthy() : HealthStatus.unhealthy("wedged"))
        }),
        { health: { interval: "4s", retries: 1 } },
        { watchdogTimeout: "10 seconds" }
      )
      yield* daemon_.waitFor("READY")
      yield* TestClock.adjust("10 seconds")
      healthy = false
      yield* TestClock.adjust("10 seconds")
      healthy = true
      yield* TestClock.adjust("10 seconds")
      yield* settle
      const pings = (yield* daemon_.events).filter((e) => e.endsWith("WATCHDOG")).map((e) => Number(e.split(" ")[0]))
      // unhealthy from the check at 12s until the check at 24s: the pings at 15s and 20s are withheld
      expect(pings).toEqual([0, 5000, 10000, 25000, 30000])
      yield* daemon_.signal("SIGTERM")
      yield* daemon_.exit
    }))

  it.effect("takes the watchdog timeout from the config when the platform sets none", () =>
    Effect.gen(function*() {
      const daemon_ = yield* start(Daemon.make({ name: "self-watched", run: () => Effect.never }), {
        watchdogInterval: "2s"
      })
      yield* daemon_.waitFor("READY")
      yield* TestClock.adjust("3 seconds")
      yield* settle
      const pings = (yield* daemon_.events).filter((e) => e.endsWith("WATCHDOG")).map((e) => Number(e.split(" ")[0]))
      expect(pings).toEqual([0, 1000, 2000, 3000])
      yield* daemon_.signal("SIGTERM")
      yield* daemon_.exit
    }))
})
