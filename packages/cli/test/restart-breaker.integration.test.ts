// The supervisor's restart circuit breaker, end to end: four daemons that crash at once open
// it; their restarts are held and `duende status` says so; with DUENDE_RESTART_BREAKER=off a
// second supervisor restarts them on their own backoff.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { runner } from "./helpers/cli.js"

const homes: Array<string> = []
afterAll(async () => {
  for (const home of homes) {
    await runner({ DUENDE_HOME: home })("shutdown")
    rmSync(home, { recursive: true, force: true })
  }
}, 60_000)

const storm = async (env: Record<string, string>) => {
  const home = mkdtempSync(join(tmpdir(), "duende-breaker-"))
  homes.push(home)
  const duende = runner({ DUENDE_HOME: home, ...env })
  for (const name of ["c1", "c2", "c3", "c4"]) {
    const path = join(home, `${name}.json`)
    writeFileSync(path, JSON.stringify({
      name,
      command: ["sh", "-c", "sleep 0.1; exit 1"],
      platform: { native: { ready: "started" } },
      restart: { policy: "on-failure", backoff: { initial: "100ms", max: "200ms", jitter: 0 }, crashLoop: { burst: 1000, interval: "1m" } }
    }))
    await duende("start", path)
  }
  return duende
}

interface Info {
  readonly name: string
  readonly restarts: number
  readonly restartHeld: string | null
}

describe("the restart circuit breaker of the supervisor", () => {
  it("holds every restart when daemons crash together, and says so in status", async () => {
    const duende = await storm({})
    let held: ReadonlyArray<Info> = []
    for (let i = 0; i < 80 && held.length < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      held = (JSON.parse((await duende("ls", "--json")).stdout) as ReadonlyArray<Info>).filter((d) => d.restartHeld !== null)
    }
    expect(held.length).toBeGreaterThanOrEqual(3)
    expect(held[0]!.restartHeld).toMatch(/^restart circuit (open: \d+ crashes of [34] daemons within 10s|half-open: c\d restarted as a trial); restarts held$/)
    const shown = (await duende("status", held[0]!.name)).stdout
    expect(shown).toMatch(/restarts +\d+ \(next in [^)]+\) — restart circuit/)
    // Held: over the next second, the held ones do not restart.
    const before = JSON.parse((await duende("ls", "--json")).stdout) as ReadonlyArray<Info>
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const after = JSON.parse((await duende("ls", "--json")).stdout) as ReadonlyArray<Info>
    const restartedMeanwhile = after.filter((d) => d.restarts > before.find((b) => b.name === d.name)!.restarts)
    expect(restartedMeanwhile.length).toBeLessThanOrEqual(1) // at most the trial
  }, 90_000)

  it("DUENDE_RESTART_BREAKER=off: each daemon restarts on its own backoff", async () => {
    const duende = await storm({ DUENDE_RESTART_BREAKER: "off" })
    await new Promise((resolve) => setTimeout(resolve, 4_000))
    const all = JSON.parse((await duende("ls", "--json")).stdout) as ReadonlyArray<Info>
    expect(all.every((d) => d.restartHeld === null)).toBe(true)
    expect(all.every((d) => d.restarts >= 5)).toBe(true)
  }, 90_000)
})
