// Every policy's metrics reach Prometheus through @duende/observe's registry (which exports
// all Effect metrics): the exposition text after real calls, parsed line by line.
import { MetricsRegistry } from "@duende/observe/manager"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Backpressure from "../src/Backpressure.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as CostBreaker from "../src/CostBreaker.js"
import * as QualityGate from "../src/QualityGate.js"
import * as RateLimiter from "../src/RateLimiter.js"

/** The value of the sample `name{labels}` in an exposition, if present. */
const sample = (text: string, name: string, labels: string): number | undefined => {
  const line = text.split("\n").find((each) => each.startsWith(`${name}{`) && each.includes(labels))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
}

describe("policies in the Prometheus exposition of @duende/observe", () => {
  it.scoped("breaker state and refusals, limiter admissions and refusals, bulkhead shedding, gate and budget", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "obs-breaker", threshold: { failures: 1 } })
      yield* Effect.either(breaker.execute(Effect.fail("down")))
      yield* Effect.either(breaker.execute(Effect.succeed(1)))
      const limiter = yield* RateLimiter.make({ name: "obs-limiter", algorithm: { _tag: "TokenBucket", capacity: 2, refill: { tokens: 1, every: "1 minute" } } })
      for (let i = 0; i < 3; i++) yield* Effect.either(limiter.acquire("k"))
      const bulkhead = yield* Backpressure.make({ name: "obs-bulkhead", maxConcurrent: 1 })
      const held = yield* Effect.fork(bulkhead.execute(Effect.never))
      yield* Effect.yieldNow()
      yield* Effect.either(bulkhead.execute(Effect.void))
      const gate = yield* QualityGate.make({
        name: "obs-gate",
        checks: [{ name: "lag", measure: Effect.succeed(40), threshold: 10, compare: "atMost" }]
      })
      yield* gate.evaluate
      yield* Effect.either(gate.guard(Effect.void))
      const budget = yield* CostBreaker.make({ name: "obs-cost", budget: 1, window: "1 minute" })
      yield* budget.spend(0.75)
      const registry = yield* MetricsRegistry.make()
      const text = yield* registry.render
      expect(sample(text, CircuitBreaker.names.state, 'policy="obs-breaker"')).toBe(2)
      expect(sample(text, CircuitBreaker.names.opens, 'policy="obs-breaker"')).toBe(1)
      expect(sample(text, CircuitBreaker.names.rejected, 'policy="obs-breaker"')).toBe(1)
      expect(sample(text, RateLimiter.names.admitted, 'policy="obs-limiter"')).toBe(2)
      expect(sample(text, RateLimiter.names.rejected, 'policy="obs-limiter"')).toBe(1)
      expect(sample(text, Backpressure.names.active, 'policy="obs-bulkhead"')).toBe(1)
      expect(sample(text, Backpressure.names.shed, 'reason="full"')).toBe(1)
      expect(sample(text, QualityGate.names.stopped, 'policy="obs-gate"')).toBe(1)
      expect(sample(text, QualityGate.names.refused, 'policy="obs-gate"')).toBe(1)
      expect(sample(text, QualityGate.names.checkValue, 'check="lag"')).toBe(40)
      expect(sample(text, CostBreaker.names.spent, 'policy="obs-cost"')).toBe(0.75)
      expect(text).toContain(`# TYPE ${CircuitBreaker.names.opens} counter`)
      yield* Fiber.interrupt(held)
    }))
})
