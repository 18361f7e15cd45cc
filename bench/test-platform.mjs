// The test platform: seconds of real time to simulate 24 hours of a
// crash-looping daemon (runs 5s, crashes, exponential backoff capped at 1m).
//
//   node bench/test-platform.mjs [--runs 5] [--json]
import { DaemonManager } from "@duende/core/manager"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { Behavior, Simulation, TestPlatform } from "@duende/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { median, option, percentile } from "./lib.mjs"

const day = () =>
  Simulation.runPromise(
    Effect.gen(function*() {
      const manager = yield* DaemonManager.DaemonManager
      yield* manager.add(decodeSync({
        name: "doomed",
        command: ["simulated"],
        env: Behavior.toEnv({ exitAfterMs: 5_000 }),
        restart: { policy: "always", backoff: { initial: "1s", max: "1m", jitter: 0.2 }, crashLoop: { burst: 10_000, interval: "1m" } }
      }))
      yield* Effect.fork(manager.start("doomed"))
      yield* Simulation.advance("24 hours")
      return (yield* manager.get("doomed")).restarts
    }).pipe(
      Logger.withMinimumLogLevel(LogLevel.None),
      Effect.provide(DaemonManager.layer.pipe(Layer.provide(TestPlatform.layer())))
    )
  )

const runs = option("runs", 5)
const timed = async () => {
  const started = performance.now()
  const restarts = await day()
  return { ms: performance.now() - started, restarts }
}
const cold = await timed()
const warm = []
for (let i = 0; i < runs; i++) warm.push(await timed())
const times = warm.map((w) => w.ms)
const result = {
  benchmark: "24 simulated hours of a crash-looping daemon",
  restarts: cold.restarts,
  coldMs: cold.ms,
  warmMedianMs: median(times),
  warmP95Ms: percentile(times, 95)
}
if (process.argv.includes("--json")) console.log(JSON.stringify(result))
else {
  console.log(`\n${result.benchmark} (${cold.restarts} restarts a day)`)
  console.log(`  first run (cold JIT)   ${cold.ms.toFixed(0)} ms`)
  console.log(`  warm, median of ${runs}    ${result.warmMedianMs.toFixed(0)} ms  (p95 ${result.warmP95Ms.toFixed(0)} ms)`)
}
