// DaemonManager over the native adapter, with real processes.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Input } from "../src/DaemonConfig.js"
import { decodeSync } from "../src/DaemonConfigSchema.js"
import * as DaemonManager from "../src/DaemonManager.js"
import * as NativeAdapter from "../src/NativeAdapter.js"
import { fixture } from "./helpers/process.js"

const logDirectory = mkdtempSync(join(tmpdir(), "duende-manager-"))
const managerLayer = DaemonManager.layer.pipe(
  Layer.provide(NativeAdapter.layer({ logDirectory, readyGrace: "200 millis" }))
)
const config = (name: string, extra: Partial<Input> = {}) =>
  decodeSync({
    name,
    command: [process.execPath, fixture("plain.mjs")],
    shutdownTimeout: "3s",
    platform: { native: { ready: "started" } },
    ...extra
  })

/** Subscribes now; returns a taker of manager events until one matches (bounded). */
const watch = (manager: DaemonManager.DaemonManager) =>
  Effect.flatMap(Effect.flatMap(manager.events, Stream.toPull), (pull) =>
    Effect.succeed((until: (event: DaemonManager.ManagerEvent) => boolean) =>
      Effect.gen(function*() {
        const seen: Array<DaemonManager.ManagerEvent & { at: number }> = []
        while (true) {
          for (const event of yield* Effect.orDie(pull)) {
            seen.push({ ...event, at: Date.now() })
            if (until(event)) return seen
          }
        }
      }).pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("no such event in 30s") }))))

describe("DaemonManager with the native adapter", () => {
  it.scopedLive("restarts a crashing daemon with exponential backoff, then gives up on the crash loop", () =>
    Effect.gen(function*() {
      const manager = yield* DaemonManager.DaemonManager
      const events = yield* watch(manager)
      yield* manager.add(
        config("crasher", {
          env: { PLAIN_EXIT: "1" },
          restart: {
            policy: "on-failure",
            backoff: { initial: "200ms", multiplier: 2, max: "5s", jitter: 0 },
            crashLoop: { burst: 3, interval: "1m" }
          }
        })
      )
      yield* manager.start("crasher")
      const seen = yield* events((e) => e._tag === "GaveUp")
      const restarting = seen.filter((e) => e._tag === "Restarting")
      expect(restarting.map((e) => (e._tag === "Restarting" ? e.delayMs : 0))).toEqual([200, 400, 800])
      expect(restarting[0]).toMatchObject({ attempt: 1, reason: "failed (exit 1)" })
      // Each restart starts no sooner than its delay.
      const starts = seen.filter((e) => e._tag === "Daemon" && e.event._tag === "Started").map((e) => e.at)
      expect(starts).toHaveLength(4)
      expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(350)
      expect(starts[3]! - starts[2]!).toBeGreaterThanOrEqual(750)
      const managed = yield* manager.get("crasher")
      expect(managed.restarts).toBe(3)
      expect(managed.state.status).toMatchObject({
        _tag: "Failed",
        reason: "crash loop: 3 restarts within 1m (last: failed (exit 1))"
      })
    }).pipe(Effect.provide(managerLayer)))

  it.scopedLive("on-failure does not restart a clean exit; always does", () =>
    Effect.gen(function*() {
      const manager = yield* DaemonManager.DaemonManager
      const events = yield* watch(manager)
      yield* manager.add(config("clean", { env: { PLAIN_EXIT: "0" }, restart: { policy: "on-failure" } }))
      yield* manager.add(
        config("again", {
          env: { PLAIN_EXIT: "0" },
          restart: { policy: "always", backoff: { initial: "100ms", jitter: 0 } }
        })
      )
      yield* manager.start("clean")
      yield* manager.start("again")
      const seen = [
        ...(yield* events((e) => e._tag === "Daemon" && e.name === "clean" && e.event._tag === "Exited")),
        ...(yield* events((e) => e._tag === "Restarting" && e.name === "again"))
      ]
      expect(seen.some((e) => e._tag === "Restarting" && e.name === "clean")).toBe(false)
      expect((yield* manager.get("clean")).state.status._tag).toBe("Stopped")
      yield* manager.stop("again")
    }).pipe(Effect.provide(managerLayer)))

  it.scopedLive("restarts a daemon that turns unhealthy", () =>
    Effect.gen(function*() {
      const manager = yield* DaemonManager.DaemonManager
      const events = yield* watch(manager)
      yield* manager.add(
        decodeSync({
          name: "sick",
          command: [process.execPath, fixture("native-daemon.mjs")],
          env: { FIXTURE_HEALTH: "fail" },
          health: { interval: "100ms", retries: 2 },
          restart: { policy: "on-failure" }
        })
      )
      yield* manager.start("sick")
      const first = (yield* manager.get("sick")).state.pid
      const seen = yield* events((e) => e._tag === "Restarting")
      const restart = seen[seen.length - 1]
      expect(restart).toMatchObject({ reason: "unhealthy (main: told to fail)", delayMs: 0 })
      yield* events((e) => e._tag === "Daemon" && e.event._tag === "Ready")
      const now = yield* manager.get("sick")
      expect(now.state.status._tag).toBe("Running")
      expect(now.state.pid).not.toBe(first)
      expect(now.restarts).toBeGreaterThanOrEqual(1)
      yield* manager.stop("sick")
    }).pipe(Effect.provide(managerLayer)))

  it.scopedLive("starts dependencies first and stops them last; a stop during backoff prevents the restart", () =>
    Effect.gen(function*() {
      const manager = yield* DaemonManager.DaemonManager
      const events = yield* watch(manager)
      yield* manager.add(config("web", { after: ["api"] }))
      yield* manager.add(config("api", { after: ["db"] }))
      yield* manager.add(config("db"))
      yield* manager.start("web")
      const started = (yield* events((e) => e._tag === "Daemon" && e.name === "web" && e.event._tag === "Started"))
        .filter((e) => e._tag === "Daemon" && e.event._tag === "Started")
        .map((e) => (e as { name: string }).name)
      expect(started).toEqual(["db", "api", "web"])
      yield* manager.shutdownAll
      const exited = (yield* events((e) => e._tag === "Daemon" && e.name === "db" && e.event._tag === "Exited"))
        .filter((e) => e._tag === "Daemon" && e.event._tag === "Exited")
        .map((e) => (e as { name: string }).name)
      expect(exited).toEqual(["web", "api", "db"])
      // desired states are kept for a supervisor that restores them
      expect((yield* manager.get("web")).desired).toBe("running")
    }).pipe(Effect.provide(managerLayer)))

  it.scopedLive("a stop while a restart is pending cancels it", () =>
    Effect.gen(function*() {
      const manager = yield* DaemonManager.DaemonManager
      const events = yield* watch(manager)
      yield* manager.add(
        config("pending", { env: { PLAIN_EXIT: "3" }, restart: { backoff: { initial: "2s", jitter: 0 } } })
      )
      yield* manager.start("pending")
      yield* events((e) => e._tag === "Restarting")
      expect((yield* manager.get("pending")).nextRestartAt).toBeGreaterThan(Date.now())
      yield* manager.stop("pending")
      yield* Effect.sleep("2500 millis")
      const state = yield* manager.get("pending")
      expect(state.restarts).toBe(0)
      expect(state.desired).toBe("stopped")
      expect(state.state.pid).toBeUndefined()
    }).pipe(Effect.provide(managerLayer)))

  it.scopedLive("names unknown daemons, missing dependencies and cycles", () =>
    Effect.gen(function*() {
      const manager = yield* DaemonManager.DaemonManager
      yield* manager.add(config("lonely", { after: ["ghost"] }))
      const unknown = yield* Effect.flip(manager.start("nobody"))
      expect(unknown.message).toBe(`no daemon named "nobody" (known: lonely)`)
      const missing = yield* Effect.flip(manager.start("lonely"))
      expect(missing.message).toBe(`lonely: runs after "ghost", which is not registered`)
      yield* manager.remove("lonely")
      yield* manager.add(config("a", { after: ["b"] }))
      yield* manager.add(config("b", { after: ["a"] }))
      const cycle = yield* Effect.flip(manager.start("a"))
      expect(cycle.message).toMatch(/dependency cycle: (a → b → a|b → a → b)/)
    }).pipe(Effect.provide(managerLayer)))

  it.scopedLive("a storm of crashes across daemons opens the restart circuit: restarts are held, one trial at a time", () =>
    Effect.gen(function*() {
      const manager = yield* DaemonManager.DaemonManager
      const events = yield* watch(manager)
      const crashing = { policy: "on-failure", backoff: { initial: "50ms", max: "100ms", jitter: 0 }, crashLoop: { burst: 100, interval: "1m" } } as const
      const names = ["s1", "s2", "s3", "s4"]
      for (const name of names) yield* manager.add(config(name, { env: { PLAIN_EXIT: "1" }, restart: crashing }))
      for (const name of names) yield* manager.start(name)
      const firstOpen = yield* events((e) => e._tag === "RestartCircuit" && e.state._tag === "Open")
      const opened = firstOpen.at(-1)!
      // Held: a restart waits, its reason and its time in the status.
      // Past every backoff (50 ms), once each has crashed again (a loaded machine starts node slowly).
      let all = yield* manager.list
      for (let i = 0; i < 40 && all.filter((each) => each.restartHeld !== undefined).length < 3; i++) {
        yield* Effect.sleep("25 millis")
        all = yield* manager.list
      }
      expect(all.filter((each) => each.restartHeld !== undefined).length).toBeGreaterThanOrEqual(3)
      const held = all.find((each) => each.restartHeld !== undefined)!
      expect(held.restartHeld).toMatch(/^restart circuit open: \d+ crashes of \d daemons within 10s; restarts held$/)
      expect(held.nextRestartAt).toBeGreaterThan(Date.now())
      // The cooldown passes; one trial restart; it crashes too (they all do): open again, for longer.
      const later = yield* events((e) => e._tag === "RestartCircuit" && e.state._tag === "Open")
      const starts = later.filter((e) => e._tag === "Daemon" && e.event._tag === "Started")
      expect(starts).toHaveLength(1)
      const second = later.at(-1)!
      if (opened._tag !== "RestartCircuit" || opened.state._tag !== "Open") throw new Error("not an opening")
      if (second._tag !== "RestartCircuit" || second.state._tag !== "Open") throw new Error("not an opening")
      expect(second.state.opens).toBe(2)
      expect(second.at - opened.at).toBeGreaterThanOrEqual(900) // the first cooldown: 1 s
      expect(second.state.retryAt - second.at).toBeGreaterThan(1_500) // the second: 2 s
      expect(second.state.reason).toMatch(/crashed during the trial restart of/)
      for (const name of names) yield* manager.remove(name)
    }).pipe(
      Effect.provide(
        Layer.scoped(
          DaemonManager.DaemonManager,
          DaemonManager.makeWith({ restartBreaker: { crashes: 6, daemons: 3, window: "10 seconds", cooldown: "1 second", probe: "2 seconds" } })
        ).pipe(Layer.provide(NativeAdapter.layer({ logDirectory, readyGrace: "200 millis" })))
      )
    ), 60_000)

  it.effect("orders dependency levels", () =>
    Effect.gen(function*() {
      const levels = yield* DaemonManager.dependencyLevels([
        { name: "web", after: ["api", "cache"] },
        { name: "api", after: ["db"] },
        { name: "cache", after: [] },
        { name: "db", after: [] }
      ])
      expect(levels).toEqual([["cache", "db"], ["api"], ["web"]])
    }))
})

