import { DaemonStatus } from "@duende/core"
import { describe, expect, it } from "@effect/vitest"
import * as UnitState from "../src/internal/unitState.js"

const running = {
  LoadState: "loaded",
  ActiveState: "active",
  SubState: "running",
  MainPID: "42",
  ExecMainStartTimestamp: "Tue 2026-11-24 12:49:39.080356 UTC",
  ExecMainExitTimestamp: "",
  ExecMainCode: "0",
  ExecMainStatus: "0",
  NRestarts: "0",
  StatusText: "serving",
  Result: "success",
  FreezerState: "running",
  WatchdogUSec: "2s",
  InvocationID: "abc"
}

describe("unit properties as daemon state", () => {
  it("reads timestamps and time spans as systemctl show prints them", () => {
    expect(UnitState.timestamp("Tue 2026-11-24 12:49:39.080356 UTC")).toBe(Date.UTC(2026, 10, 24, 12, 49, 39, 80))
    expect(UnitState.timestamp("")).toBeUndefined()
    expect(UnitState.timestamp("n/a")).toBeUndefined()
    expect(UnitState.timespanMillis("2s")).toBe(2000)
    expect(UnitState.timespanMillis("1min 30s")).toBe(90_000)
    expect(UnitState.timespanMillis("500ms")).toBe(500)
    expect(UnitState.timespanMillis("infinity")).toBeUndefined()
  })

  it("maps ActiveState (and the freezer) to DaemonStatus", () => {
    expect(UnitState.toState(running)).toEqual({
      status: DaemonStatus.Running(),
      pid: 42,
      startedAt: Date.UTC(2026, 10, 24, 12, 49, 39, 80),
      lastExit: undefined,
      restarts: 0,
      statusText: "serving",
      health: undefined
    })
    expect(UnitState.toState({ ...running, FreezerState: "frozen" }).status).toEqual(DaemonStatus.Paused())
    expect(UnitState.toState({ ...running, ActiveState: "activating" }).status).toEqual(DaemonStatus.Starting())
    expect(UnitState.toState({ ...running, ActiveState: "deactivating" }).status).toEqual(DaemonStatus.Stopping())
    expect(UnitState.toState({ ...running, ActiveState: "inactive", MainPID: "0", ExecMainStartTimestamp: "" }).status)
      .toEqual(DaemonStatus.Created())
    const stopped = UnitState.toState({
      ...running,
      ActiveState: "inactive",
      MainPID: "0",
      ExecMainExitTimestamp: "Tue 2026-11-24 12:50:00.000000 UTC",
      ExecMainCode: "1",
      ExecMainStatus: "143"
    })
    expect(stopped.status).toEqual(DaemonStatus.Stopped())
    expect(stopped.pid).toBeUndefined()
    expect(stopped.startedAt).toBeUndefined()
    expect(stopped.lastExit).toEqual({ code: 143, signal: null, at: Date.UTC(2026, 10, 24, 12, 50), description: "exited with code 143" })
  })

  it("a failed unit says why, from systemd's result and the exit", () => {
    const failed = UnitState.toState({
      ...running,
      ActiveState: "failed",
      MainPID: "0",
      Result: "watchdog",
      ExecMainExitTimestamp: "Tue 2026-11-24 12:50:00.000000 UTC",
      ExecMainCode: "2",
      ExecMainStatus: "6"
    })
    expect(failed.status).toEqual(DaemonStatus.Failed({ reason: "killed by SIGABRT (watchdog timeout)" }))
    expect(failed.lastExit).toMatchObject({ code: null, signal: "SIGABRT" })
    expect(UnitState.failure({ Result: "start-limit-hit" })).toBe("restarted too often (start limit hit)")
  })

  it("diff: the events between two readings", () => {
    const at = 1000
    expect(UnitState.diff(running, running, at)).toEqual([])
    expect(UnitState.diff({ ...running, ActiveState: "activating", StatusText: "" }, running, at)).toEqual([
      { _tag: "Ready", at },
      { _tag: "StatusText", text: "serving", at }
    ])
    expect(UnitState.diff(running, { ...running, ActiveState: "reloading" }, at)).toEqual([{ _tag: "Reloading", at }])
    expect(UnitState.diff(running, { ...running, ActiveState: "deactivating" }, at)).toEqual([{ _tag: "Stopping", at }])
    const watchdogged = {
      ...running,
      ActiveState: "activating",
      SubState: "auto-restart",
      MainPID: "0",
      Result: "watchdog",
      ExecMainExitTimestamp: "Tue 2026-11-24 12:50:00.000000 UTC",
      ExecMainCode: "2",
      ExecMainStatus: "6"
    }
    expect(UnitState.diff(running, watchdogged, at)).toEqual([
      { _tag: "WatchdogMissed", timeoutMs: 2000, at: Date.UTC(2026, 10, 24, 12, 50) },
      {
        _tag: "Exited",
        exit: { code: null, signal: "SIGABRT", at: Date.UTC(2026, 10, 24, 12, 50), description: "killed by SIGABRT (watchdog timeout)" }
      }
    ])
    const restarted = { ...running, MainPID: "43", NRestarts: "1", ExecMainStartTimestamp: "Tue 2026-11-24 12:50:01.000000 UTC" }
    expect(UnitState.diff(watchdogged, restarted, at)).toEqual([
      { _tag: "Started", pid: 43, at: Date.UTC(2026, 10, 24, 12, 50, 1) },
      { _tag: "Ready", at }
    ])
  })

  it("the last exit from systemd's journal messages, which survive a restart", () => {
    const entries = [
      { at: 5, fields: { MESSAGE_ID: UnitState.processExitMessage, EXIT_CODE: "killed", EXIT_STATUS: "9", INVOCATION_ID: "a" } },
      { at: 6, fields: { MESSAGE_ID: UnitState.unitResultMessage, UNIT_RESULT: "signal", INVOCATION_ID: "a" } },
      { at: 9, fields: { MESSAGE_ID: UnitState.processExitMessage, EXIT_CODE: "dumped", EXIT_STATUS: "6", INVOCATION_ID: "b" } },
      { at: 9, fields: { MESSAGE_ID: UnitState.unitResultMessage, UNIT_RESULT: "watchdog", INVOCATION_ID: "b" } }
    ]
    expect(UnitState.journalExit(entries)).toEqual({
      exit: { code: null, signal: "SIGABRT", at: 9, description: "dumped core (SIGABRT) (watchdog timeout)" },
      result: "watchdog"
    })
    expect(UnitState.journalExit(entries.slice(0, 2))?.exit).toEqual({ code: null, signal: "SIGKILL", at: 5, description: "killed by SIGKILL" })
    expect(UnitState.journalExit([])).toBeUndefined()
  })
})
