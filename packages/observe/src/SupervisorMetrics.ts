/**
 * The metrics of every daemon a supervisor runs, labelled `daemon=<name>`,
 * computed at each scrape: up, restarts, uptime, health (and failed checks
 * when a {@link HealthMonitor} is in context), and the resources of each
 * daemon's process tree (cpu, memory, threads, fds, io, process count and
 * state) from the {@link ProcessSampler}. Series of a daemon that is gone
 * disappear with it.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as HealthMonitor from "./HealthMonitor.js"
import type * as MetricsRegistry from "./MetricsRegistry.js"
import * as ProcessSampler from "./ProcessSampler.js"

/**
 * What the supervisor knows of one daemon (DaemonManager's `Managed` maps to it).
 *
 * @since 0.1.0
 */
export interface DaemonView {
  readonly name: string
  /** The main pid while it runs. */
  readonly pid: number | undefined
  /** When the current run started (epoch ms). */
  readonly startedAt?: number | undefined
  readonly restarts?: number | undefined
  readonly health?: HealthMonitor.HealthState | undefined
}

/**
 * What to expose.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The daemons now; read at every scrape. A failure is logged and the scrape shows no daemons. */
  readonly daemons: Effect.Effect<ReadonlyArray<DaemonView>, unknown>
  /** Sample each daemon's whole process tree (default) or only its main process. */
  readonly tree?: boolean
}

/**
 * Adds the daemons' metrics to `registry` for the life of the scope.
 *
 * @example
 * ```ts
 * import { MetricsRegistry, ProcessSampler, PrometheusServer, SupervisorMetrics } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const serve = Effect.scoped(
 *   Effect.gen(function*() {
 *     const registry = yield* MetricsRegistry.make()
 *     yield* SupervisorMetrics.register(registry, {
 *       daemons: Effect.succeed([{ name: "self", pid: process.pid, startedAt: Date.now(), restarts: 0 }])
 *     })
 *     const server = yield* PrometheusServer.make(registry)
 *     yield* Effect.log(`metrics at ${server.url}`)
 *     yield* Effect.never
 *   })
 * ).pipe(Effect.provide(ProcessSampler.layer()))
 * ```
 *
 * @since 0.1.0
 */
export const register = (
  registry: MetricsRegistry.MetricsRegistry,
  options: Options
): Effect.Effect<void, never, Scope.Scope | ProcessSampler.ProcessSampler> =>
  Effect.gen(function*() {
    const sampler = yield* ProcessSampler.ProcessSampler
    const monitor = yield* Effect.serviceOption(HealthMonitor.HealthMonitor)
    const labelNames = ["daemon"] as const
    const gauge = (name: string, help: string) => registry.gauge({ name, help, labelNames })
    const counter = (name: string, help: string) => registry.counter({ name, help, labelNames })
    const up = gauge("duende_daemon_up", "1 while the daemon's main process runs, else 0.")
    const restarts = counter("duende_daemon_restarts_total", "Restarts of the daemon.")
    const uptime = gauge("duende_daemon_uptime_seconds", "Seconds since the daemon's current run started.")
    const healthy = gauge("duende_daemon_healthy", "1 when the last health check passed, 0 when it failed.")
    const failures = counter("duende_health_check_failures_total", "Health checks that failed or timed out.")
    const failureRate = gauge(
      "duende_daemon_health_failure_ratio",
      "Failed health checks / health checks, over the stored history."
    )
    const cpuSeconds = counter("duende_daemon_cpu_seconds_total", "CPU time (user + system) of the daemon's processes.")
    const cpuPercent = gauge("duende_daemon_cpu_percent", "CPU use since the previous scrape, % of one core.")
    const resident = gauge("duende_daemon_resident_memory_bytes", "Resident memory of the daemon's processes.")
    const virtual = gauge("duende_daemon_virtual_memory_bytes", "Virtual memory of the daemon's processes.")
    const threads = gauge("duende_daemon_threads", "Threads of the daemon's processes.")
    const fds = gauge("duende_daemon_open_fds", "Open file descriptors of the daemon's processes.")
    const ioRead = counter("duende_daemon_io_read_bytes_total", "Bytes read through read syscalls.")
    const ioWrite = counter("duende_daemon_io_write_bytes_total", "Bytes written through write syscalls.")
    const diskRead = counter("duende_daemon_disk_read_bytes_total", "Bytes fetched from storage.")
    const diskWrite = counter("duende_daemon_disk_write_bytes_total", "Bytes sent to storage.")
    const processes = gauge("duende_daemon_processes", "Processes in the daemon's tree.")
    const state = registry.gauge({
      name: "duende_daemon_process_state",
      help: "1 for the state of the daemon's main process (R running, S sleeping, D disk wait, Z zombie, T stopped).",
      labelNames: ["daemon", "state"]
    })
    const families = [
      up, restarts, uptime, healthy, failures, failureRate, cpuSeconds, cpuPercent, resident, virtual, threads,
      fds, ioRead, ioWrite, diskRead, diskWrite, processes, state
    ]
    // One read of the process table per scrape for all daemons (trees), or one read per main process.
    const sampleAll = (pids: ReadonlyArray<number>): Effect.Effect<ReadonlyMap<number, ProcessSampler.ProcessSample>> =>
      options.tree === false
        ? Effect.map(
          Effect.forEach(pids, (pid) => Effect.option(sampler.sample(pid))),
          (samples) => new Map(samples.flatMap((s) => (s._tag === "Some" ? [[s.value.pid, s.value] as const] : [])))
        )
        : Effect.orElseSucceed(sampler.sampleTrees(pids), () => new Map())

    const collect = Effect.gen(function*() {
      const listed = yield* Effect.either(options.daemons)
      for (const family of families) family.clear()
      if (Either.isLeft(listed)) return yield* Effect.logWarning("metrics: cannot list the daemons", listed.left)
      const now = yield* Clock.currentTimeMillis
      const taken = yield* sampleAll(listed.right.flatMap((daemon) => (daemon.pid === undefined ? [] : [daemon.pid])))
      for (const daemon of listed.right) {
        const labels = { daemon: daemon.name }
        if (daemon.restarts !== undefined) restarts.inc(labels, daemon.restarts)
        if (daemon.health === "healthy" || daemon.health === "unhealthy") {
          healthy.set(labels, daemon.health === "healthy" ? 1 : 0)
        }
        if (Option.isSome(monitor)) {
          const stats = yield* monitor.value.stats(daemon.name)
          failures.inc(labels, stats.failures)
          if (stats.checks > 0) failureRate.set(labels, yield* monitor.value.failureRate(daemon.name))
        }
        const s = daemon.pid === undefined ? undefined : taken.get(daemon.pid)
        if (s === undefined) {
          up.set(labels, 0)
          continue
        }
        up.set(labels, 1)
        if (daemon.startedAt !== undefined) uptime.set(labels, Math.max(0, (now - daemon.startedAt) / 1000))
        cpuSeconds.inc(labels, s.cpuSeconds)
        if (s.cpuPercent !== undefined) cpuPercent.set(labels, s.cpuPercent)
        resident.set(labels, s.residentBytes)
        virtual.set(labels, s.virtualBytes)
        if (s.threads !== undefined) threads.set(labels, s.threads)
        if (s.openFds !== undefined) fds.set(labels, s.openFds)
        if (s.ioReadBytes !== undefined) ioRead.inc(labels, s.ioReadBytes)
        if (s.ioWriteBytes !== undefined) ioWrite.inc(labels, s.ioWriteBytes)
        if (s.diskReadBytes !== undefined) diskRead.inc(labels, s.diskReadBytes)
        if (s.diskWriteBytes !== undefined) diskWrite.inc(labels, s.diskWriteBytes)
        processes.set(labels, s.pids.length)
        state.set({ daemon: daemon.name, state: s.state }, 1)
      }
    })
    yield* registry.addCollector(collect)
  })
