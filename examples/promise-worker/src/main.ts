/**
 * promise-worker: a queue worker written as a plain class, with no Effect in
 * sight: Duende's Promise facade runs it on the same lifecycle (signals,
 * deadlines, health, reload, exit codes).
 *
 * It takes a job every JOB_MS milliseconds and finishes the job in hand before
 * it stops.
 */
import { type DaemonConfig, PromiseDaemon } from "@duende/core"
import { setTimeout as sleep } from "node:timers/promises"

class Worker implements PromiseDaemon.PromiseDaemon {
  readonly name = "promise-worker"
  private done = 0
  private jobMs = 250
  private lastJobAt = Date.now()

  async init(config: DaemonConfig.DaemonConfig) {
    this.jobMs = Number(config.env.JOB_MS ?? process.env.JOB_MS ?? 250)
    console.log(`worker ready: one job every ${this.jobMs}ms`)
  }

  async run(ctx: PromiseDaemon.RunContext) {
    while (!ctx.shouldShutdown()) {
      await sleep(this.jobMs) // a job: not interrupted half-way, finished before stopping
      this.done++
      this.lastJobAt = Date.now()
      if (this.done % 20 === 0) ctx.setStatus(`${this.done} jobs done`)
    }
  }

  async shutdown(timeoutMs: number) {
    console.log(`stopping after ${this.done} jobs (${timeoutMs}ms allowed)`)
  }

  healthCheck() {
    // Healthy while jobs keep finishing.
    return Date.now() - this.lastJobAt < 10 * this.jobMs
  }

  async reload(config: DaemonConfig.DaemonConfig) {
    this.jobMs = Number(config.env.JOB_MS ?? this.jobMs)
    console.log(`reloaded: one job every ${this.jobMs}ms`)
  }
}

PromiseDaemon.runMain(new Worker())
