// The quality gate's every transition on TestClock: a failed check stops the line and the guarded
// work is refused with the evidence; auto mode resumes when the checks pass, manual mode needs a
// clear; failed measurements count as failed checks; the periodic evaluation; health; metrics;
// the Promise facade on the real clock.
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as QualityGate from "../src/QualityGate.js"
import { metric } from "./helpers/metric.js"

/** A check on a value the test sets. */
const dial = (name: string, initial: number, threshold: number, compare: QualityGate.Compare = "atMost") => {
  const dial = { value: initial, measured: 0 }
  const check: QualityGate.Check = {
    name,
    measure: Effect.sync(() => {
      dial.measured++
      return dial.value
    }),
    threshold,
    compare
  }
  return { dial, check }
}

const tagOf = (gate: QualityGate.QualityGate) => Effect.map(gate.state, (state) => state._tag)

describe("QualityGate", () => {
  it.scoped("a failed check stops the line: guarded work is refused with the evidence, and runs again once the checks pass (auto)", () =>
    Effect.gen(function*() {
      const { check, dial: rate } = dial("error_rate", 0.01, 0.05)
      const gate = yield* QualityGate.make({ name: "ingest", checks: [check] })
      expect(gate.mode).toBe("auto")
      let ran = 0
      const work = Effect.sync(() => ++ran)
      expect(yield* gate.guard(work)).toBe(1)

      yield* TestClock.adjust("1 second")
      rate.value = 0.12
      const evidence = yield* gate.evaluate
      expect(evidence).toEqual([{
        check: "error_rate",
        value: 0.12,
        threshold: 0.05,
        passed: false,
        message: "0.12 is above the maximum 0.05",
        at: 1_000
      }])
      expect(yield* gate.state).toEqual({ _tag: "Stopped", since: 1_000, evidence, awaitingClear: false })

      const refused = yield* Effect.flip(gate.guard(work))
      expect(refused).toBeInstanceOf(QualityGate.LineStopped)
      expect(refused).toMatchObject({ name: "ingest", since: 1_000, evidence, awaitingClear: false })
      expect(refused.message).toBe('quality gate "ingest" stopped the line: error_rate: 0.12 is above the maximum 0.05')
      expect(ran).toBe(1)

      yield* TestClock.adjust("1 second")
      rate.value = 0.2 // still failing: the evidence is refreshed, the stop's time kept
      yield* gate.evaluate
      expect(yield* gate.state).toMatchObject({ _tag: "Stopped", since: 1_000, evidence: [{ value: 0.2, at: 2_000 }] })

      rate.value = 0.05 // the threshold itself passes
      expect((yield* gate.evaluate)[0]).toMatchObject({ passed: true, message: "0.05 is at most 0.05" })
      expect(yield* tagOf(gate)).toBe("Running")
      expect(yield* gate.guard(work)).toBe(2)
    }))

  it.scoped("atLeast passes at and above the threshold; any failed check of several stops the line, with only the failed ones as evidence", () =>
    Effect.gen(function*() {
      const disk = dial("free_disk_gb", 10, 10, "atLeast")
      const lag = dial("lag_seconds", 1, 30)
      const gate = yield* QualityGate.make({ name: "several", checks: [disk.check, lag.check] })
      yield* gate.evaluate
      expect(yield* tagOf(gate)).toBe("Running")
      disk.dial.value = 9.5
      const evidence = yield* gate.evaluate
      expect(evidence.map((one) => [one.check, one.passed, one.message])).toEqual([
        ["free_disk_gb", false, "9.5 is below the minimum 10"],
        ["lag_seconds", true, "1 is at most 30"]
      ])
      const state = yield* gate.state
      expect(state._tag === "Stopped" && state.evidence.map((one) => one.check)).toEqual(["free_disk_gb"])
    }))

  it.scoped("a custom message is the evidence's message", () =>
    Effect.gen(function*() {
      const gate = yield* QualityGate.make({
        name: "custom",
        checks: [{
          name: "accuracy",
          measure: Effect.succeed(0.8),
          threshold: 0.9,
          compare: "atLeast",
          message: (value, threshold, passed) => `${value * 100} % ${passed ? "≥" : "<"} ${threshold * 100} %`
        }]
      })
      const refused = yield* Effect.flip(Effect.zipRight(gate.evaluate, gate.guard(Effect.void)))
      expect(refused.evidence[0]?.message).toBe("80 % < 90 %")
    }))

  it.scoped("a measurement that fails, dies or gives NaN counts as a failed check, with the error's message", () =>
    Effect.gen(function*() {
      class Timeout extends Error {}
      const gate = yield* QualityGate.make({
        name: "broken",
        checks: [
          { name: "failing", measure: Effect.fail(new Timeout("probe timed out")), threshold: 1, compare: "atMost" },
          { name: "dying", measure: Effect.die("bug in the probe"), threshold: 1, compare: "atMost" },
          { name: "tagged", measure: Effect.fail({ _tag: "Unreachable" } as const), threshold: 1, compare: "atMost" },
          { name: "nan", measure: Effect.succeed(NaN), threshold: 1, compare: "atLeast" },
          { name: "throwing message", measure: Effect.succeed(0), threshold: 1, compare: "atMost", message: () => { throw new Error("bad message") } }
        ]
      })
      const evidence = yield* gate.evaluate
      expect(evidence.map((one) => [one.check, one.value, one.passed, one.message])).toEqual([
        ["failing", undefined, false, "could not be measured: probe timed out"],
        ["dying", undefined, false, "could not be measured: bug in the probe"],
        ["tagged", undefined, false, "could not be measured: Unreachable"],
        ["nan", NaN, false, "measured NaN, which passes no threshold"],
        ["throwing message", undefined, false, "could not be measured: bad message"]
      ])
      expect(yield* tagOf(gate)).toBe("Stopped")
    }))

  it.scoped("manual mode: passing checks do not resume it, a clear while a check fails is refused, a clear once they pass resumes it", () =>
    Effect.gen(function*() {
      const { check, dial: lag } = dial("lag_seconds", 40, 30)
      const gate = yield* QualityGate.make({ name: "manual", checks: [check], mode: "manual" })
      yield* gate.evaluate
      expect(yield* gate.state).toMatchObject({ _tag: "Stopped", awaitingClear: false })

      const early = yield* Effect.flip(gate.clear) // still failing: refused, stays stopped
      expect(early).toMatchObject({ _tag: "LineStopped", awaitingClear: false, evidence: [{ check: "lag_seconds", value: 40 }] })
      expect(yield* tagOf(gate)).toBe("Stopped")

      lag.value = 3
      yield* gate.evaluate
      expect(yield* gate.state).toMatchObject({
        _tag: "Stopped",
        awaitingClear: true,
        evidence: [{ check: "lag_seconds", value: 40 }] // what stopped it
      })
      const refused = yield* Effect.flip(gate.guard(Effect.void))
      expect(refused.message).toBe(
        'quality gate "manual" stopped the line: lag_seconds: 40 is above the maximum 30 (the checks pass again; waiting for an operator\'s clear)'
      )
      expect(yield* gate.health).toEqual([{
        name: "lag_seconds",
        passed: false,
        message: "stopped the line (40 is above the maximum 30); passes now (3 is at most 30), waiting for an operator's clear"
      }])

      const measuredBefore = lag.measured
      yield* gate.clear
      expect(lag.measured).toBe(measuredBefore + 1) // the clear measures again
      expect(yield* tagOf(gate)).toBe("Running")
      expect(yield* gate.health).toEqual([{ name: "lag_seconds", passed: true, message: "3 is at most 30" }])
    }))

  it.scoped("manual mode: a clear whose fresh evaluation fails is refused even if the previous one passed", () =>
    Effect.gen(function*() {
      const { check, dial: lag } = dial("lag_seconds", 40, 30)
      const gate = yield* QualityGate.make({ name: "manual2", checks: [check], mode: "manual" })
      yield* gate.evaluate
      lag.value = 3
      yield* gate.evaluate
      lag.value = 50
      expect(yield* Effect.flip(gate.clear)).toMatchObject({ awaitingClear: false, evidence: [{ value: 50 }] })
      expect(yield* gate.state).toMatchObject({ _tag: "Stopped", awaitingClear: false })
    }))

  it.scoped("in auto mode clear is an evaluation: it fails with the evidence while a check fails", () =>
    Effect.gen(function*() {
      const { check, dial: lag } = dial("lag_seconds", 40, 30)
      const gate = yield* QualityGate.make({ name: "autoclear", checks: [check] })
      expect((yield* Effect.flip(gate.clear))._tag).toBe("LineStopped")
      lag.value = 1
      yield* gate.clear
      expect(yield* tagOf(gate)).toBe("Running")
    }))

  it.scoped("health: one entry per check from its latest evidence, in the HealthCheck shape", () =>
    Effect.gen(function*() {
      const rate = dial("error_rate", 0.01, 0.05)
      const lag = dial("lag_seconds", 1, 30)
      const gate = yield* QualityGate.make({ name: "health", checks: [rate.check, lag.check] })
      expect(yield* gate.health).toEqual([
        { name: "error_rate", passed: true, message: "not evaluated yet" },
        { name: "lag_seconds", passed: true, message: "not evaluated yet" }
      ])
      lag.dial.value = 31
      yield* gate.evaluate
      const health: ReadonlyArray<{ readonly name: string; readonly passed: boolean; readonly message?: string | undefined }> =
        yield* gate.health
      expect(health).toEqual([
        { name: "error_rate", passed: true, message: "0.01 is at most 0.05" },
        { name: "lag_seconds", passed: false, message: "31 is above the maximum 30" }
      ])
      expect(health.every((entry) => entry.passed)).toBe(false) // what HealthStatus.fromChecks computes
    }))

  it.scoped("with an interval, evaluates at once and then every interval on the Clock, until its scope closes", () =>
    Effect.gen(function*() {
      const { check, dial: rate } = dial("error_rate", 0.01, 0.05)
      const scope = yield* Scope.make()
      const gate = yield* Scope.extend(QualityGate.make({ name: "periodic", checks: [check], interval: "10 seconds" }), scope)
      yield* TestClock.adjust("0 millis")
      expect(rate.measured).toBe(1)
      yield* TestClock.adjust("9999 millis")
      expect(rate.measured).toBe(1)
      rate.value = 0.5
      yield* TestClock.adjust("1 milli")
      expect(rate.measured).toBe(2)
      expect(yield* gate.state).toMatchObject({ _tag: "Stopped", since: 10_000 })
      rate.value = 0
      yield* TestClock.adjust("10 seconds")
      expect(rate.measured).toBe(3)
      expect(yield* tagOf(gate)).toBe("Running")
      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust("1 minute")
      expect(rate.measured).toBe(3)
    }))

  it.scoped("publishes every stop and resumption", () =>
    Effect.gen(function*() {
      const { check, dial: rate } = dial("error_rate", 1, 0.05)
      const gate = yield* QualityGate.make({ name: "changes", checks: [check] })
      const seen = yield* Effect.fork(Stream.runCollect(Stream.take(yield* gate.changes, 3)))
      yield* gate.evaluate
      yield* gate.evaluate // still stopped: no change
      rate.value = 0
      yield* gate.evaluate
      rate.value = 1
      yield* gate.evaluate
      expect([...(yield* Fiber.join(seen))].map((state) => state._tag)).toEqual(["Stopped", "Running", "Stopped"])
    }))

  it.scoped("measures with the services of the scope that made it", () =>
    Effect.gen(function*() {
      class Queue extends Context.Tag("test/Queue")<Queue, { readonly depth: number }>() {}
      const gate = yield* QualityGate.make({
        name: "services",
        checks: [{ name: "queue_depth", measure: Effect.map(Queue, (queue) => queue.depth), threshold: 100, compare: "atMost" }]
      }).pipe(Effect.provideService(Queue, { depth: 120 }))
      expect((yield* gate.evaluate)[0]?.value).toBe(120)
    }))

  it.effect("is a service with a layer", () =>
    Effect.gen(function*() {
      const gate = yield* QualityGate.QualityGate
      expect(gate.name).toBe("layered")
      yield* gate.evaluate
      expect(yield* tagOf(gate)).toBe("Stopped")
    }).pipe(Effect.provide(QualityGate.layer({
      name: "layered",
      mode: "manual",
      checks: [{ name: "x", measure: Effect.succeed(2), threshold: 1, compare: "atMost" }]
    }))))

  it.scoped("records its metrics, tagged by gate and check", () =>
    Effect.gen(function*() {
      const { check, dial: rate } = dial("error_rate", 0.01, 0.05)
      const gate = yield* QualityGate.make({ name: "metered", checks: [check] })
      const policy = { policy: "metered" }
      const ofCheck = { policy: "metered", check: "error_rate" }
      expect(yield* metric(QualityGate.names.stopped, policy)).toBe(0)
      expect(yield* metric(QualityGate.names.stops, policy)).toBe(0)
      expect(yield* metric(QualityGate.names.refused, policy)).toBe(0)
      expect(yield* metric(QualityGate.names.checkFailures, ofCheck)).toBe(0)
      rate.value = 0.3
      yield* gate.evaluate
      yield* gate.evaluate
      yield* Effect.either(gate.guard(Effect.void))
      yield* Effect.either(gate.guard(Effect.void))
      expect(yield* metric(QualityGate.names.stopped, policy)).toBe(1)
      expect(yield* metric(QualityGate.names.stops, policy)).toBe(1)
      expect(yield* metric(QualityGate.names.refused, policy)).toBe(2)
      expect(yield* metric(QualityGate.names.checkFailures, ofCheck)).toBe(2)
      expect(yield* metric(QualityGate.names.checkValue, ofCheck)).toBe(0.3)
      rate.value = 0.02
      yield* gate.evaluate
      expect(yield* metric(QualityGate.names.stopped, policy)).toBe(0)
      expect(yield* metric(QualityGate.names.checkValue, ofCheck)).toBe(0.02)
    }))

  it.scoped("rejects bad options with a RangeError", () =>
    Effect.gen(function*() {
      const ok: QualityGate.Check = { name: "a", measure: Effect.succeed(0), threshold: 1, compare: "atMost" }
      const cases: Array<[QualityGate.Options, string]> = [
        [{ name: "bad", checks: [] }, "checks must hold at least one check"],
        [{ name: "bad", checks: [ok, ok] }, 'check names must differ, "a" is twice'],
        [{ name: "bad", checks: [{ ...ok, name: "" }] }, "a check's name must not be empty"],
        [{ name: "bad", checks: [{ ...ok, threshold: NaN }] }, 'threshold of check "a" is NaN'],
        [{ name: "bad", checks: [ok], interval: 0 }, "interval must be a positive duration"]
      ]
      for (const [options, message] of cases) {
        const exit = yield* Effect.exit(QualityGate.make(options))
        expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toEqual(new RangeError(`QualityGate "bad": ${message}`))
      }
    }))

  it("has a Promise facade on the real clock: the call's own rejection, or LineStopped while stopped", async () => {
    let rate = 0
    const gate = QualityGate.promise({
      name: "facade",
      interval: "20 millis",
      checks: [{ name: "error_rate", measure: async () => rate, threshold: 0.05, compare: "atMost" }]
    })
    try {
      const boom = new Error("boom")
      await expect(gate.guard(() => Promise.reject(boom))).rejects.toBe(boom)
      expect(await gate.guard(async () => 42)).toBe(42)
      rate = 0.5
      const until = async (tag: string) => {
        for (let i = 0; i < 200 && gate.state()._tag !== tag; i++) await new Promise((resolve) => setTimeout(resolve, 10))
        expect(gate.state()._tag).toBe(tag)
      }
      await until("Stopped")
      let ran = false
      const refused = gate.guard(async () => (ran = true))
      await expect(refused).rejects.toBeInstanceOf(QualityGate.LineStopped)
      await expect(refused).rejects.toMatchObject({ evidence: [{ check: "error_rate", value: 0.5 }] })
      expect(ran).toBe(false)
      expect(gate.health()).toEqual([{ name: "error_rate", passed: false, message: "0.5 is above the maximum 0.05" }])
      rate = 0
      await until("Running")
      expect(await gate.evaluate()).toMatchObject([{ passed: true }])
      await gate.clear()
    } finally {
      await gate.close()
    }
  })

  it("the Promise facade throws a RangeError for bad options, and counts a throwing measure as failed", async () => {
    expect(() => QualityGate.promise({ name: "bad", checks: [] })).toThrow(RangeError)
    const gate = QualityGate.promise({
      name: "throwing",
      mode: "manual",
      checks: [{ name: "probe", measure: () => { throw new Error("no probe") }, threshold: 1, compare: "atMost" }]
    })
    expect(await gate.evaluate()).toMatchObject([{ passed: false, message: "could not be measured: no probe" }])
    await expect(gate.clear()).rejects.toBeInstanceOf(QualityGate.LineStopped)
    await gate.close()
  })
})
