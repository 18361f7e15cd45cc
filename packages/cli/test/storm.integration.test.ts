// A crash storm against the real background supervisor: 100 daemons that each crash within a
// second and are restarted on their backoff, for 8 seconds. Afterwards, checked against /proc:
// no zombie and no orphan of ours, every daemon Running or waiting for its next restart (none
// given up, none lost), the supervisor still answering; then a shutdown leaves nothing behind.
// Bounds are generous: this asserts behaviour, the benchmark (bench/crash-storm.mjs) speed.
import * as Effect from "effect/Effect"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { encode, decodeSync } from "@duende/core/DaemonConfigSchema"
import * as ControlClient from "../src/ControlClient.js"
import type { DaemonInfo, Request } from "../src/ControlProtocol.js"
import * as Paths from "../src/Paths.js"
import { bin, runner } from "./helpers/cli.js"

const home = mkdtempSync(join(tmpdir(), "duende-storm-"))
const paths = Paths.resolve({ DUENDE_HOME: home })
const duende = runner({ DUENDE_HOME: home, DUENDE_RESTART_BREAKER: "off" })
const send = (request: Request) => Effect.runPromise(ControlClient.request(paths, request))

afterAll(async () => {
  await duende("shutdown")
  rmSync(home, { recursive: true, force: true })
}, 60_000)

interface Proc {
  readonly pid: number
  readonly ppid: number
  readonly state: string
}

/** The processes of this test's daemons (their DUENDE_LOG_FILE is under its home), zombies included. */
const ours = (): Array<Proc> =>
  readdirSync("/proc").filter((name) => /^\d+$/.test(name)).flatMap((name) => {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      const proc = { pid: Number(name), ppid: Number(fields[1]), state: fields[0]! }
      if (proc.state === "Z") return proc.ppid === supervisorPid() ? [proc] : []
      const environ = readFileSync(`/proc/${name}/environ`, "utf8")
      return /(?:^|\0)DUENDE_LOG_FILE=([^\0]*)/.exec(environ)?.[1]?.startsWith(`${home}/`) === true ? [proc] : []
    } catch {
      return []
    }
  })

const supervisorPid = () => Number(readFileSync(join(home, "supervisor.pid"), "utf8"))


describe("a crash storm under the background supervisor", () => {
  it("100 daemons crashing for 8s: no zombie, no orphan, each Running or in backoff, then a clean shutdown", async () => {
    // The storm itself: without the restart circuit breaker, which would hold the restarts.
    process.env.DUENDE_RESTART_BREAKER = "off"
    process.env.DUENDE_HOME = home
    await Effect.runPromise(ControlClient.ensureSupervisor(paths, bin))
    const count = 100
    for (let i = 0; i < count; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, k) =>
        send({
          method: "add",
          config: encode(decodeSync({
            name: `storm-${i + k}`,
            command: ["sh", "-c", `sleep 0.${((i + k) % 9) + 1}; exit 1`],
            platform: { native: { ready: "started" } },
            restart: { policy: "always", backoff: { initial: "200ms", max: "1s", jitter: 0.3 }, crashLoop: { burst: 10_000, interval: "1m" } },
            shutdownTimeout: "2s"
          })),
          start: true
        })))
    }
    await new Promise((resolve) => setTimeout(resolve, 8_000))
    const supervisor = supervisorPid()
    const listed = (await send({ method: "list" })) as ReadonlyArray<DaemonInfo>
    expect(listed).toHaveLength(count)
    const restarts = listed.reduce((n, d) => n + d.restarts, 0)
    expect(restarts).toBeGreaterThan(count) // it stormed: each restarted at least about once
    // Each is running, or has crashed and waits for its next restart; none failed for good.
    const odd = listed.filter((d) => !(d.statusTag === "Running" || d.statusTag === "Starting" || d.nextRestartAt !== null))
    expect(odd.map((d) => `${d.name}: ${d.statusTag} ${d.status} next=${d.nextRestartAt}`)).toEqual([])
    const procs = ours()
    // A process that has just ended is a zombie until the supervisor reaps it (the storm goes
    // on): only one that is still a zombie 2s later is a leak.
    const candidates = procs.filter((p) => p.state === "Z")
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const zombies = candidates.filter((z) => ours().some((p) => p.pid === z.pid && p.state === "Z" && p.ppid === z.ppid))
    expect(zombies).toEqual([])
    // Every daemon process is a main process of the supervisor, or the `sleep` of one.
    const mains = new Set(procs.filter((p) => p.ppid === supervisor).map((p) => p.pid))
    const orphans = procs.filter((p) => p.state !== "Z" && p.ppid !== supervisor && !mains.has(p.ppid))
    expect(orphans).toEqual([])
    // Still answering promptly enough for a human.
    const asked = Date.now()
    await send({ method: "stats" })
    expect(Date.now() - asked).toBeLessThan(5_000)
    await duende("shutdown")
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(ours()).toEqual([])
  }, 120_000)
})
