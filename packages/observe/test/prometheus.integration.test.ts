// A real Prometheus server scrapes our endpoint on loopback every second; the
// values are read back through Prometheus' HTTP API.
import { Integration } from "@duende/testing"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as MetricsRegistry from "../src/MetricsRegistry.js"
import * as ProcessSampler from "../src/ProcessSampler.js"
import * as PrometheusServer from "../src/PrometheusServer.js"
import * as SupervisorMetrics from "../src/SupervisorMetrics.js"

const gate = Integration.check(Integration.tool("prometheus", "apt-get install prometheus"))

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe.skipIf(!gate.ok)(`Prometheus scrapes the endpoint${gate.label}`, () => {
  const dir = mkdtempSync(join(tmpdir(), "duende-observe-prometheus-"))
  const scope = Effect.runSync(Scope.make())
  let prometheus: ChildProcess | undefined
  let log = ""
  let api = ""
  let events: MetricsRegistry.Counter<"daemon">
  let target = ""

  const query = async (expression: string) => {
    const response = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expression)}`)
    const body = (await response.json()) as {
      status: string
      data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> }
    }
    expect(body.status).toBe("success")
    return body.data.result
  }

  /** Polls until `expression` has a sample satisfying `accept`; Prometheus scrapes every second. */
  const eventually = async (expression: string, accept: (value: number) => boolean, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs
    let last: unknown
    while (Date.now() < deadline) {
      const result = await query(expression).catch((error: unknown) => (last = error, []))
      const found = result.find((r) => accept(Number(r.value[1])))
      if (found !== undefined) return found
      last = result
      await sleep(250)
    }
    throw new Error(`no sample of ${expression} was accepted within ${timeoutMs}ms; last: ${JSON.stringify(last)}\n${log}`)
  }

  beforeAll(async () => {
    const registry = await Effect.runPromise(MetricsRegistry.make())
    events = registry.counter({ name: "duende_it_events_total", help: "Events.", labelNames: ["daemon"] })
    events.inc({ daemon: "it" }, 42)
    await Effect.runPromise(
      SupervisorMetrics.register(registry, {
        daemons: Effect.sync(() => [{ name: "it-self", pid: process.pid, restarts: 3, startedAt: Date.now() - 5_000 }])
      }).pipe(Effect.provide(ProcessSampler.layer()), Scope.extend(scope))
    )
    const server = await Effect.runPromise(Scope.extend(PrometheusServer.make(registry), scope))
    target = `${server.host}:${server.port}`
    const webPort = await freePort()
    api = `http://127.0.0.1:${webPort}`
    writeFileSync(
      join(dir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: duende",
        "    scrape_interval: 1s",
        "    static_configs:",
        `      - targets: ["${target}"]`,
        ""
      ].join("\n")
    )
    prometheus = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${webPort}`,
        "--log.level=warn"
      ],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    prometheus.stdout!.on("data", (chunk: Buffer) => (log += chunk.toString()))
    prometheus.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()))
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      if (prometheus.exitCode !== null) throw new Error(`prometheus exited ${prometheus.exitCode}:\n${log}`)
      const ready = await fetch(`${api}/-/ready`).then((r) => r.ok, () => false)
      if (ready) return
      await sleep(200)
    }
    throw new Error(`prometheus was not ready within 30s:\n${log}`)
  })

  afterAll(async () => {
    if (prometheus !== undefined && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus!.once("exit", resolve))
      prometheus.kill("SIGTERM")
      const timer = setTimeout(() => prometheus!.kill("SIGKILL"), 5_000)
      await exited
      clearTimeout(timer)
    }
    await Effect.runPromise(Scope.close(scope, Exit.void))
    rmSync(dir, { recursive: true, force: true })
  })

  it("scrapes the target as up and stores the counter's value", async () => {
    const up = await eventually(`up{job="duende"}`, (v) => v === 1)
    expect(up.metric.instance).toBe(target)
    const sample = await eventually(`duende_it_events_total{daemon="it"}`, (v) => v === 42)
    expect(sample.metric.job).toBe("duende")
  })

  it("follows the value as it changes", async () => {
    events.inc({ daemon: "it" }, 8)
    await eventually(`duende_it_events_total{daemon="it"}`, (v) => v === 50)
  })

  it("stores the supervisor's per-daemon process metrics", async () => {
    const rss = await eventually(`duende_daemon_resident_memory_bytes{daemon="it-self"}`, (v) => v > 10_000_000)
    expect(rss.metric.daemon).toBe("it-self")
    await eventually(`duende_daemon_restarts_total{daemon="it-self"}`, (v) => v === 3)
    await eventually(`duende_daemon_up{daemon="it-self"}`, (v) => v === 1)
    // cpu % needs two scrapes: it appears from the second one on.
    await eventually(`duende_daemon_cpu_percent{daemon="it-self"}`, (v) => v >= 0)
  })
})
