/**
 * The adapter contract: the lifecycle claims every platform must meet, as one
 * vitest suite that takes an adapter layer. Each platform package runs it
 * against its adapter (the test platform and the native adapter run it here):
 *
 * - start, and report Running with a pid;
 * - stop gracefully within the timeout;
 * - force a stop at the timeout when the daemon does not end;
 * - restart after a crash per policy, with backoff (where the platform
 *   restarts by itself: that it restarted, with its own spacing);
 * - give up at the crash-loop limit (the manager's, or the platform's own);
 * - refuse a double start; a double stop does nothing;
 * - report a valid status in every phase;
 * - honour the environment and working directory;
 * - deliver the daemon's output to its logs.
 *
 * @since 0.1.0
 */
import type { DaemonConfig } from "@duende/core"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { DaemonManager, PlatformAdapter } from "@duende/core/manager"
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Behavior } from "./Behavior.js"

/**
 * How to run the contract on a platform.
 *
 * @since 0.1.0
 */
export interface Options {
  /** A fresh adapter for each claim. */
  readonly layer: Layer.Layer<PlatformAdapter.PlatformAdapter, unknown>
  /** "test" for adapters on Effect's clock (the test platform), "live" for real ones. */
  readonly clock: "live" | "test"
  /**
   * A config (as in a config file) whose command acts out `behavior` on this
   * platform, e.g. `node contract-daemon.mjs` with `Behavior.toEnv(behavior)`.
   */
  readonly daemon: (name: string, behavior: Behavior) => DaemonConfig.Input
  /** A directory that exists where daemons run, for the working-directory claim. */
  readonly workingDirectory: string
  /** Multiplies every time in the claims, for slow platforms (default 1). */
  readonly timeScale?: number
  /**
   * Multiplies only how long the claims wait for something to happen, not the delays they
   * assert (default 1): for a platform whose every start is slow, such as a VM boot.
   */
  readonly waitScale?: number
}

/**
 * Registers the contract as a vitest `describe` block named after `name`.
 *
 * @example
 * ```ts
 * // packages/platform-x/test/contract.test.ts
 * import { Behavior } from "@duende/testing"
 * import * as AdapterContract from "@duende/testing/AdapterContract"
 * import { XAdapter } from "../src/adapter.js"
 *
 * AdapterContract.run("XAdapter", {
 *   layer: XAdapter.layer({}),
 *   clock: "live",
 *   workingDirectory: "/tmp",
 *   daemon: (name, behavior) => ({
 *     name,
 *     command: ["node", AdapterContract.fixture],
 *     env: Behavior.toEnv(behavior)
 *   })
 * })
 * ```
 *
 * @since 0.1.0
 */
export const run = (name: string, options: Options): void => {
  const scale = options.timeScale ?? 1
  const ms = (n: number) => Duration.millis(n * scale)
  const base = options.clock === "test" ? it.scoped : it.scopedLive
  // Each claim may take as much longer as its waits (vitest's default is 60 s).
  const test = (name: string, self: Parameters<typeof base>[1]) => base(name, self, 60_000 * (options.waitScale ?? 1))
  let counter = 0
  const config = (behavior: Behavior, extra: Partial<DaemonConfig.Input> = {}): DaemonConfig.DaemonConfig => {
    const base = options.daemon(`contract-${++counter}`, behavior)
    return decodeSync({ ...base, shutdownTimeout: 10_000 * scale, ...extra, env: { ...base.env, ...extra.env } }, "contract")
  }

  /** Lets time pass: the test clock is moved, the live clock is waited on. */
  const pass = (duration: Duration.Duration) =>
    options.clock === "test"
      ? Effect.zipRight(TestClock.adjust(duration), Effect.repeatN(Effect.yieldNow(), 32))
      : Effect.sleep(duration)

  /** Runs an effect that waits on time, moving the test clock while it runs. */
  const drive = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    options.clock === "live" ? effect : Effect.gen(function*() {
      const fiber = yield* Effect.fork(effect)
      for (let i = 0; i < 100_000; i++) {
        const done = yield* Fiber.poll(fiber)
        if (done._tag === "Some") return yield* Fiber.join(fiber)
        yield* pass(Duration.millis(10))
      }
      return yield* Fiber.join(fiber)
    })

  /** Waits (moving the test clock if needed) until `check` holds; fails after `budget`. */
  const until = <A, E, R>(check: Effect.Effect<A | undefined, E, R>, budget: Duration.Duration, what: string) =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      while (true) {
        const value = yield* check
        if (value !== undefined) return value
        if ((yield* Clock.currentTimeMillis) - start > Duration.toMillis(budget) * (options.waitScale ?? 1)) {
          const waited = Duration.times(budget, options.waitScale ?? 1)
          return yield* Effect.dieMessage(`contract: ${what} did not happen within ${Duration.format(waited)}`)
        }
        yield* pass(Duration.millis(options.clock === "test" ? 10 : 25))
      }
    })

  const withAdapter = <A, E>(body: (adapter: PlatformAdapter.PlatformAdapter) => Effect.Effect<A, E, Scope.Scope>) =>
    Effect.flatMap(PlatformAdapter.PlatformAdapter, body).pipe(Effect.provide(options.layer))

  const manager = DaemonManager.layer

  describe(`adapter contract: ${name}`, () => {
    test("starts a daemon and reports it Running with a pid", () =>
      withAdapter((adapter) =>
        Effect.gen(function*() {
          const handle = yield* adapter.install(config({}))
          expect((yield* adapter.status(handle)).status._tag).toBe("Created")
          yield* drive(adapter.start(handle))
          const state = yield* adapter.status(handle)
          expect(state.status._tag).toBe("Running")
          expect(state.pid).toBeGreaterThan(0)
          yield* drive(adapter.stop(handle, ms(5_000)))
        })))

    test("stops gracefully within the timeout", () =>
      withAdapter((adapter) =>
        Effect.gen(function*() {
          const handle = yield* adapter.install(config({ shutdownMs: 300 * scale }))
          yield* drive(adapter.start(handle))
          const before = yield* Clock.currentTimeMillis
          yield* drive(adapter.stop(handle, ms(5_000)))
          const took = (yield* Clock.currentTimeMillis) - before
          const state = yield* adapter.status(handle)
          expect(state.status._tag).toBe("Stopped")
          expect(state.lastExit).toMatchObject({ code: 143, signal: null })
          expect(took).toBeGreaterThanOrEqual(300 * scale - 50)
          expect(took).toBeLessThan(5_000 * scale)
          expect(state.pid).toBeUndefined()
        })))

    test("forces a stop at the timeout when the daemon does not end", () =>
      withAdapter((adapter) =>
        Effect.gen(function*() {
          const handle = yield* adapter.install(config({ ignoreTerm: true }, { shutdownTimeout: 60_000 * scale }))
          yield* drive(adapter.start(handle))
          const before = yield* Clock.currentTimeMillis
          yield* drive(adapter.stop(handle, ms(1_000)))
          const took = (yield* Clock.currentTimeMillis) - before
          const state = yield* adapter.status(handle)
          expect(state.status._tag).toBe("Stopped")
          expect(state.lastExit).toMatchObject({ code: null, signal: "SIGKILL" })
          expect(took).toBeGreaterThanOrEqual(1_000 * scale - 50)
          expect(took).toBeLessThan(30_000 * scale)
        })))

    test("restarts a crashed daemon per its policy, with backoff", () =>
      Effect.gen(function*() {
        const daemons = yield* DaemonManager.DaemonManager
        const crasher = config(
          { exitAfterMs: 200 * scale, exitCode: 1 },
          {
            restart: {
              policy: "on-failure",
              backoff: { initial: 300 * scale, multiplier: 2, jitter: 0, max: 60_000 * scale },
              crashLoop: { burst: 10, interval: 600_000 * scale }
            }
          }
        )
        if (daemons.adapter.restarts === "platform") {
          // The platform restarts by itself (systemd Restart=, podman --restart): it must have
          // restarted the daemon twice, and it runs again. Platforms space restarts their own
          // way (a fixed RestartSec on older systemd), so no delay is asserted here.
          const handle = yield* daemons.adapter.install(crasher)
          yield* drive(daemons.adapter.start(handle))
          const state = yield* until(
            Effect.map(daemons.adapter.status(handle), (s) =>
              s.restarts >= 2 && s.status._tag === "Running" ? s : undefined),
            ms(60_000),
            "two restarts by the platform"
          )
          expect(state.lastExit?.code).toBe(1)
          yield* drive(daemons.adapter.stop(handle, ms(5_000)))
          return
        }
        const restarts: Array<number> = []
        // Collect in the background: a blocking pull would stop the test clock from moving.
        yield* Effect.forkScoped(
          Stream.runForEach(yield* daemons.events, (event) =>
            Effect.sync(() => {
              if (event._tag === "Restarting") restarts.push(event.delayMs)
            }))
        )
        yield* daemons.add(crasher)
        yield* drive(daemons.start(crasher.name))
        yield* until(Effect.sync(() => (restarts.length >= 2 ? restarts : undefined)), ms(30_000), "two restarts")
        expect(restarts.slice(0, 2)).toEqual([300 * scale, 600 * scale])
        yield* drive(daemons.stop(crasher.name))
      }).pipe(Effect.provide(manager), Effect.provide(options.layer)))

    test("gives up at the crash-loop limit and reports Failed", () =>
      Effect.gen(function*() {
        const daemons = yield* DaemonManager.DaemonManager
        const crasher = config(
          { exitAfterMs: 100 * scale, exitCode: 2 },
          {
            restart: {
              policy: "always",
              backoff: { initial: 100 * scale, multiplier: 1, jitter: 0 },
              crashLoop: { burst: 2, interval: 600_000 * scale }
            }
          }
        )
        if (daemons.adapter.restarts === "platform") {
          // The platform's own limit (systemd StartLimitBurst): Failed, and no more restarts.
          const handle = yield* daemons.adapter.install(crasher)
          yield* drive(Effect.ignore(daemons.adapter.start(handle)))
          const failed = yield* until(
            Effect.map(daemons.adapter.status(handle), (s) => (s.status._tag === "Failed" ? s : undefined)),
            ms(60_000),
            "the platform's crash-loop limit"
          )
          yield* pass(ms(1_000))
          expect((yield* daemons.adapter.status(handle)).restarts).toBe(failed.restarts)
          expect((yield* daemons.adapter.status(handle)).status._tag).toBe("Failed")
          return
        }
        yield* daemons.add(crasher)
        yield* drive(daemons.start(crasher.name))
        const failed = yield* until(
          Effect.map(daemons.get(crasher.name), (m) =>
            m.state.status._tag === "Failed" && m.state.status.reason.startsWith("crash loop") ? m : undefined),
          ms(30_000),
          "the crash-loop limit"
        )
        expect(failed.restarts).toBe(2)
        expect(failed.state.status).toMatchObject({ reason: expect.stringMatching(/^crash loop: 2 restarts within /) })
      }).pipe(Effect.provide(manager), Effect.provide(options.layer)))

    test("refuses a double start; a double stop does nothing", () =>
      withAdapter((adapter) =>
        Effect.gen(function*() {
          const handle = yield* adapter.install(config({}))
          yield* drive(adapter.start(handle))
          const error = yield* Effect.flip(drive(adapter.start(handle)))
          expect(error._tag).toBe("DaemonAlreadyRunning")
          yield* drive(adapter.stop(handle, ms(5_000)))
          yield* drive(adapter.stop(handle, ms(5_000)))
          expect((yield* adapter.status(handle)).status._tag).toBe("Stopped")
        })))

    test("reports a valid status in every phase", () =>
      withAdapter((adapter) =>
        Effect.gen(function*() {
          const handle = yield* adapter.install(config({ readyAfterMs: 1_500 * scale, shutdownMs: 1_500 * scale }))
          const seen: Array<string> = [(yield* adapter.status(handle)).status._tag]
          const starting = yield* Effect.fork(adapter.start(handle))
          yield* until(Effect.map(adapter.status(handle), (s) => (s.status._tag === "Starting" ? true : undefined)), ms(10_000), "Starting")
          seen.push("Starting")
          yield* drive(Fiber.join(starting))
          seen.push((yield* adapter.status(handle)).status._tag)
          const stopping = yield* Effect.fork(adapter.stop(handle, ms(10_000)))
          yield* until(Effect.map(adapter.status(handle), (s) => (s.status._tag === "Stopping" ? true : undefined)), ms(10_000), "Stopping")
          seen.push("Stopping")
          yield* drive(Fiber.join(stopping))
          seen.push((yield* adapter.status(handle)).status._tag)
          expect(seen).toEqual(["Created", "Starting", "Running", "Stopping", "Stopped"])
        })))

    test("honours the environment and the working directory", () =>
      withAdapter((adapter) =>
        Effect.gen(function*() {
          const handle = yield* adapter.install(
            config({}, { env: { DUENDE_TEST_ECHO: "a value with spaces" }, workingDirectory: options.workingDirectory })
          )
          yield* drive(adapter.start(handle))
          const lines = yield* until(
            Effect.map(adapter.logs(handle, { lines: 50 }), (logs) => {
              const texts = logs.map((l) => l.text)
              return texts.includes("echo=a value with spaces") && texts.some((t) => t.startsWith("cwd=")) ? texts : undefined
            }),
            ms(10_000),
            "the echo lines"
          )
          expect(lines).toContain(`cwd=${options.workingDirectory}`)
          yield* drive(adapter.stop(handle, ms(5_000)))
        })))

    test("delivers the daemon's output to its logs", () =>
      withAdapter((adapter) =>
        Effect.gen(function*() {
          const handle = yield* adapter.install(config({ lines: ["first line", "second line"] }))
          yield* drive(adapter.start(handle))
          const logs = yield* until(
            Effect.map(adapter.logs(handle, { lines: 50 }), (lines) =>
              lines.some((l) => l.text === "second line") ? lines : undefined),
            ms(10_000),
            "the lines"
          )
          const texts = logs.map((l) => l.text)
          expect(texts.indexOf("first line")).toBeLessThan(texts.indexOf("second line"))
          expect(logs.find((l) => l.text === "first line")?.stream).toBe("stdout")
          yield* drive(adapter.stop(handle, ms(5_000)))
        })))
  })
}

/**
 * The path of the contract's fixture daemon (`contract-daemon.mjs`): a real
 * Duende daemon that acts out the `DUENDE_TEST_*` behaviour in its environment.
 *
 * @example
 * ```ts
 * import * as AdapterContract from "@duende/testing/AdapterContract"
 *
 * const command = ["node", AdapterContract.fixture]
 * ```
 *
 * @since 0.1.0
 */
export const fixture: string = typeof __dirname === "string"
  ? join(__dirname, "..", "fixtures", "contract-daemon.mjs")
  : fileURLToPath(new URL("../fixtures/contract-daemon.mjs", import.meta.url))
