import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as HealthMonitor from "../src/HealthMonitor.js"
import * as MetricsRegistry from "../src/MetricsRegistry.js"
import * as ProcessSampler from "../src/ProcessSampler.js"
import * as ProcessSource from "../src/ProcessSource.js"
import * as SupervisorMetrics from "../src/SupervisorMetrics.js"
import { parseExposition } from "./helpers/exposition.js"
import { promtoolCheck } from "./helpers/promtool.js"
import { Integration } from "@duende/testing"

const cpu = new Map<number, number>([[100, 1], [200, 2], [201, 0.5]])
const source: ProcessSource.ProcessSource = {
  kind: "procfs",
  read: (pids) =>
    Effect.sync(() =>
      pids.filter((pid) => cpu.has(pid)).map((pid) => ({
        pid,
        ppid: pid === 201 ? 200 : 1,
        sid: undefined,
        command: `p${pid}`,
        state: pid === 200 ? "R" : "S",
        startedAt: -60_000,
        cpuSeconds: cpu.get(pid)!,
        childrenCpuSeconds: 0,
        residentBytes: pid * 1024,
        virtualBytes: pid * 4096,
        threads: 3,
        openFds: 7,
        ioReadBytes: 100,
        ioWriteBytes: 200,
        diskReadBytes: 0,
        diskWriteBytes: 4096
      }))
    ),
  table: Effect.sync(() => [...cpu.keys()].map((pid) => ({ pid, ppid: pid === 201 ? 200 : 1, sid: undefined, state: "S" })))
}

const sampler = Effect.provideService(ProcessSampler.make(), ProcessSource.ProcessSource, source)

const value = (text: string, name: string, daemon: string, extra: Record<string, string> = {}) =>
  parseExposition(text).find((s) =>
    s.name === name && s.labels.daemon === daemon && Object.entries(extra).every(([k, v]) => s.labels[k] === v)
  )?.value

describe("SupervisorMetrics", () => {
  it.scoped("exposes each daemon's lifecycle and process-tree metrics, labelled by daemon", () =>
    Effect.gen(function*() {
      const registry = yield* MetricsRegistry.make({ effectMetrics: false })
      let daemons: ReadonlyArray<SupervisorMetrics.DaemonView> = [
        { name: "web", pid: 200, startedAt: -30_000, restarts: 2, health: "healthy" },
        { name: "jobs", pid: 100, startedAt: 0, restarts: 0, health: "unhealthy" },
        { name: "stopped", pid: undefined, restarts: 5 },
        { name: "vanished", pid: 999, restarts: 1 }
      ]
      yield* SupervisorMetrics.register(registry, { daemons: Effect.sync(() => daemons) }).pipe(
        Effect.provideServiceEffect(ProcessSampler.ProcessSampler, sampler)
      )
      yield* TestClock.adjust(Duration.seconds(10))
      const text = yield* registry.render
      expect(value(text, "duende_daemon_up", "web")).toBe(1)
      expect(value(text, "duende_daemon_up", "stopped")).toBe(0)
      expect(value(text, "duende_daemon_up", "vanished")).toBe(0)
      expect(value(text, "duende_daemon_restarts_total", "web")).toBe(2)
      expect(value(text, "duende_daemon_restarts_total", "stopped")).toBe(5)
      expect(value(text, "duende_daemon_uptime_seconds", "web")).toBe(40)
      expect(value(text, "duende_daemon_uptime_seconds", "jobs")).toBe(10)
      expect(value(text, "duende_daemon_healthy", "web")).toBe(1)
      expect(value(text, "duende_daemon_healthy", "jobs")).toBe(0)
      // web's tree is 200 and its child 201.
      expect(value(text, "duende_daemon_processes", "web")).toBe(2)
      expect(value(text, "duende_daemon_resident_memory_bytes", "web")).toBe((200 + 201) * 1024)
      expect(value(text, "duende_daemon_cpu_seconds_total", "web")).toBe(2.5)
      expect(value(text, "duende_daemon_threads", "web")).toBe(6)
      expect(value(text, "duende_daemon_open_fds", "web")).toBe(14)
      expect(value(text, "duende_daemon_io_write_bytes_total", "web")).toBe(400)
      expect(value(text, "duende_daemon_disk_write_bytes_total", "web")).toBe(8192)
      expect(value(text, "duende_daemon_process_state", "web", { state: "R" })).toBe(1)
      expect(value(text, "duende_daemon_cpu_percent", "web")).toBeUndefined() // one sample so far

      // The next scrape: cpu % from the delta; a removed daemon's series are gone.
      cpu.set(200, 2.5)
      daemons = daemons.filter((d) => d.name !== "jobs")
      yield* TestClock.adjust(Duration.seconds(1))
      const next = yield* registry.render
      expect(value(next, "duende_daemon_cpu_percent", "web")).toBeCloseTo(50)
      expect(parseExposition(next).some((s) => s.labels.daemon === "jobs")).toBe(false)
    }))

  it.scoped("failed health checks and the failure ratio come from a HealthMonitor in context", () =>
    Effect.gen(function*() {
      const registry = yield* MetricsRegistry.make({ effectMetrics: false })
      const monitor = yield* HealthMonitor.make()
      for (const state of ["healthy", "unhealthy", "unhealthy", "healthy"] as const) yield* monitor.record("web", { state })
      yield* SupervisorMetrics.register(registry, {
        daemons: Effect.succeed([{ name: "web", pid: 100 }]),
        tree: false
      }).pipe(
        Effect.provideServiceEffect(ProcessSampler.ProcessSampler, sampler),
        Effect.provideService(HealthMonitor.HealthMonitor, monitor)
      )
      const text = yield* registry.render
      expect(value(text, "duende_health_check_failures_total", "web")).toBe(2)
      expect(value(text, "duende_daemon_health_failure_ratio", "web")).toBe(0.5)
      expect(value(text, "duende_daemon_processes", "web")).toBe(1)
    }))

  it.scoped("a daemon list that fails is logged; the scrape shows no daemons", () =>
    Effect.gen(function*() {
      const registry = yield* MetricsRegistry.make({ effectMetrics: false })
      yield* SupervisorMetrics.register(registry, { daemons: Effect.fail("manager gone") }).pipe(
        Effect.provideServiceEffect(ProcessSampler.ProcessSampler, sampler)
      )
      const samples = parseExposition(yield* registry.render)
      expect(samples).toEqual([])
    }))

  const promtool = Integration.check(Integration.tool("promtool", "apt-get install prometheus"))
  it.scoped.skipIf(!promtool.ok)(`promtool accepts the supervisor's exposition${promtool.label}`, () =>
    Effect.gen(function*() {
      const registry = yield* MetricsRegistry.make()
      yield* SupervisorMetrics.register(registry, {
        daemons: Effect.succeed([{ name: "web", pid: 200, startedAt: 0, restarts: 1, health: "healthy" }])
      }).pipe(Effect.provideServiceEffect(ProcessSampler.ProcessSampler, sampler))
      yield* registry.render
      yield* TestClock.adjust(Duration.seconds(1))
      const check = promtoolCheck(yield* registry.render)
      expect(check.output).toBe("")
      expect(check.code).toBe(0)
    }))
})
