// Chaos with a seed replays exactly: the same seed gives the same event log byte for byte.
import { DaemonManager } from "@duende/core/manager"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Clock from "effect/Clock"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Simulation from "../src/Simulation.js"
import * as TestPlatform from "../src/TestPlatform.js"

/** Three chaotic daemons for six hours of virtual time (a fresh clock each run); the manager's event log as text. */
const scenario = (seed: number) =>
  Effect.gen(function*() {
    const manager = yield* DaemonManager.DaemonManager
    const log: Array<string> = []
    yield* Effect.forkScoped(
      Stream.runForEach(yield* manager.events, (event) =>
        Effect.map(Clock.currentTimeMillis, (now) => void log.push(`${now} ${JSON.stringify(event)}`)))
    )
    for (const name of ["alpha", "beta", "gamma"]) {
      yield* manager.add(decodeSync({
        name,
        command: ["simulated"],
        health: { interval: "30s", retries: 2 },
        restart: { policy: "always", backoff: { initial: "1s", max: "1m" }, crashLoop: { burst: 1000, interval: "1m" } },
        shutdownTimeout: "10s"
      }), { desired: "running" })
    }
    yield* manager.startAll.pipe(Effect.fork)
    yield* Simulation.advance("6 hours")
    return log.join("\n")
  }).pipe(
    Effect.provide(DaemonManager.layer.pipe(Layer.provide(TestPlatform.layer({
      chaos: {
        seed,
        crashesPerHour: 20,
        healthErrorRate: 0.3,
        startLatencyMaxMs: 2_000,
        slowShutdownRate: 0.5,
        slowShutdownMaxMs: 5_000
      }
    })))),
    Logger.withMinimumLogLevel(LogLevel.None)
  )

describe("chaos with a seed", () => {
  it("replays the same event log for the same seed, and another for another seed", async () => {
    const first = await Simulation.runPromise(scenario(42), { seed: 42 })
    const again = await Simulation.runPromise(scenario(42), { seed: 42 })
    const other = await Simulation.runPromise(scenario(43), { seed: 43 })
    expect(first.split("\n").length).toBeGreaterThan(500)
    expect(first).toContain(`"_tag":"Restarting"`) // chaos really crashed things
    expect(first).toContain(`"state":"unhealthy"`)
    expect(again).toBe(first)
    expect(other).not.toBe(first)
  }, 180_000) // three runs of 6 simulated hours: about 15 s here, 60 s and more on a loaded 2-core machine
})
