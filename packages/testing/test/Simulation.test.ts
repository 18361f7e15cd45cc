import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import { describe, expect, it } from "vitest"
import * as Simulation from "../src/Simulation.js"

describe("Simulation", () => {
  it("runs sleepers in time order as virtual time advances", async () => {
    const order = await Simulation.runPromise(
      Effect.gen(function*() {
        const seen: Array<string> = []
        yield* Effect.fork(Effect.zipRight(Effect.sleep("3 seconds"), Effect.sync(() => seen.push("c@3s"))))
        yield* Effect.fork(Effect.zipRight(Effect.sleep("1 second"), Effect.sync(() => seen.push("a@1s"))))
        yield* Effect.fork(Effect.zipRight(Effect.sleep("2 seconds"), Effect.sync(() => seen.push("b@2s"))))
        yield* Simulation.advance("2500 millis")
        const at = yield* Effect.flatMap(Simulation.Simulation, (s) => s.now)
        return [...seen, `now=${at}`]
      })
    )
    expect(order).toEqual(["a@1s", "b@2s", "now=2500"])
  })

  it("drives schedules and timeouts", async () => {
    const result = await Simulation.runPromise(
      Effect.gen(function*() {
        const ticks = yield* Effect.fork(Effect.repeat(Effect.void, Schedule.spaced("1 minute")))
        const slow = yield* Effect.fork(Effect.timeout(Effect.never, "10 seconds"))
        yield* Simulation.advance("1 hour")
        const timedOut = yield* Effect.either(Fiber.join(slow))
        yield* Fiber.interrupt(ticks)
        return timedOut._tag
      })
    )
    expect(result).toBe("Left")
  })

  it("reports a program that waits without asking for time", async () => {
    await expect(Simulation.runPromise(Effect.sleep("1 second"))).rejects.toThrow(/simulation stuck at 0ms/)
  })
})
