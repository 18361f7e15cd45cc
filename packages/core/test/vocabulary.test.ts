import { describe, expect, it } from "@effect/vitest"
import { constants } from "node:os"
import * as DaemonId from "../src/DaemonId.js"
import * as ExitReason from "../src/ExitReason.js"
import * as HealthStatus from "../src/HealthStatus.js"
import * as Signal from "../src/Signal.js"

describe("Signal", () => {
  it("uses the numbers of this Linux kernel", () => {
    for (const signal of Signal.all) expect(Signal.toNumber(signal), signal).toBe(constants.signals[signal])
  })

  it("parses names, short names and numbers", () => {
    expect(Signal.parse("TERM")).toBe("SIGTERM")
    expect(Signal.parse("sighup")).toBe("SIGHUP")
    expect(Signal.parse("9")).toBe("SIGKILL")
    expect(Signal.parse("SIGNOPE")).toBeUndefined()
    expect(Signal.parse("99")).toBeUndefined()
    expect(Signal.exitStatus("SIGINT")).toBe(130)
  })
})

describe("ExitReason", () => {
  it("maps every reason to its documented, distinct code", () => {
    const table: ReadonlyArray<[ExitReason.ExitReason, number]> = [
      [ExitReason.Graceful(), 0],
      [ExitReason.Error({ message: "x" }), 1],
      [ExitReason.InitFailed({ message: "x" }), 3],
      [ExitReason.ForcedByDeadline({ phase: "running shutdown", timeoutMs: 1 }), 4],
      [ExitReason.ForcedBySignal({ signal: "SIGTERM" }), 5],
      [ExitReason.AlreadyRunning({ pid: 1, pidFile: "/x" }), 6],
      [ExitReason.ConfigInvalid({ message: "x" }), 78],
      [ExitReason.BySignal({ signal: "SIGINT" }), 130],
      [ExitReason.BySignal({ signal: "SIGTERM" }), 143]
    ]
    for (const [reason, code] of table) expect(ExitReason.exitCode(reason), reason._tag).toBe(code)
    const distinct = new Set(table.map(([, code]) => code))
    expect(distinct.size).toBe(table.length)
  })

  it("tells a manager what an exit code meant", () => {
    expect(ExitReason.describeExit(4)).toBe("forced: shutdown deadline (exit 4)")
    expect(ExitReason.describeExit(143)).toBe("stopped by SIGTERM")
    expect(ExitReason.describeExit(null, "SIGKILL")).toBe("killed by SIGKILL")
    expect(ExitReason.describeExit(42)).toBe("exited with 42")
  })
})

describe("HealthStatus", () => {
  it("is healthy exactly when every check passed, and summarises failures", () => {
    const status = HealthStatus.fromChecks([
      { name: "database", passed: true },
      { name: "queue", passed: false, message: "lag 40s" },
      { name: "disk", passed: false }
    ])
    expect(status.healthy).toBe(false)
    expect(HealthStatus.summary(status)).toBe("queue: lag 40s; disk")
    expect(HealthStatus.fromChecks([{ name: "a", passed: true }]).healthy).toBe(true)
    expect(HealthStatus.summary(HealthStatus.healthy())).toBe("healthy")
  })
})

describe("DaemonId", () => {
  it("is a random UUID, checked when made from a string", () => {
    const id = DaemonId.random()
    expect(DaemonId.is(id)).toBe(true)
    expect(DaemonId.random()).not.toBe(id)
    expect(DaemonId.make(id)).toBe(id)
    expect(() => DaemonId.make("nope")).toThrow(/expected a lowercase UUID/)
  })
})
